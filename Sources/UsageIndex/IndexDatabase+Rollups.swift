import Foundation
import GRDB
import TokentraCore

// The rollup tables (migration "v2-rollups"): hourly and daily rollup rows, and the job_runs
// bookkeeping table. The layout of the `slices` and digest blobs is owned by the Rollups module
// and documented in schema/rollups.md; this file only stores and fetches them.

/// Bucket size of a rollup table.
public enum RollupGranularity: String, Sendable, CaseIterable, Codable {
    /// `rollup_hourly`, keyed by the start of the UTC hour (ms since the epoch).
    case hour
    /// `rollup_daily`, keyed by the UTC day (`YYYY-MM-DD`).
    case day

    /// Length of one bucket in milliseconds.
    public var milliseconds: Int64 { self == .hour ? 3_600_000 : 86_400_000 }

    var table: String { self == .hour ? "rollup_hourly" : "rollup_daily" }
    var keyColumn: String { self == .hour ? "hour_start" : "day" }
}

/// One stored rollup bucket: an (org, UTC hour) or (org, UTC day).
///
/// The SQL columns are the bucket's totals, for convenience (plain SQL sums); a total that does not
/// fit a 64-bit integer is `nil` (SQL NULL) and the exact value is the sum of the bucket's
/// slices (Int128 in the `slices` blob). ``latencyDigest`` and ``slices`` are opaque here; the
/// Rollups module encodes and decodes them (schema/rollups.md).
public struct RollupRow: Sendable, Equatable {
    public var orgID: String
    /// Start of the bucket, ms since the epoch (UTC hour or UTC day start).
    public var bucketStart: Int64
    public var requestCount: Int64
    public var errorCount: Int64
    public var cacheHitCount: Int64
    /// Events whose costs are 0 because no price was known.
    public var unpricedCount: Int64
    public var inputTokens: Int64?
    public var outputTokens: Int64?
    public var cachedTokens: Int64?
    public var totalTokens: Int64?
    /// Costs in units of 1e-10 USD (exact).
    public var inputCost: Int64?
    public var outputCost: Int64?
    public var cachedCost: Int64?
    public var totalCost: Int64?
    /// Sum of latency_ms over the bucket's events that reported one.
    public var latencySumMs: Int64?
    /// Events that reported a latency; `nil` in rows written before latencies could be absent
    /// (every event then had one: the request count).
    public var latencyCount: Int64?
    /// Events that reported a time to first token, and the sum of those times.
    public var ttftCount: Int64
    public var ttftSumMs: Int64?
    /// The bucket's latency digest (Rollups digest encoding).
    public var latencyDigest: [UInt8]
    /// The bucket's time-to-first-token digest; empty in rows written before it existed.
    public var ttftDigest: [UInt8]
    /// Every dimension slice of the bucket (Rollups slices encoding).
    public var slices: [UInt8]
    /// Wall-clock ms when the row was computed.
    public var computedAt: Int64

    public init(
        orgID: String, bucketStart: Int64, requestCount: Int64, errorCount: Int64, cacheHitCount: Int64,
        unpricedCount: Int64, inputTokens: Int64?, outputTokens: Int64?, cachedTokens: Int64?, totalTokens: Int64?,
        inputCost: Int64?, outputCost: Int64?, cachedCost: Int64?, totalCost: Int64?, latencySumMs: Int64?,
        ttftCount: Int64, ttftSumMs: Int64?, latencyDigest: [UInt8], slices: [UInt8], computedAt: Int64,
        latencyCount: Int64? = nil, ttftDigest: [UInt8] = []
    ) {
        self.orgID = orgID
        self.bucketStart = bucketStart
        self.requestCount = requestCount
        self.errorCount = errorCount
        self.cacheHitCount = cacheHitCount
        self.unpricedCount = unpricedCount
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedTokens = cachedTokens
        self.totalTokens = totalTokens
        self.inputCost = inputCost
        self.outputCost = outputCost
        self.cachedCost = cachedCost
        self.totalCost = totalCost
        self.latencySumMs = latencySumMs
        self.ttftCount = ttftCount
        self.ttftSumMs = ttftSumMs
        self.latencyDigest = latencyDigest
        self.latencyCount = latencyCount
        self.ttftDigest = ttftDigest
        self.slices = slices
        self.computedAt = computedAt
    }
}

