import GRDB

// The `job_runs` table (migration "v2-rollups"): one row per run of a background job (rollups,
// retention), shared by the modules that run them.

/// One row of `job_runs`.
public struct JobRun: Sendable, Equatable {
    public var id: Int64
    public var job: String
    /// Wall-clock ms.
    public var startedAt: Int64
    /// Wall-clock ms; `nil` while running, or when the process died during the run.
    public var finishedAt: Int64?
    /// Buckets (hours + days) written.
    public var buckets: Int64
    /// Events aggregated.
    public var events: Int64
    /// Why the run failed; `nil` on success.
    public var error: String?
    /// A small JSON object with job-specific details.
    public var details: String?

    /// Whether the run finished without an error.
    public var succeeded: Bool { finishedAt != nil && error == nil }
}

extension IndexDatabase {
    /// Records the start of a job run.
    /// - Returns: The new row's id.
    public func startJobRun(job: String, startedAt: Int64) throws -> Int64 {
        try writer.write { db in
            try db.execute(sql: "INSERT INTO job_runs (job, started_at) VALUES (?, ?)", arguments: [job, startedAt])
            return db.lastInsertedRowID
        }
    }

    /// Records that a job run failed.
    public func failJobRun(id: Int64, finishedAt: Int64, error: String) throws {
        try writer.write { db in
            try db.execute(sql: "UPDATE job_runs SET finished_at = ?, error = ? WHERE id = ?", arguments: [finishedAt, error, id])
        }
    }

    /// The most recent run of `job` that finished without an error (for `/readyz` freshness).
    public func lastSuccessfulJobRun(job: String) throws -> JobRun? {
        try writer.read { db in
            try Row.fetchOne(db, sql: """
                SELECT * FROM job_runs WHERE job = ? AND finished_at IS NOT NULL AND error IS NULL
                ORDER BY finished_at DESC, id DESC LIMIT 1
                """, arguments: [job]).map(Self.jobRun)
        }
    }

    /// The most recent runs of `job`, newest first.
    public func jobRuns(job: String, limit: Int = 20) throws -> [JobRun] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT ?", arguments: [job, limit])
                .map(Self.jobRun)
        }
    }

    static func jobRun(_ row: Row) -> JobRun {
        JobRun(id: row["id"], job: row["job"], startedAt: row["started_at"], finishedAt: row["finished_at"],
               buckets: row["buckets"], events: row["events"], error: row["error"], details: row["details"])
    }

    /// Marks a `job_runs` row finished successfully, inside the caller's write transaction (a job
    /// that commits its result and its run together).
    public static func finishJobRun(_ db: Database, id: Int64, finishedAt: Int64, buckets: Int64, events: Int64,
                                    details: String?) throws {
        try db.execute(
            sql: "UPDATE job_runs SET finished_at = ?, buckets = ?, events = ?, details = ?, error = NULL WHERE id = ?",
            arguments: [finishedAt, buckets, events, details, id])
    }
}
