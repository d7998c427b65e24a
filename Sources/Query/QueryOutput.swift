import Foundation
import Rollups
import TokentraCore

/// Renders query results as JSON (the HTTP body, also `--format json`), CSV and aligned tables.
///
/// Money is exact decimal text (a JSON number with every digit); percentiles and averages have up
/// to 3 decimals; absent values are `null` (JSON) or empty (CSV, table `-`).
public enum QueryOutput {
    static func money(_ units: Int128) -> String { MoneySum(units).description }

    /// ISO-8601 UTC timestamp without milliseconds.
    static func timestamp(_ ms: Int64) -> String {
        let t = formatTimestamp(ms)
        return t.hasSuffix(".000Z") ? String(t.dropLast(5)) + "Z" : t
    }

    static func writeMeta(_ m: QueryMeta, to w: inout JSONWriter, extra: (inout JSONWriter) -> Void = { _ in }) {
        w.field("meta", object: { o in
            o.field("source", m.source)
            o.field("rollup_freshness", m.rollupFreshnessMs.map(timestamp))
            o.field("granularity", m.granularity.rawValue)
            o.field("tz", m.tz)
            o.field("start_date", timestamp(m.startMs))
            o.field("end_date", timestamp(m.endMs))
            o.field("end_exclusive", true)
            extra(&o)
        })
    }

    /// A point's or row's exact sums and counts.
    static func writeSums(_ m: RollupMeasures, to w: inout JSONWriter) {
        w.field("cost", money: m.totalCost)
        w.field("tokens", m.totalTokens)
        w.field("requests", m.requests)
        w.field("errors", m.errors)
        w.field("cache_hits", m.cacheHits)
        w.field("input_tokens", m.inputTokens)
        w.field("output_tokens", m.outputTokens)
        w.field("cached_tokens", m.cachedTokens)
    }

    /// Latency and time-to-first-token statistics: averages and percentiles over the events that
    /// reported them (their counts alongside); `null` when none did.
    static func writeLatency(_ m: RollupMeasures, _ l: LatencyPercentiles, _ t: LatencyPercentiles, to w: inout JSONWriter) {
        w.field("latency_count", m.latencyCount)
        w.field("avg_latency_ms", m.averageLatencyMs)
        w.field("p50_latency_ms", l.p50)
        w.field("p95_latency_ms", l.p95)
        w.field("p99_latency_ms", l.p99)
        w.field("ttft_count", m.ttftCount)
        w.field("avg_ttft_ms", m.averageTTFTMs)
        w.field("p50_ttft_ms", t.p50)
        w.field("p95_ttft_ms", t.p95)
        w.field("p99_ttft_ms", t.p99)
    }

    // MARK: Usage

    public static func json(_ r: UsageResult) -> String {
        var w = JSONWriter()
        w.object { o in
            o.field("data", object: { d in
                d.field("total_cost", money: r.totals.totalCost)
                d.field("total_tokens", r.totals.totalTokens)
                d.field("total_requests", r.totals.requests)
                d.field("total_errors", r.totals.errors)
                d.field("breakdown", array: { a in
                    for p in r.points {
                        let m = p.measures
                        a.object { e in
                            e.field("date", p.label)
                            e.field("start", timestamp(p.startMs))
                            writeSums(m, to: &e)
                            writeLatency(m, p.latency, p.ttft, to: &e)
                        }
                    }
                })
            })
            writeMeta(r.meta, to: &o)
        }
        return w.text
    }

    static let usageColumns = ["date", "cost", "tokens", "requests", "errors", "cache_hits", "input_tokens", "output_tokens",
                               "cached_tokens", "avg_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms",
                               "p50_ttft_ms", "p95_ttft_ms", "p99_ttft_ms"]

    static func usageCells(_ label: String, _ m: RollupMeasures, _ l: LatencyPercentiles?, _ t: LatencyPercentiles? = nil) -> [String] {
        func n(_ x: Double?) -> String { x.map(RollupExport.number) ?? "" }
        return [label, money(m.totalCost), String(m.totalTokens), String(m.requests), String(m.errors), String(m.cacheHits),
                String(m.inputTokens), String(m.outputTokens), String(m.cachedTokens), n(m.averageLatencyMs),
                n(l?.p50), n(l?.p95), n(l?.p99), n(t?.p50), n(t?.p95), n(t?.p99)]
    }