/// A dirty (org, hour) mark as read at the start of a rollup run.
public struct DirtyMark: Sendable, Hashable {
    public var orgID: String
    public var hourStart: Int64
    public var markedAt: Int64
    /// The hour must be recomputed from all its segments: folding the unrolled segments' events
    /// into its stored row is not enough (an index from before folding, or a compaction that
    /// replaced segments a rollup run was folding).
    public var recompute: Bool
    public init(orgID: String, hourStart: Int64, markedAt: Int64, recompute: Bool = true) {
        self.orgID = orgID
        self.hourStart = hourStart
        self.markedAt = markedAt
        self.recompute = recompute
    }
}

/// What a rollup run reads before computing: the dirty marks and the segment catalog, from one
/// consistent snapshot of the index.
public struct RollupSnapshot: Sendable {
    public var dirty: [DirtyMark]
    public var segments: [SegmentRecord]
    /// The largest segment id in the snapshot (0 when there is none). A segment registered later has
    /// a larger id, and its dirty marks must survive this run.
    public var maxSegmentID: Int64
}

/// The rows a rollup run replaces for one (org, UTC day), written by ``IndexDatabase/commitRollup(_:marks:maxSegmentID:jobRun:)``.
public struct RollupDayUpdate: Sendable {
    public var orgID: String
    /// `YYYY-MM-DD`.
    public var day: String
    /// The hours recomputed (their old rows are deleted), ms since the epoch.
    public var hours: [Int64]
    /// The new rows of those hours (hours without events have none).
    public var hourly: [RollupRow]
    /// Whether the daily row is replaced (else it is left as it is).
    public var replacesDay: Bool
    /// The new daily row (`nil`: the day has no events, its row is deleted).
    public var daily: RollupRow?
    /// Segments whose events of `settledHours` are now in the rollups: their
    /// ``SegmentRecord/unrolledHours`` bits are cleared. If one of them is gone when the run
    /// commits (compaction replaced it), those hours are marked for recomputation.
    public var settled: [Int64]
    /// Hour bits (0 = the day's first UTC hour) the run processed.
    public var settledHours: UInt32

