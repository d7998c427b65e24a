import TDigest
import TokentraCore
import UsageIndex

/// The seed's `usage_hourly` / `usage_daily` rows: one per (org, bucket, provider, model), written as
/// NDJSON or CSV by `tokentra rollup export`.
///
/// Counts, tokens and costs are exact (costs as exact decimals); latency percentiles come from the
/// slice's t-digest (merged, never averaged, for days) with the digest's definition: the value at
/// rank ⌈q·n⌉ (the inverse empirical CDF; the midpoint of two values when q·n is an integer), exact
/// while a digest holds every value (≤ 200), not `PERCENTILE_CONT`'s interpolation between
/// neighbours (see schema/rollups.md); `by_feature`, `by_team` and
/// `by_environment` map each value (absent values under `"(none)"`) to `{"requests":n,"cost":c}`.
public enum RollupExport {
    /// Column names, in output order.
    public static let fields: [String] = [
        "org_id", "bucket", "provider", "model", "request_count", "error_count", "cache_hit_count",
        "input_tokens", "output_tokens", "cached_tokens", "total_tokens", "input_cost", "output_cost", "cached_cost",
        "total_cost", "latency_count", "avg_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms",
        "ttft_count", "avg_ttft_ms", "p50_ttft_ms", "p95_ttft_ms", "p99_ttft_ms",
        "by_feature", "by_team", "by_environment",
    ]

    /// The CSV header line (no newline).
    public static var csvHeader: String { fields.joined(separator: ",") }

    /// The bucket label: `2026-11-01T05:00:00Z` for hours, `2026-11-01` for days.
    public static func bucketLabel(_ start: Int64, granularity: RollupGranularity) -> String {
        if granularity == .day { return IndexDatabase.dayString(start) }
        let text = UTCTimestamp.format(start)  // 2026-11-01T05:00:00.000Z
        return String(text.dropLast(5)) + "Z"
    }

    /// Exact decimal text of an amount in 1e-10 USD units.
    public static func money(_ units: Int128) -> String { MoneySum(units).description }

    /// A `Double` as JSON/CSV text: integers without a fraction, others with up to 3 decimals.
    public static func number(_ x: Double) -> String { JSONNumber.format(x) ?? "null" }

    /// The values of one row, as (JSON text, CSV text) pairs in ``fields`` order.
    static func values(_ b: RollupBucket, _ s: RollupSlice, granularity: RollupGranularity) -> [(json: String, csv: String)] {
        let m = s.measures
        var out: [(String, String)] = []
        func string(_ v: String) {
            var j = ""
            EventExport.appendJSONString(v, to: &j)
            out.append((j, EventExport.csvField(v)))
        }
        func raw(_ v: String) { out.append((v, v)) }
        string(b.orgID)
        string(bucketLabel(b.bucketStart, granularity: granularity))
        string(s.key.provider)
        string(s.key.value ?? "")
        raw(String(m.requests))
        raw(String(m.errors))
        raw(String(m.cacheHits))
        raw(String(m.inputTokens))
        raw(String(m.outputTokens))
        raw(String(m.cachedTokens))
        raw(String(m.totalTokens))
        raw(money(m.inputCost))
        raw(money(m.outputCost))
        raw(money(m.cachedCost))
        raw(money(m.totalCost))
        raw(String(m.latencyCount))
        raw(m.averageLatencyMs.map(number) ?? "null")
        let qs = s.latency.quantiles([0.5, 0.95, 0.99]) ?? []
        for i in 0..<3 { raw(i < qs.count ? number(qs[i]) : "null") }
        raw(String(m.ttftCount))
        raw(m.averageTTFTMs.map(number) ?? "null")
        let ts = s.ttft.quantiles([0.5, 0.95, 0.99]) ?? []
        for i in 0..<3 { raw(i < ts.count ? number(ts[i]) : "null") }
        for d in RollupDimension.breakdownDimensions {
            let json = breakdownJSON(s.breakdowns[d] ?? [])
            out.append((json, EventExport.csvField(json)))
        }
        return out
    }

    /// `{"value":{"requests":n,"cost":c},...}` with keys sorted, absent values under `"(none)"`.
    public static func breakdownJSON(_ entries: [BreakdownEntry]) -> String {
        var merged: [String: (Int64, Int128)] = [:]
        for e in entries {
            let key = e.value ?? SliceKey.noneLabel
            let old = merged[key] ?? (0, 0)
            merged[key] = (old.0 + e.requests, old.1 + e.cost)
        }
        var w = JSONWriter()
        w.object { o in
            for key in merged.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                let (requests, cost) = merged[key]!
                o.field(key, object: { $0.field("requests", requests); $0.field("cost", money: cost) })
            }
        }
        return w.text
    }

    /// Appends the bucket's rows (one per model slice, in key order) as NDJSON lines.
    public static func ndjson(_ b: RollupBucket, granularity: RollupGranularity, into out: inout String) {
        for s in b.slices(.model) {
            var w = JSONWriter()
            w.object { o in
                for (name, value) in zip(fields, values(b, s, granularity: granularity)) { o.field(name, raw: value.json) }
            }
            out += w.text
            out += "\n"
        }
    }

    /// Appends the bucket's rows as CSV records (RFC 4180 quoting).
    public static func csv(_ b: RollupBucket, granularity: RollupGranularity, into out: inout String) {
        for s in b.slices(.model) {
            out += values(b, s, granularity: granularity).map(\.csv).joined(separator: ",")
            out += "\n"
        }
    }
}