    public static func csv(_ r: UsageResult) -> String {
        var out = usageColumns.joined(separator: ",") + "\n"
        for p in r.points { out += usageCells(p.label, p.measures, p.latency, p.ttft).map(EventExport.csvField).joined(separator: ",") + "\n" }
        return out
    }

    public static func table(_ r: UsageResult) -> String {
        var rows = r.points.map { usageCells($0.label, $0.measures, $0.latency, $0.ttft) }
        rows.append(usageCells("total", r.totals, nil))
        return align(header: usageColumns, rows: rows, totalsRow: true)
    }

    // MARK: Breakdowns

    static func keyCells(_ b: QueryBreakdown, _ key: SliceKey) -> [(String, String?)] {
        b.byModel ? [("provider", key.provider), ("model", key.value)] : [(b.keyField, key.value)]
    }

    public static func json(_ r: BreakdownResult) -> String {
        var w = JSONWriter()
        w.object { o in
            o.field("data", array: { a in
                for row in r.rows {
                    let m = row.measures
                    a.object { e in
                        for (name, value) in keyCells(r.breakdown, row.key) { e.field(name, value) }
                        writeSums(m, to: &e)
                        e.field("percentage", row.percentage)
                        writeLatency(m, row.latency, row.ttft, to: &e)
                    }
                }
            })
            writeMeta(r.meta, to: &o) { x in
                x.field("breakdown", r.breakdown.rawValue)
                x.field("sort", r.sort.rawValue)
                x.field("limit", r.limit)
                x.field("total_cost", money: r.totals.totalCost)
                x.field("total_tokens", r.totals.totalTokens)
                x.field("total_requests", r.totals.requests)
                if let other = r.other {
                    x.field("other", object: {
                        $0.field("rows", other.rows)
                        $0.field("cost", money: other.measures.totalCost)
                        $0.field("tokens", other.measures.totalTokens)
                        $0.field("requests", other.measures.requests)
                        $0.field("errors", other.measures.errors)
                    })
                } else {
                    x.field("other", nil as String?)
                }
            }
        }
        return w.text
    }

    static func breakdownHeader(_ b: QueryBreakdown) -> [String] {
        keyCells(b, SliceKey(value: nil)).map(\.0)
            + ["cost", "tokens", "requests", "errors", "percentage", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms"]
    }

    static func breakdownCells(_ b: QueryBreakdown, _ row: BreakdownRow, none: String) -> [String] {
        func n(_ x: Double?) -> String { x.map(RollupExport.number) ?? "" }
        let m = row.measures
        return keyCells(b, row.key).map { $0.1 ?? none }
            + [money(m.totalCost), String(m.totalTokens), String(m.requests), String(m.errors), RollupExport.number(row.percentage),
               n(row.latency.p50), n(row.latency.p95), n(row.latency.p99)]
    }

    public static func csv(_ r: BreakdownResult) -> String {
        var out = breakdownHeader(r.breakdown).joined(separator: ",") + "\n"
        for row in r.rows { out += breakdownCells(r.breakdown, row, none: "").map(EventExport.csvField).joined(separator: ",") + "\n" }
        return out
    }

    public static func table(_ r: BreakdownResult) -> String {
        var rows = r.rows.map { breakdownCells(r.breakdown, $0, none: SliceKey.noneLabel) }
        let m = r.totals
        let keys = r.breakdown.byModel ? ["total", ""] : ["total"]
        rows.append(keys + [money(m.totalCost), String(m.totalTokens), String(m.requests), String(m.errors),
                            m.requests == 0 ? "0" : "100", "", "", ""])
        return align(header: breakdownHeader(r.breakdown), rows: rows, totalsRow: true)
    }

    /// Columns padded to their widest cell: text left-aligned (first columns), numbers right-aligned.
    static func align(header: [String], rows: [[String]], totalsRow: Bool) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        let textColumns = header.prefix { ["date", "provider", "model", "team_id", "feature", "project_id", "environment", "cost_center"].contains($0) }.count
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return i < textColumns ? c + pad : pad + c
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = line(header) + "\n"
        for (i, row) in rows.enumerated() {
            if totalsRow && i == rows.count - 1 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
            out += line(row) + "\n"
        }
        return out
    }
}
