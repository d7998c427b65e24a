import Foundation
import GRDB
import TokentraCore
import UsageIndex

/// The storage of the rollup tables: reads and writes of `rollup_hourly`, `rollup_daily` and the
/// dirty (org, hour) marks the rollup runs consume, on the index's shared database handle.
///
/// The index (``UsageIndex/IndexDatabase``) keeps the connection, the migrations (the tables are
/// created by `v2-rollups`) and the segment catalog. Two writes of the catalog's own
/// transactions touch rollup bookkeeping and stay there: a seal or a reprice marks the hours it
/// changed dirty, and a compaction carries its inputs' unrolled hours over to its output
/// (``UsageIndex/IndexDatabase/commitCompaction(output:replacing:)``). Retention's prune, which
/// deletes old segments and old rollup rows in one transaction, is the index's too.
///
/// ```swift
/// let rollups = RollupStore(index)
/// let hourly = try rollups.rows(.hour, orgID: "org_a")
/// ```
public struct RollupStore: Sendable {
    /// The index whose database holds the rollup tables.
    public let index: IndexDatabase
    /// Wall-clock ms, for the marks a commit sets.
    let wallClock: @Sendable () -> Int64

    /// - Parameters:
    ///   - index: The index whose database holds the rollup tables.
    ///   - wallClock: The current time, ms since the epoch (the system clock by default).
    public init(_ index: IndexDatabase, wallClock: @escaping @Sendable () -> Int64 = SystemClock.wallClock) {
        self.index = index
        self.wallClock = wallClock
    }

    var writer: any DatabaseWriter { index.writer }

    // MARK: Rollup runs

    /// Reads the dirty marks and the segment catalog in one read transaction.
    public func snapshot() throws -> RollupSnapshot {
        try writer.read { db in
            let dirty = try Row.fetchAll(db, sql: "SELECT org_id, hour_start, marked_at, recompute FROM dirty_hours ORDER BY org_id, hour_start").map {
                DirtyMark(orgID: $0["org_id"], hourStart: $0["hour_start"], markedAt: $0["marked_at"], recompute: $0["recompute"])
            }
            let catalog = try IndexDatabase.catalog(db)
            return RollupSnapshot(dirty: dirty, segments: catalog.segments, maxSegmentID: catalog.maxSegmentID)
        }
    }

    /// The dirty (org, hour) buckets.
    public func dirtyHours() throws -> [DirtyHour] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT org_id, hour_start FROM dirty_hours ORDER BY org_id, hour_start").map {
                DirtyHour(orgID: $0["org_id"], hourStart: $0["hour_start"])
            }
        }
    }

    // MARK: Reading rollups

    /// Rollup rows of one granularity, ordered by org then bucket.
    /// - Parameters:
    ///   - granularity: Hourly or daily rows.
    ///   - orgID: Only this org, when given.
    ///   - fromMs: Only buckets starting at or after this instant (ms), when given.
    ///   - toMs: Only buckets starting before this instant (ms), when given.
    public func rows(_ granularity: RollupGranularity, orgID: String? = nil, fromMs: Int64? = nil, toMs: Int64? = nil) throws -> [RollupRow] {
        try writer.read { db in try Self.fetchRows(db, granularity, orgID: orgID, fromMs: fromMs, toMs: toMs) }
    }

    static func fetchRows(_ db: Database, _ g: RollupGranularity, orgID: String?, fromMs: Int64?, toMs: Int64?) throws -> [RollupRow] {
        var conditions: [String] = []
        var args: [any DatabaseValueConvertible] = []
        if let orgID {
            conditions.append("org_id = ?")
            args.append(orgID)
        }
        if let fromMs {
            conditions.append("\(g.keyColumn) >= ?")
            args.append(g == .hour ? fromMs.databaseValue : IndexDatabase.dayString(ceilDiv(fromMs, g.milliseconds) * g.milliseconds).databaseValue)
        }
        if let toMs {
            conditions.append("\(g.keyColumn) < ?")
            args.append(g == .hour ? toMs.databaseValue : IndexDatabase.dayString(ceilDiv(toMs, g.milliseconds) * g.milliseconds).databaseValue)
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
                guard let ms = IndexDatabase.dayStart(text) else {
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
        try rows(.hour, orgID: orgID, fromMs: dayStartMs, toMs: dayStartMs + 86_400_000).filter { !hours.contains($0.bucketStart) }
    }

    static func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a > 0) == (b > 0)) ? q + 1 : q
    }
}
