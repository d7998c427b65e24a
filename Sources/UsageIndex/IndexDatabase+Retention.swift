import GRDB

// Retention storage (migration "v4-retention"): the per-org policy rows, and the reads and the one
// deleting transaction the retention component (SegmentStore's `Retention`) plans and applies with.
// The rules (which policy is in force, where each horizon falls, which days are kept back) live there.

/// How long an org's data is kept, in days (raw events, hourly rollups, daily rollups).
public struct RetentionPolicy: Sendable, Equatable, Codable {
    public var rawDays: Int
    public var hourlyDays: Int
    public var dailyDays: Int

    public init(rawDays: Int, hourlyDays: Int, dailyDays: Int) {
        self.rawDays = rawDays
        self.hourlyDays = hourlyDays
        self.dailyDays = dailyDays
    }
}

/// One registered segment retention may delete.
public struct RetentionSegment: Sendable, Equatable {
    public var id: Int64
    public var file: String
    /// `YYYY-MM-DD`.
    public var day: String
    public var bytes: Int
    public var rows: Int
}

/// What an org holds before its horizons (read by ``IndexDatabase/retentionCandidates(orgID:rawBeforeMs:rawBeforeDay:hourlyBeforeMs:dailyBeforeDay:)``).
public struct RetentionCandidates: Sendable, Equatable {
    /// Segments of days before the raw horizon, by day and id.
    public var segments: [RetentionSegment] = []
    /// Hours before the raw horizon still waiting for a rollup.
    public var pendingHourStarts: [Int64] = []
    public var hourlyRows = 0
    public var dailyRows = 0
}

/// What one org loses in a retention run's transaction.
public struct RetentionDeletion: Sendable, Equatable {
    public var orgID: String
    /// Whole (org, UTC day) segment sets, `YYYY-MM-DD`.
    public var segmentDays: [String]
    public var hourlyBeforeMs: Int64
    public var dailyBeforeDay: String

    public init(orgID: String, segmentDays: [String], hourlyBeforeMs: Int64, dailyBeforeDay: String) {
        self.orgID = orgID
        self.segmentDays = segmentDays
        self.hourlyBeforeMs = hourlyBeforeMs
        self.dailyBeforeDay = dailyBeforeDay
    }
}

extension IndexDatabase {
    /// The org id of the default policy row.
    public static let defaultPolicyOrg = "*"

