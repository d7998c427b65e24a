import Foundation
import Rollups
import TokentraCore

/// Renders query results as JSON (the HTTP body, also `--format json`), CSV and aligned tables.
///
/// Money is exact decimal text (a JSON number with every digit); percentiles and averages have up
/// to 3 decimals; absent values are `null` (JSON) or empty (CSV, table `-`).
public enum QueryOutput {
    static func money(_ units: Int128) -> String { MoneySum(units).description }
    static func number(_ x: Double?) -> String { x.map(RollupExport.number) ?? "null" }
    static func string(_ s: String?) -> String {
        guard let s else { return "null" }
        var out = ""
        EventExport.appendJSONString(s, to: &out)
        return out
    }

    /// ISO-8601 UTC timestamp without milliseconds.
    static func timestamp(_ ms: Int64) -> String {
        let t = formatTimestamp(ms)
        return t.hasSuffix(".000Z") ? String(t.dropLast(5)) + "Z" : t
    }

    static func metaJSON(_ m: QueryMeta, extra: String = "") -> String {
        "{\"source\":\"\(m.source)\",\"rollup_freshness\":\(m.rollupFreshnessMs.map { "\"" + timestamp($0) + "\"" } ?? "null")"
            + ",\"granularity\":\"\(m.granularity.rawValue)\",\"tz\":\(string(m.tz))"
            + ",\"start_date\":\"\(timestamp(m.startMs))\",\"end_date\":\"\(timestamp(m.endMs))\",\"end_exclusive\":true\(extra)}"
    }

    static func latencyJSON(_ l: LatencyPercentiles) -> String {
        "\"p50_latency_ms\":\(number(l.p50)),\"p95_latency_ms\":\(number(l.p95)),\"p99_latency_ms\":\(number(l.p99))"
    }

    // MARK: Usage

    public static func json(_ r: UsageResult) -> String {
        var out = "{\"data\":{\"total_cost\":\(money(r.totals.totalCost)),\"total_tokens\":\(r.totals.totalTokens),"
        out += "\"total_requests\":\(r.totals.requests),\"total_errors\":\(r.totals.errors),\"breakdown\":["
        for (i, p) in r.points.enumerated() {
            if i > 0 { out += "," }
            let m = p.measures
            out += "{\"date\":\(string(p.label)),\"start\":\"\(timestamp(p.startMs))\",\"cost\":\(money(m.totalCost)),"
            out += "\"tokens\":\(m.totalTokens),\"requests\":\(m.requests),\"errors\":\(m.errors),\"cache_hits\":\(m.cacheHits),"
            out += "\"input_tokens\":\(m.inputTokens),\"output_tokens\":\(m.outputTokens),\"cached_tokens\":\(m.cachedTokens),"
            out += "\"avg_latency_ms\":\(number(m.averageLatencyMs)),\(latencyJSON(p.latency))}"
        }
        out += "]},\"meta\":\(metaJSON(r.meta))}"
        return out
    }

    static let usageColumns = ["date", "cost", "tokens", "requests", "errors", "cache_hits", "input_tokens", "output_tokens",
                               "cached_tokens", "avg_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms"]

    static func usageCells(_ label: String, _ m: RollupMeasures, _ l: LatencyPercentiles?) -> [String] {
        func n(_ x: Double?) -> String { x.map(RollupExport.number) ?? "" }
        return [label, money(m.totalCost), String(m.totalTokens), String(m.requests), String(m.errors), String(m.cacheHits),
                String(m.inputTokens), String(m.outputTokens), String(m.cachedTokens), n(m.averageLatencyMs),
                n(l?.p50), n(l?.p95), n(l?.p99)]
    }

    public static func csv(_ r: UsageResult) -> String {
        var out = usageColumns.joined(separator: ",") + "\n"
        for p in r.points { out += usageCells(p.label, p.measures, p.latency).map(EventExport.csvField).joined(separator: ",") + "\n" }
        return out
    }

    public static func table(_ r: UsageResult) -> String {
        var rows = r.points.map { usageCells($0.label, $0.measures, $0.latency) }
        rows.append(usageCells("total", r.totals, nil))
        return align(header: usageColumns, rows: rows, totalsRow: true)
    }

    // MARK: Breakdowns

    static func keyCells(_ b: QueryBreakdown, _ key: SliceKey) -> [(String, String?)] {
        b == .models ? [("provider", key.provider), ("model", key.value)] : [(b.keyField, key.value)]
    }

    public static func json(_ r: BreakdownResult) -> String {
        var out = "{\"data\":["
        for (i, row) in r.rows.enumerated() {
            if i > 0 { out += "," }
            out += "{"
            for (name, value) in keyCells(r.breakdown, row.key) { out += "\"\(name)\":\(string(value))," }
            let m = row.measures
            out += "\"cost\":\(money(m.totalCost)),\"tokens\":\(m.totalTokens),\"requests\":\(m.requests),\"errors\":\(m.errors),"
            out += "\"cache_hits\":\(m.cacheHits),\"input_tokens\":\(m.inputTokens),\"output_tokens\":\(m.outputTokens),"
            out += "\"cached_tokens\":\(m.cachedTokens),\"percentage\":\(RollupExport.number(row.percentage)),"
            out += "\"avg_latency_ms\":\(number(m.averageLatencyMs)),\(latencyJSON(row.latency))}"
        }
        let extra = ",\"breakdown\":\"\(r.breakdown.rawValue)\",\"sort\":\"\(r.sort.rawValue)\",\"limit\":\(r.limit.map(String.init) ?? "null")"
            + ",\"total_cost\":\(money(r.totals.totalCost)),\"total_tokens\":\(r.totals.totalTokens),\"total_requests\":\(r.totals.requests)"
        out += "],\"meta\":\(metaJSON(r.meta, extra: extra))}"
        return out
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
        let keys = r.breakdown == .models ? ["total", ""] : ["total"]
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
