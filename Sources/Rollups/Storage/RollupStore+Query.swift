import Foundation
import GRDB
import TokentraCore
import UsageIndex

// The reads usage queries make (Sources/Query): one org, a bucket range, and optionally without
// the `slices` blob (most of a row's bytes) when only the totals and the digests are needed.
extension RollupStore {
    /// The slices blob only for rows whose totals do not fit the SQL columns.
    static let slicesWhenNeeded = """
        CASE WHEN input_tokens IS NULL OR output_tokens IS NULL OR cached_tokens IS NULL OR total_tokens IS NULL
            OR input_cost IS NULL OR output_cost IS NULL OR cached_cost IS NULL OR total_cost IS NULL
            OR latency_sum_ms IS NULL OR ttft_sum_ms IS NULL THEN slices END
        """

    /// Rows of one org with bucket start in [fromMs, toMs) (day-aligned for `.day`), ordered by bucket.
    /// Without `slices`, a row's slices blob is only read when its totals are not all in the SQL columns.
    /// - Throws: ``RollupError`` (`corrupt`) for a malformed stored day, or a database error.
    public func rows(_ g: RollupGranularity, orgID: String, fromMs: Int64, toMs: Int64, slices: Bool) throws -> [RollupRow] {
        let sql = """
            SELECT \(g.keyColumn), request_count, error_count, cache_hit_count, unpriced_count,
                input_tokens, output_tokens, cached_tokens, total_tokens, input_cost, output_cost, cached_cost, total_cost,
                latency_sum_ms, ttft_count, ttft_sum_ms, latency_digest, \(slices ? "slices" : Self.slicesWhenNeeded), computed_at,
                latency_count, ttft_digest
            FROM \(g.table) WHERE org_id = ? AND \(g.keyColumn) >= ? AND \(g.keyColumn) < ? ORDER BY \(g.keyColumn)
            """
        let args: StatementArguments = g == .hour
            ? [orgID, fromMs, toMs]
            : [orgID, IndexDatabase.dayString(fromMs), IndexDatabase.dayString(toMs)]
        return try writer.read { db in
            let statement = try db.cachedStatement(sql: sql)
            let cursor = try Row.fetchCursor(statement, arguments: args)
            var out: [RollupRow] = []
            while let row = try cursor.next() {
                let bucket: Int64
                if g == .hour {
                    bucket = row[0]
                } else {
                    let text: String = row[0]
                    guard let ms = IndexDatabase.dayStart(text) else {
                        throw RollupError(.corrupt, "rollup_daily has a malformed day '\(text)'")
                    }
                    bucket = ms
                }
                func bytes(_ i: Int) -> [UInt8] {
                    guard let data = row[i] as Data? else { return [] }
                    return [UInt8](data)
                }
                out.append(RollupRow(
                    orgID: orgID, bucketStart: bucket, requestCount: row[1], errorCount: row[2], cacheHitCount: row[3],
                    unpricedCount: row[4], inputTokens: row[5], outputTokens: row[6], cachedTokens: row[7], totalTokens: row[8],
                    inputCost: row[9], outputCost: row[10], cachedCost: row[11], totalCost: row[12], latencySumMs: row[13],
                    ttftCount: row[14], ttftSumMs: row[15], latencyDigest: bytes(16), slices: bytes(17), computedAt: row[18],
                    latencyCount: row[19], ttftDigest: bytes(20)))
            }
            return out
        }
    }

    /// The days of an org with daily rollup rows in [fromDay, toDay] (`YYYY-MM-DD`).
    public func days(orgID: String, fromDay: String, toDay: String) throws -> [String] {
        try writer.read { db in
            try String.fetchAll(db, sql: "SELECT day FROM rollup_daily WHERE org_id = ? AND day >= ? AND day <= ?",
                                arguments: [orgID, fromDay, toDay])
        }
    }
}
