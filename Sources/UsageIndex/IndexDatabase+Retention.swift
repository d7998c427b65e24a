import GRDB

// Retention (migration "v4-retention"): per-org horizons for raw events, hourly and daily rollups.

/// How long an org's data is kept, in days. Seed 000 §22 defaults: raw 30, hourly 90, daily 365.
public struct RetentionPolicy: Sendable, Equatable, Codable {
    public var rawDays: Int
    public var hourlyDays: Int
    public var dailyDays: Int

    public init(rawDays: Int, hourlyDays: Int, dailyDays: Int) {
        self.rawDays = rawDays
        self.hourlyDays = hourlyDays
        self.dailyDays = dailyDays
    }

    /// The built-in defaults, used when neither the org nor the `*` default row is set.
    public static let builtIn = RetentionPolicy(rawDays: 30, hourlyDays: 90, dailyDays: 365)
}

/// What one org's retention run removed (or, dry, would remove).
public struct RetentionOutcome: Sendable, Equatable {
    public var orgID: String
    public var policy: RetentionPolicy
    public var segmentIDs: [Int64] = []
    public var segmentFiles: [String] = []
    /// The UTC days (`YYYY-MM-DD`) whose raw segments go.
    public var segmentDays: [String] = []
    public var bytes: Int = 0
    public var rawEvents: Int = 0
    public var hourlyRows: Int = 0
    public var dailyRows: Int = 0
    /// Days kept back because they still have hours waiting for a rollup.
    public var pendingRollupDays: [String] = []
    public var rawCutoffDay: String
    public var hourlyCutoffMs: Int64
    public var dailyCutoffDay: String
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

    /// The policy in force for an org: its own, else the `*` default, else ``RetentionPolicy/builtIn``.
    public func effectiveRetentionPolicy(orgID: String) throws -> RetentionPolicy {
        let all = try retentionPolicies()
        return all[orgID] ?? all[Self.defaultPolicyOrg] ?? .builtIn
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

    /// Works out what retention removes for `orgID` at `now` (nothing is changed).
    ///
    /// Raw data is removed by whole (org, UTC day) segments: days before the UTC day that was
    /// `rawDays` days before `now`. Hourly rows before the UTC day `hourlyDays` ago, daily rows
    /// before the UTC day `dailyDays` ago. A raw day that still has hours waiting for a rollup is
    /// kept back (so deleting raw data never loses an event from the rollups) and reported.
    public func planRetention(orgID: String, now: Int64) throws -> RetentionOutcome {
        let policy = try effectiveRetentionPolicy(orgID: orgID)
        let dayMs: Int64 = 86_400_000
        let today = Self.floorDay(now)
        let rawCutoff = today - Int64(policy.rawDays) * dayMs
        let hourlyCutoff = today - Int64(policy.hourlyDays) * dayMs
        let dailyCutoff = today - Int64(policy.dailyDays) * dayMs
        var outcome = RetentionOutcome(
            orgID: orgID, policy: policy, rawCutoffDay: Self.dayString(rawCutoff), hourlyCutoffMs: hourlyCutoff,
            dailyCutoffDay: Self.dayString(dailyCutoff))
        try writer.read { db in
            let pendingDays = Set(try Int64.fetchAll(
                db, sql: "SELECT hour_start FROM dirty_hours WHERE org_id = ? AND hour_start < ?",
                arguments: [orgID, rawCutoff]).map { Self.dayString(Self.floorDay($0)) })
            outcome.pendingRollupDays = pendingDays.sorted()
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, file, bytes, rows, day FROM segments WHERE org_id = ? AND day < ? ORDER BY day, id",
                arguments: [orgID, outcome.rawCutoffDay])
            for row in rows where !pendingDays.contains(row["day"] as String) {
                outcome.segmentIDs.append(row["id"])
                outcome.segmentFiles.append(row["file"])
                let day: String = row["day"]
                if outcome.segmentDays.last != day { outcome.segmentDays.append(day) }
                outcome.bytes += row["bytes"] as Int
                outcome.rawEvents += row["rows"] as Int
            }
            outcome.hourlyRows = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM rollup_hourly WHERE org_id = ? AND hour_start < ?",
                arguments: [orgID, hourlyCutoff]) ?? 0
            outcome.dailyRows = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM rollup_daily WHERE org_id = ? AND day < ?",
                arguments: [orgID, outcome.dailyCutoffDay]) ?? 0
        }
        return outcome
    }

    /// Applies planned outcomes in one transaction: unregisters the segments and deletes the
    /// rollup rows. The caller unlinks the files afterwards (a crash in between leaves unregistered
    /// files, which start-up recovery deletes). Whole planned days go, including a segment that a
    /// compaction registered for such a day after the plan was made.
    /// - Returns: the files unregistered (relative to the data directory).
    @discardableResult
    public func applyRetention(_ outcomes: [RetentionOutcome]) throws -> [String] {
        try writer.write { db in
            var files: [String] = []
            for o in outcomes {
                for day in o.segmentDays {
                    files += try String.fetchAll(db, sql: "SELECT file FROM segments WHERE org_id = ? AND day = ?",
                                                 arguments: [o.orgID, day])
                    try db.execute(sql: "DELETE FROM segments WHERE org_id = ? AND day = ?", arguments: [o.orgID, day])
                }
                try db.execute(sql: "DELETE FROM rollup_hourly WHERE org_id = ? AND hour_start < ?",
                               arguments: [o.orgID, o.hourlyCutoffMs])
                try db.execute(sql: "DELETE FROM rollup_daily WHERE org_id = ? AND day < ?",
                               arguments: [o.orgID, o.dailyCutoffDay])
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

    static func floorDay(_ ms: Int64) -> Int64 {
        let d: Int64 = 86_400_000
        let q = ms / d
        return (ms % d != 0 && ms < 0 ? q - 1 : q) * d
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
