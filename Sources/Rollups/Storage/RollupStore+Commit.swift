import Foundation
import GRDB
import TokentraCore
import UsageIndex

// Writing a rollup run: the new rows, the processed dirty marks, the settled segments' unrolled
// hours (through the segment catalog's API) and the job run, in one transaction.
extension RollupStore {
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
    public func commit(
        _ updates: [RollupDayUpdate], marks: [DirtyMark], maxSegmentID: Int64,
        jobRun: (id: Int64, finishedAt: Int64, buckets: Int64, events: Int64, details: String)?
    ) throws {
        let wallClock = self.wallClock
        try writer.write { db in
            let unsettled = try Self.write(db, updates: updates)
            try Self.deleteMarks(db, marks: marks, maxSegmentID: maxSegmentID)
            try Self.markForRecompute(db, unsettled, now: wallClock)
            if let jobRun {
                try IndexDatabase.finishJobRun(db, id: jobRun.id, finishedAt: jobRun.finishedAt, buckets: jobRun.buckets,
                                               events: jobRun.events, details: jobRun.details)
            }
        }
    }

    /// Like ``commit(_:marks:maxSegmentID:jobRun:)``, but takes the day updates one at a time
    /// from `next` while the transaction is open, so writing overlaps computing. `next` blocks until
    /// an update is ready and returns `nil` after the last one; when it throws, the transaction is
    /// rolled back. `finish` gives the job run's counts once every update is written.
    ///
    /// Call it from a thread that may block (not from the cooperative thread pool).
    public func commit(
        marks: [DirtyMark], maxSegmentID: Int64, jobRunID: Int64?,
        next: () throws -> RollupDayUpdate?,
        finish: () -> (finishedAt: Int64, buckets: Int64, events: Int64, details: String)
    ) throws {
        let wallClock = self.wallClock
        try writer.write { db in
            var unsettled: [DirtyHour] = []
            while let update = try next() { unsettled += try Self.write(db, updates: [update]) }
            try Self.finishRun(db, marks: marks, maxSegmentID: maxSegmentID, unsettled: unsettled, jobRunID: jobRunID,
                               finish: finish, now: wallClock)
        }
    }

    /// Like ``commit(marks:maxSegmentID:jobRunID:next:finish:)``, but in several transactions: each
    /// takes one update from `next` (which may block, outside any transaction), then the updates
    /// `ready` has at once, for at most `slice`; the marks and the job run go in a last
    /// transaction. A crash in between leaves some days rewritten and every mark in place: the next
    /// run computes those days again, to the same rows.
    public func commit(
        marks: [DirtyMark], maxSegmentID: Int64, jobRunID: Int64?, slice: Duration,
        next: () throws -> RollupDayUpdate?, ready: () throws -> RollupDayUpdate??,
        finish: () -> (finishedAt: Int64, buckets: Int64, events: Int64, details: String)
    ) throws {
        let wallClock = self.wallClock
        var unsettled: [DirtyHour] = []
        var done = false
        while !done, let first = try next() {
            let opened = ContinuousClock.now
            try writer.write { db in
                unsettled += try Self.write(db, updates: [first])
                while ContinuousClock.now - opened < slice, let more = try ready() {
                    guard let update = more else {
                        done = true
                        break
                    }
                    unsettled += try Self.write(db, updates: [update])
                }
            }
        }
        try writer.write { db in
            try Self.finishRun(db, marks: marks, maxSegmentID: maxSegmentID, unsettled: unsettled, jobRunID: jobRunID,
                               finish: finish, now: wallClock)
        }
    }

    /// A run's last writes: its processed marks deleted, unsettled hours marked again, its job row finished.
    static func finishRun(
        _ db: Database, marks: [DirtyMark], maxSegmentID: Int64, unsettled: [DirtyHour], jobRunID: Int64?,
        finish: () -> (finishedAt: Int64, buckets: Int64, events: Int64, details: String), now: () -> Int64
    ) throws {
        try deleteMarks(db, marks: marks, maxSegmentID: maxSegmentID)
        try markForRecompute(db, unsettled, now: now)
        if let jobRunID {
            let f = finish()
            try IndexDatabase.finishJobRun(db, id: jobRunID, finishedAt: f.finishedAt, buckets: f.buckets,
                                           events: f.events, details: f.details)
        }
    }

    /// Writes the rows and clears the settled segments' unrolled bits.
    /// - Returns: the hours whose settled segments are gone (to be recomputed by the next run).
    static func write(_ db: Database, updates: [RollupDayUpdate]) throws -> [DirtyHour] {
        var unsettled: [DirtyHour] = []
        for u in updates where u.settledHours != 0 {
            var gone = false
            for id in u.settled {
                if try !IndexDatabase.clearUnrolledHours(db, segmentID: id, hours: u.settledHours) { gone = true }
            }
            if gone, let dayStart = IndexDatabase.dayStart(u.day) {
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
    static func markForRecompute(_ db: Database, _ hours: [DirtyHour], now: () -> Int64) throws {
        guard !hours.isEmpty else { return }
        let now = now()
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO dirty_hours (org_id, hour_start, marked_at, recompute) VALUES (?, ?, ?, 1)
            ON CONFLICT DO UPDATE SET recompute = 1, marked_at = MAX(marked_at, excluded.marked_at)
            """)
        for h in hours { try upsert.execute(arguments: [h.orgID, h.hourStart, now]) }
    }

    /// Deletes the processed marks that were not set again after the snapshot.
    static func deleteMarks(_ db: Database, marks: [DirtyMark], maxSegmentID: Int64) throws {
        struct OrgDay: Hashable {
            var orgID: String
            var day: String
        }
        // Segments registered after the snapshot, read in this transaction: their (org, day)
        // marks were set again.
        var registered = Set<OrgDay>()
        for s in try IndexDatabase.segmentDays(db, registeredAfter: maxSegmentID) {
            registered.insert(OrgDay(orgID: s.orgID, day: s.day))
        }
        let delete = try db.cachedStatement(sql: "DELETE FROM dirty_hours WHERE org_id = ? AND hour_start = ? AND marked_at <= ?")
        for m in marks where !registered.contains(OrgDay(orgID: m.orgID, day: IndexDatabase.dayString(m.hourStart))) {
            try delete.execute(arguments: [m.orgID, m.hourStart, m.markedAt])
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
}