    static func createRetentionTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE retention_policies (
                org_id TEXT PRIMARY KEY,
                raw_days INTEGER NOT NULL CHECK (raw_days >= 1),
                hourly_days INTEGER NOT NULL CHECK (hourly_days >= 1),
                daily_days INTEGER NOT NULL CHECK (daily_days >= 1),
                updated_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            """)
    }

    /// Sets an org's policy (`org` = ``defaultPolicyOrg`` sets the default for every other org).
    public func setRetentionPolicy(_ policy: RetentionPolicy, orgID: String, now: Int64) throws {
        try writer.write { db in
            try db.execute(sql: """
                INSERT INTO retention_policies (org_id, raw_days, hourly_days, daily_days, updated_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT DO UPDATE SET raw_days = excluded.raw_days, hourly_days = excluded.hourly_days,
                    daily_days = excluded.daily_days, updated_at = excluded.updated_at
                """, arguments: [orgID, policy.rawDays, policy.hourlyDays, policy.dailyDays, now])
        }
    }

    /// Removes an org's own policy so the default applies again.
    public func clearRetentionPolicy(orgID: String) throws {
        try writer.write { db in try db.execute(sql: "DELETE FROM retention_policies WHERE org_id = ?", arguments: [orgID]) }
    }

    /// Every stored policy row, the `*` default included.
    public func retentionPolicies() throws -> [String: RetentionPolicy] {
        try writer.read { db in
            var out: [String: RetentionPolicy] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM retention_policies") {
                out[row["org_id"]] = RetentionPolicy(rawDays: row["raw_days"], hourlyDays: row["hourly_days"], dailyDays: row["daily_days"])
            }
            return out
        }
    }

    /// Every org with raw data, rollups or a policy of its own.
    public func retentionOrgIDs() throws -> [String] {
        try writer.read { db in
            try String.fetchAll(db, sql: """
                SELECT org_id FROM segments UNION SELECT org_id FROM rollup_hourly
                UNION SELECT org_id FROM rollup_daily
                UNION SELECT org_id FROM retention_policies WHERE org_id != '*'
                ORDER BY 1
                """)
        }
    }

    /// What `orgID` holds before the given horizons, in one read: segments of days before
    /// `rawBeforeDay`, dirty hours before `rawBeforeMs`, and the number of hourly rows before
    /// `hourlyBeforeMs` and daily rows before `dailyBeforeDay`.
    public func retentionCandidates(
        orgID: String, rawBeforeMs: Int64, rawBeforeDay: String, hourlyBeforeMs: Int64, dailyBeforeDay: String
    ) throws -> RetentionCandidates {
        try writer.read { db in
            var out = RetentionCandidates()
            out.pendingHourStarts = try Int64.fetchAll(
                db, sql: "SELECT hour_start FROM dirty_hours WHERE org_id = ? AND hour_start < ? ORDER BY hour_start",
                arguments: [orgID, rawBeforeMs])
            out.segments = try Row.fetchAll(
                db, sql: "SELECT id, file, bytes, rows, day FROM segments WHERE org_id = ? AND day < ? ORDER BY day, id",
                arguments: [orgID, rawBeforeDay]
            ).map { RetentionSegment(id: $0["id"], file: $0["file"], day: $0["day"], bytes: $0["bytes"], rows: $0["rows"]) }
            out.hourlyRows = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM rollup_hourly WHERE org_id = ? AND hour_start < ?",
                arguments: [orgID, hourlyBeforeMs]) ?? 0
            out.dailyRows = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM rollup_daily WHERE org_id = ? AND day < ?",
                arguments: [orgID, dailyBeforeDay]) ?? 0
            return out
        }
    }

    /// Applies a retention run in one transaction: unregisters the segments of the given days and
    /// deletes the rollup rows before the given horizons. The caller unlinks the files afterwards
    /// (a crash in between leaves unregistered files, which start-up recovery deletes). Whole days
    /// go, including a segment that a compaction registered for such a day after the plan was made.
    /// - Returns: the files unregistered (relative to the data directory).
    @discardableResult
    public func deleteRetained(_ deletions: [RetentionDeletion]) throws -> [String] {
        try writer.write { db in
            var files: [String] = []
            for d in deletions {
                for day in d.segmentDays {
                    files += try String.fetchAll(db, sql: "SELECT file FROM segments WHERE org_id = ? AND day = ?",
                                                 arguments: [d.orgID, day])
                    try db.execute(sql: "DELETE FROM segments WHERE org_id = ? AND day = ?", arguments: [d.orgID, day])
                }
                try db.execute(sql: "DELETE FROM rollup_hourly WHERE org_id = ? AND hour_start < ?",
                               arguments: [d.orgID, d.hourlyBeforeMs])
                try db.execute(sql: "DELETE FROM rollup_daily WHERE org_id = ? AND day < ?",
                               arguments: [d.orgID, d.dailyBeforeDay])
            }
            return files
        }
    }

    /// The oldest retained raw day, hourly bucket start and daily bucket of an org.
    public func oldestRetained(orgID: String) throws -> (rawDay: String?, hourStart: Int64?, day: String?) {
        try writer.read { db in
            (try String.fetchOne(db, sql: "SELECT MIN(day) FROM segments WHERE org_id = ?", arguments: [orgID]),
             try Int64.fetchOne(db, sql: "SELECT MIN(hour_start) FROM rollup_hourly WHERE org_id = ?", arguments: [orgID]),
             try String.fetchOne(db, sql: "SELECT MIN(day) FROM rollup_daily WHERE org_id = ?", arguments: [orgID]))
        }
    }
}

extension IndexDatabase {
    /// Marks a `job_runs` row finished successfully.
    public func finishJobRun(id: Int64, finishedAt: Int64, buckets: Int, events: Int, details: String?) throws {
        try writer.write { db in
            try db.execute(
                sql: "UPDATE job_runs SET finished_at = ?, buckets = ?, events = ?, details = ?, error = NULL WHERE id = ?",
                arguments: [finishedAt, buckets, events, details, id])
        }
    }
}