    public init(orgID: String, day: String, hours: [Int64], hourly: [RollupRow], replacesDay: Bool, daily: RollupRow?,
                settled: [Int64] = [], settledHours: UInt32 = 0) {
        self.orgID = orgID
        self.day = day
        self.hours = hours
        self.hourly = hourly
        self.replacesDay = replacesDay
        self.daily = daily
        self.settled = settled
        self.settledHours = settledHours
    }
}

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
    /// The body of migration `v6-latency-count`: how many events of a bucket reported a latency
    /// (NULL in older rows, where all did) and the bucket's time-to-first-token digest.
    static func addLatencyCountAndTTFTDigest(_ db: Database) throws {
        for table in ["rollup_hourly", "rollup_daily"] {
            try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN latency_count INTEGER")
            try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN ttft_digest BLOB")
        }
    }

    /// The body of migration `v2-rollups` (registered by ``migrator``; append-only, never edited).
    static func createRollupTables(_ db: Database) throws {
        for table in ["rollup_hourly", "rollup_daily"] {
            let key = table == "rollup_hourly" ? "hour_start INTEGER NOT NULL" : "day TEXT NOT NULL"
            let keyName = table == "rollup_hourly" ? "hour_start" : "day"
            try db.execute(sql: """
                CREATE TABLE \(table) (
                    org_id TEXT NOT NULL,
                    \(key),
                    request_count INTEGER NOT NULL,
                    error_count INTEGER NOT NULL,
                    cache_hit_count INTEGER NOT NULL,
                    unpriced_count INTEGER NOT NULL,
                    input_tokens INTEGER,
                    output_tokens INTEGER,
                    cached_tokens INTEGER,
                    total_tokens INTEGER,
                    input_cost INTEGER,
                    output_cost INTEGER,
                    cached_cost INTEGER,
                    total_cost INTEGER,
                    latency_sum_ms INTEGER,
                    ttft_count INTEGER NOT NULL,
                    ttft_sum_ms INTEGER,
                    latency_digest BLOB NOT NULL,
                    slices BLOB NOT NULL,
                    computed_at INTEGER NOT NULL,
                    PRIMARY KEY (org_id, \(keyName))
                );
                """)
        }
        try db.execute(sql: """
            CREATE TABLE job_runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job TEXT NOT NULL,
                started_at INTEGER NOT NULL,
                finished_at INTEGER,
                buckets INTEGER NOT NULL DEFAULT 0,
                events INTEGER NOT NULL DEFAULT 0,
                error TEXT,
                details TEXT
            );
            CREATE INDEX job_runs_job ON job_runs(job, id);
            """)
    }

    // MARK: Rollup runs

    /// Reads the dirty marks and the segment catalog in one read transaction.
    public func rollupSnapshot() throws -> RollupSnapshot {
        try writer.read { db in
            let dirty = try Row.fetchAll(db, sql: "SELECT org_id, hour_start, marked_at, recompute FROM dirty_hours ORDER BY org_id, hour_start").map {
                DirtyMark(orgID: $0["org_id"], hourStart: $0["hour_start"], markedAt: $0["marked_at"], recompute: $0["recompute"])
            }
            let segments = try SegmentRecord.order(SegmentRecord.Columns.orgID, SegmentRecord.Columns.day, Column("id")).fetchAll(db)
            let maxID = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM segments") ?? 0
            return RollupSnapshot(dirty: dirty, segments: segments, maxSegmentID: maxID)
        }
    }

    /// Writes the result of a rollup run in one transaction: for each day update, deletes the old
    /// rows of the recomputed hours (and the day), inserts the new ones, then deletes the dirty
    /// marks the run processed, and marks the job run finished.
    ///
    /// A mark is deleted only when it was not set again after the snapshot: its `marked_at` is not
    /// newer than the one the run read, and no segment of its (org, day) was registered after the
    /// snapshot (``RollupSnapshot/maxSegmentID``). Otherwise it stays for the next run.
    /// - Parameters:
    ///   - updates: The recomputed days.
    ///   - marks: The dirty marks the run processed, as read in the snapshot.
    ///   - maxSegmentID: ``RollupSnapshot/maxSegmentID`` of the run's snapshot.
    ///   - jobRun: The `job_runs` row to finish, with its counts and details.
    /// - Throws: a GRDB `DatabaseError`; then nothing of the run is written.
    public func commitRollup(
        _ updates: [RollupDayUpdate], marks: [DirtyMark], maxSegmentID: Int64,
        jobRun: (id: Int64, finishedAt: Int64, buckets: Int64, events: Int64, details: String)?
    ) throws {
        try writer.write { db in
            let unsettled = try Self.writeRollup(db, updates: updates)
            try Self.deleteMarks(db, marks: marks, maxSegmentID: maxSegmentID)
            try Self.markForRecompute(db, unsettled)
            if let jobRun {
                try db.execute(
                    sql: "UPDATE job_runs SET finished_at = ?, buckets = ?, events = ?, details = ?, error = NULL WHERE id = ?",
                    arguments: [jobRun.finishedAt, jobRun.buckets, jobRun.events, jobRun.details, jobRun.id])
            }
        }
    }

    /// Like ``commitRollup(_:marks:maxSegmentID:jobRun:)``, but takes the day updates one at a time
    /// from `next` while the transaction is open, so writing overlaps computing. `next` blocks until
    /// an update is ready and returns `nil` after the last one; when it throws, the transaction is
    /// rolled back. `finish` gives the job run's counts once every update is written.
    ///
    /// Call it from a thread that may block (not from the cooperative thread pool).
    public func commitRollup(
        marks: [DirtyMark], maxSegmentID: Int64, jobRunID: Int64?,
        next: () throws -> RollupDayUpdate?,
        finish: () -> (finishedAt: Int64, buckets: Int64, events: Int64, details: String)
    ) throws {
        try writer.write { db in
            var unsettled: [DirtyHour] = []
            while let update = try next() { unsettled += try Self.writeRollup(db, updates: [update]) }
            try Self.deleteMarks(db, marks: marks, maxSegmentID: maxSegmentID)
            try Self.markForRecompute(db, unsettled)
            if let jobRunID {
                let f = finish()
                try db.execute(
                    sql: "UPDATE job_runs SET finished_at = ?, buckets = ?, events = ?, details = ?, error = NULL WHERE id = ?",
                    arguments: [f.finishedAt, f.buckets, f.events, f.details, jobRunID])
            }
        }
    }

    /// Whether writes may overlap reads from other threads (a `DatabasePool`, WAL mode).
    public var supportsConcurrentReads: Bool { writer is DatabasePool }

    /// Writes the rows and clears the settled segments' unrolled bits.
    /// - Returns: the hours whose settled segments are gone (to be recomputed by the next run).
    static func writeRollup(_ db: Database, updates: [RollupDayUpdate]) throws -> [DirtyHour] {
        let settle = try db.cachedStatement(sql: "UPDATE segments SET unrolled_hours = unrolled_hours & ~? WHERE id = ?")
        var unsettled: [DirtyHour] = []
        for u in updates where u.settledHours != 0 {
            var gone = false
            for id in u.settled {
                try settle.execute(arguments: [Int64(u.settledHours), id])
                if db.changesCount == 0 { gone = true }
            }
            if gone, let dayStart = dayStart(u.day) {
                for h in 0..<24 where u.settledHours & (1 << UInt32(h)) != 0 {
                    unsettled.append(DirtyHour(orgID: u.orgID, hourStart: dayStart + Int64(h) * 3_600_000))
                }
            }
        }
        let deleteHour = try db.cachedStatement(sql: "DELETE FROM rollup_hourly WHERE org_id = ? AND hour_start = ?")
        let deleteDay = try db.cachedStatement(sql: "DELETE FROM rollup_daily WHERE org_id = ? AND day = ?")
        let insertHour = try db.cachedStatement(sql: insertSQL(.hour))
        let insertDay = try db.cachedStatement(sql: insertSQL(.day))
        for u in updates {
            for h in u.hours { try deleteHour.execute(arguments: [u.orgID, h]) }
            for row in u.hourly { try insertHour.execute(arguments: arguments(row, key: row.bucketStart.databaseValue)) }
            if u.replacesDay {
                try deleteDay.execute(arguments: [u.orgID, u.day])
                if let row = u.daily { try insertDay.execute(arguments: arguments(row, key: u.day.databaseValue)) }
            }
        }
        return unsettled
    }

    /// Marks `hours` for recomputation from all their segments (after the marks a run processed
    /// are deleted, so these survive it).
    static func markForRecompute(_ db: Database, _ hours: [DirtyHour]) throws {
        guard !hours.isEmpty else { return }
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO dirty_hours (org_id, hour_start, marked_at, recompute) VALUES (?, ?, ?, 1)
            ON CONFLICT DO UPDATE SET recompute = 1, marked_at = MAX(marked_at, excluded.marked_at)
            """)
        for h in hours { try upsert.execute(arguments: [h.orgID, h.hourStart, now]) }
    }

    static func deleteMarks(_ db: Database, marks: [DirtyMark], maxSegmentID: Int64) throws {
        let delete = try db.cachedStatement(sql: """
            DELETE FROM dirty_hours
            WHERE org_id = ? AND hour_start = ? AND marked_at <= ?
              AND NOT EXISTS (SELECT 1 FROM segments WHERE segments.org_id = ? AND segments.day = ? AND segments.id > ?)
            """)
        for m in marks {
            try delete.execute(arguments: [m.orgID, m.hourStart, m.markedAt, m.orgID, dayString(m.hourStart), maxSegmentID])
        }
    }

    static func insertSQL(_ g: RollupGranularity) -> String {
        """
        INSERT INTO \(g.table) (org_id, \(g.keyColumn), request_count, error_count, cache_hit_count, unpriced_count,
            input_tokens, output_tokens, cached_tokens, total_tokens, input_cost, output_cost, cached_cost, total_cost,
            latency_sum_ms, ttft_count, ttft_sum_ms, latency_digest, slices, computed_at, latency_count, ttft_digest)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    }

    static func arguments(_ r: RollupRow, key: DatabaseValue) -> StatementArguments {
        var values: [DatabaseValue] = []
        values.reserveCapacity(20)
        values.append(r.orgID.databaseValue)
        values.append(key)
        for v: Int64 in [r.requestCount, r.errorCount, r.cacheHitCount, r.unpricedCount] { values.append(v.databaseValue) }
        let optionals: [Int64?] = [r.inputTokens, r.outputTokens, r.cachedTokens, r.totalTokens,
                                   r.inputCost, r.outputCost, r.cachedCost, r.totalCost, r.latencySumMs]
        for v in optionals { values.append(v.databaseValue) }
        values.append(r.ttftCount.databaseValue)
        values.append(r.ttftSumMs.databaseValue)
        values.append(Data(r.latencyDigest).databaseValue)
        values.append(Data(r.slices).databaseValue)
        values.append(r.computedAt.databaseValue)
        values.append(r.latencyCount.databaseValue)
        values.append(Data(r.ttftDigest).databaseValue)
        return StatementArguments(values)
    }

    // MARK: Reading rollups

    /// Rollup rows of one granularity, ordered by org then bucket.
    /// - Parameters:
    ///   - granularity: Hourly or daily rows.
    ///   - orgID: Only this org, when given.
    ///   - fromMs: Only buckets starting at or after this instant (ms), when given.
    ///   - toMs: Only buckets starting before this instant (ms), when given.
    public func rollupRows(_ granularity: RollupGranularity, orgID: String? = nil, fromMs: Int64? = nil, toMs: Int64? = nil) throws -> [RollupRow] {
        try writer.read { db in try Self.fetchRollupRows(db, granularity, orgID: orgID, fromMs: fromMs, toMs: toMs) }
    }

    static func fetchRollupRows(_ db: Database, _ g: RollupGranularity, orgID: String?, fromMs: Int64?, toMs: Int64?) throws -> [RollupRow] {
        var conditions: [String] = []
        var args: [any DatabaseValueConvertible] = []
        if let orgID {
            conditions.append("org_id = ?")
            args.append(orgID)
        }
        if let fromMs {
            conditions.append("\(g.keyColumn) >= ?")
            args.append(g == .hour ? fromMs.databaseValue : dayString(ceilDiv(fromMs, g.milliseconds) * g.milliseconds).databaseValue)
        }
        if let toMs {
            conditions.append("\(g.keyColumn) < ?")
            args.append(g == .hour ? toMs.databaseValue : dayString(ceilDiv(toMs, g.milliseconds) * g.milliseconds).databaseValue)
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = """
            SELECT org_id, \(g.keyColumn) AS bucket, request_count, error_count, cache_hit_count, unpriced_count,
                input_tokens, output_tokens, cached_tokens, total_tokens, input_cost, output_cost, cached_cost, total_cost,
                latency_sum_ms, ttft_count, ttft_sum_ms, latency_digest, slices, computed_at, latency_count, ttft_digest
            FROM \(g.table) \(filter) ORDER BY org_id, \(g.keyColumn)
            """
        let rows = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(args))
        var out: [RollupRow] = []
        while let row = try rows.next() {
            let bucket: Int64
            if g == .hour {
                bucket = row["bucket"]
            } else {
                let text: String = row["bucket"]
                guard let ms = dayStart(text) else {
                    throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "rollup_daily has a malformed day '\(text)'")
                }
                bucket = ms
            }
            out.append(RollupRow(
                orgID: row["org_id"], bucketStart: bucket, requestCount: row["request_count"],
                errorCount: row["error_count"], cacheHitCount: row["cache_hit_count"], unpricedCount: row["unpriced_count"],
                inputTokens: row["input_tokens"], outputTokens: row["output_tokens"], cachedTokens: row["cached_tokens"],
                totalTokens: row["total_tokens"], inputCost: row["input_cost"], outputCost: row["output_cost"],
                cachedCost: row["cached_cost"], totalCost: row["total_cost"], latencySumMs: row["latency_sum_ms"],
                ttftCount: row["ttft_count"], ttftSumMs: row["ttft_sum_ms"],
                latencyDigest: [UInt8](row["latency_digest"] as Data), slices: [UInt8](row["slices"] as Data),
                computedAt: row["computed_at"], latencyCount: row["latency_count"],
                ttftDigest: (row["ttft_digest"] as Data?).map { [UInt8]($0) } ?? []))
        }
        return out
    }

    /// The hourly rows of one (org, UTC day), excluding the given hours.
    public func hourlyRows(orgID: String, dayStartMs: Int64, excluding hours: Set<Int64>) throws -> [RollupRow] {
        try rollupRows(.hour, orgID: orgID, fromMs: dayStartMs, toMs: dayStartMs + 86_400_000).filter { !hours.contains($0.bucketStart) }
    }

    // MARK: Job runs

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

    // MARK: Day helpers

    static func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a > 0) == (b > 0)) ? q + 1 : q
    }

    /// `YYYY-MM-DD` of the UTC day containing `ms`.
    public static func dayString(_ ms: Int64) -> String {
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let (y, m, d) = UTCTimestamp.civilFromDays(days)
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// The start (ms) of a `YYYY-MM-DD` UTC day, or `nil` when the text is not such a date.
    public static func dayStart(_ text: String) -> Int64? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]), (1...12).contains(m), (1...31).contains(d)
        else { return nil }
        let days = UTCTimestamp.daysFromCivil(year: y, month: m, day: d)
        guard UTCTimestamp.civilFromDays(days) == (y, m, d) else { return nil }
        return days * 86_400_000
    }
}
