import Alerts
import Crypto
import Foundation
import Query
import Rollups
import TokentraCore
import UsageIndex

/// The HTML of the overview page and its sign-in form: one self-contained document each (inline
/// CSS, server-side SVG, no script, no external asset).
///
/// Every string that comes from users (model and provider names, features, budget names, the org)
/// goes through ``escape(_:)``. Every number is also in a `data-` attribute with the exact text
/// `/v1/usage` answers (money as ``TokentraCore/MoneySum`` text, percentiles as JSON numbers), so
/// tests and scripts can read the page without parsing prose:
///
/// - `#spend`: `data-start`, `data-end` (the query range), `data-total-cost`, `data-total-requests`, `data-total-tokens`
/// - `rect.day`: `data-date`, `data-cost`, `data-requests` (one per day, with a `<title>`)
/// - `tr.model`: `data-provider`, `data-model`, `data-cost`, `data-requests`, `data-p95` (`null` without latencies)
/// - `tr.feature`: `data-feature` (`(none)` for events without one), `data-cost`, `data-requests`
/// - `tr.budget`: `data-budget-id`, `data-spend`, `data-amount`
enum OverviewPage {
    /// The style sheet; the Content-Security-Policy allows exactly this text (by its SHA-256).
    static let css = """
        :root{color-scheme:light;--fg:#1d2430;--muted:#5b6575;--line:#d9dee7;--bar:#3567d6;--bg:#f6f7f9;--card:#fff;--warn:#b54708;--bad:#b42318}
        *{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
        header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.75rem 1rem;background:var(--card);border-bottom:1px solid var(--line)}
        header h1{font-size:1.1rem;margin:0}header .org{color:var(--muted)}
        main{max-width:1000px;margin:0 auto;padding:1rem}
        section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem;margin:0 0 1rem}
        h2{font-size:1rem;margin:0 0 .5rem}.muted{color:var(--muted)}.big{font-size:1.6rem;font-weight:600;margin:.1rem 0}
        .stats{display:flex;flex-wrap:wrap;gap:1.5rem}
        svg{width:100%;height:auto;display:block}svg text{font-size:10px;fill:var(--muted)}rect.day{fill:var(--bar)}line.axis{stroke:var(--line)}
        .scroll{overflow-x:auto}table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
        th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);white-space:nowrap}th{font-weight:600;color:var(--muted)}
        td.n,th.n{text-align:right}td.name{white-space:normal;overflow-wrap:anywhere;min-width:7rem}.over{color:var(--bad);font-weight:600}
        form{display:inline}button{font:inherit;padding:.4rem .9rem;border:1px solid var(--line);border-radius:6px;background:var(--card);cursor:pointer}
        .signin{max-width:420px;margin:12vh auto;padding:0 1rem}.signin section{padding:1.25rem}.signin label{display:block;margin:.75rem 0 .25rem}
        .signin input{width:100%;font:inherit;padding:.5rem;border:1px solid var(--line);border-radius:6px}.signin button{margin-top:1rem;width:100%}
        .error{color:var(--bad);background:#fef3f2;border:1px solid #fecdca;border-radius:6px;padding:.5rem .75rem}
        details summary{cursor:pointer;color:var(--muted);margin-top:.5rem}
        @media (max-width:640px){body{font-size:14px}main{padding:.5rem}section{padding:.75rem}.big{font-size:1.35rem}th,td{padding:.3rem .3rem}.share,.phone-hide{display:none}.prov{display:block}td.name{min-width:5.5rem}svg text{font-size:20px}}
        """

    /// `'sha256-…'` of ``css`` for the `style-src` directive.
    static let cssHash: String = "'sha256-" + Data(SHA256.hash(data: Array(css.utf8))).base64EncodedString() + "'"

    /// The Content-Security-Policy of every page: nothing but the inline style sheet and same-origin forms.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src \(cssHash); img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// `s` with `& < > " '` replaced by character references (safe in text and in quoted attributes).
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func money(_ units: Int128) -> String { MoneySum(units).description }
    static func dollars(_ units: Int128) -> String { "$" + money(units) }
    /// A percentile as `/v1/usage` writes it (up to 3 decimals), `null` when absent.
    static func number(_ x: Double?) -> String { x.flatMap { JSONNumber.format($0) } ?? "null" }

    static func document(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="same-origin">
        <title>\(escape(title))</title>
        <style>\(css)</style>
        </head><body>
        \(body)
        </body></html>
        """
    }

    /// The sign-in form, with an optional error message.
    static func signIn(message: String?) -> String {
        let error = message.map { "<p class=\"error\" id=\"signin-error\" role=\"alert\">\(escape($0))</p>" } ?? ""
        return document(title: "tokentra: sign in", body: """
            <div class="signin"><section>
            <h1>tokentra</h1>
            <p class="muted">Sign in with an API key that has the <code>usage:read</code> scope (<code>tokentra keys create --scopes usage:read</code>).</p>
            \(error)
            <form method="post" action="/signin">
            <label for="key">API key</label>
            <input id="key" name="key" type="password" autocomplete="off" required placeholder="tt_live_…">
            <button type="submit">Sign in</button>
            </form>
            </section></div>
            """)
    }

    /// The overview of one org.
    static func overview(_ r: OverviewReport) -> String {
        var body = """
            <header><h1>tokentra <span class="org">· \(escape(r.orgID))</span></h1>
            <form method="post" action="/signout"><button type="submit" id="signout">Sign out</button></form></header>
            <main>
            """
        body += spend(r)
        body += models(r.models) + features(r.features) + budgets(r.budgets)
        body += "<p class=\"muted\">As of \(UTCTimestamp.format(r.asOfMs)). Times and days are UTC. "
        body += "The same numbers: <code>GET /v1/usage?start_date=\(r.startDate)&amp;end_date=\(r.endDate)</code>.</p></main>"
        return document(title: "tokentra overview: \(r.orgID)", body: body)
    }

    static func spend(_ r: OverviewReport) -> String {
        let t = r.usage.totals
        var s = """
            <section id="spend" data-start="\(r.startDate)" data-end="\(r.endDate)" data-total-cost="\(money(t.totalCost))" \
            data-total-requests="\(t.requests)" data-total-tokens="\(t.totalTokens)">
            <h2>Spend per day, last \(OverviewReport.days) days</h2>
            <div class="stats"><div><div class="muted">Spend</div><p class="big" id="total-cost">\(dollars(t.totalCost))</p></div>
            <div><div class="muted">Requests</div><p class="big" id="total-requests">\(t.requests)</p></div>
            <div><div class="muted">Tokens</div><p class="big" id="total-tokens">\(t.totalTokens)</p></div></div>
            """
        s += chart(r.usage.points)
        s += "<details><summary>Per day</summary><div class=\"scroll\"><table id=\"daily\"><thead><tr><th>Day</th><th class=\"n\">Spend</th>"
        s += "<th class=\"n\">Requests</th></tr></thead><tbody>"
        for p in r.usage.points.reversed() {
            s += "<tr><td>\(escape(p.label))</td><td class=\"n\">\(dollars(p.measures.totalCost))</td><td class=\"n\">\(p.measures.requests)</td></tr>"
        }
        return s + "</tbody></table></div></details></section>"
    }

    /// The daily bar chart: one bar per day, scaled to the largest day; a `<title>` per bar.
    static func chart(_ points: [UsagePoint]) -> String {
        let width = 600.0, plotTop = 28.0, plotHeight = 150.0, bottom = plotTop + plotHeight
        let maxCost = points.map(\.measures.totalCost).max() ?? 0
        let slot = width / Double(max(points.count, 1))
        var s = "<svg id=\"daily-chart\" viewBox=\"0 0 \(Int(width)) \(Int(bottom + 28))\" role=\"img\" aria-labelledby=\"chart-title\">"
        s += "<title id=\"chart-title\">Spend per day (USD), largest day \(dollars(maxCost))</title>"
        s += "<text x=\"0\" y=\"20\">max \(dollars(maxCost))</text>"
        s += "<line class=\"axis\" x1=\"0\" y1=\"\(bottom)\" x2=\"\(Int(width))\" y2=\"\(bottom)\"/>"
        for (i, p) in points.enumerated() {
            let cost = p.measures.totalCost
            // Geometry only: the exact amount is in data-cost and the title.
            let fraction = maxCost > 0 ? Double(cost) / Double(maxCost) : 0
            let h = cost > 0 ? max(plotHeight * fraction, 1) : 0
            let x = Double(i) * slot + slot * 0.15
            s += "<rect class=\"day\" data-date=\"\(escape(p.label))\" data-cost=\"\(money(cost))\" data-requests=\"\(p.measures.requests)\" "
            s += "x=\"\(fmt(x))\" y=\"\(fmt(bottom - h))\" width=\"\(fmt(slot * 0.7))\" height=\"\(fmt(h))\">"
            s += "<title>\(escape(p.label)): \(dollars(cost)), \(p.measures.requests) requests</title></rect>"
            if (i % 7 == 0 && i + 5 <= points.count) || i == points.count - 1 {
                let last = i == points.count - 1 && i > 0
                s += "<text x=\"\(fmt(last ? width : x))\" y=\"\(fmt(bottom + 22))\"\(last ? " text-anchor=\"end\"" : "")>"
                s += "\(escape(String(p.label.suffix(5))))</text>"
            }
        }
        return s + "</svg>"
    }

    static func fmt(_ x: Double) -> String { JSONNumber.format(x, fractionDigits: 2) ?? "0" }

    static func models(_ b: BreakdownResult) -> String {
        var s = "<section id=\"models\"><h2>Top models by spend</h2><div class=\"scroll\"><table><thead><tr><th>Model</th>"
        s += "<th class=\"n\">Spend</th><th class=\"n share\">Share</th><th class=\"n phone-hide\">Requests</th><th class=\"n\">p95 (ms)</th></tr></thead><tbody>"
        for row in b.rows {
            let m = row.measures
            let model = row.key.value ?? "(none)"
            s += "<tr class=\"model\" data-provider=\"\(escape(row.key.provider))\" data-model=\"\(escape(model))\" data-cost=\"\(money(m.totalCost))\" "
            s += "data-requests=\"\(m.requests)\" data-p95=\"\(number(row.latency.p95))\">"
            s += "<td class=\"name\">\(escape(model)) <span class=\"muted prov\">\(escape(row.key.provider))</span></td>"
            s += "<td class=\"n\">\(dollars(m.totalCost))</td><td class=\"n share\">\(fmt(row.percentage))%</td><td class=\"n phone-hide\">\(m.requests)</td>"
            s += "<td class=\"n\">\(row.latency.p95.map { number($0) } ?? "–")</td></tr>"
        }
        if b.rows.isEmpty { s += "<tr><td colspan=\"5\" class=\"muted\">No usage in this range.</td></tr>" }
        s += "</tbody></table></div>" + other(b) + "</section>"
        return s
    }

    static func features(_ b: BreakdownResult) -> String {
        var s = "<section id=\"features\"><h2>Top features by spend</h2><div class=\"scroll\"><table><thead><tr><th>Feature</th>"
        s += "<th class=\"n\">Spend</th><th class=\"n share\">Share</th><th class=\"n\">Requests</th></tr></thead><tbody>"
        for row in b.rows {
            let m = row.measures
            let feature = row.key.value ?? "(none)"
            s += "<tr class=\"feature\" data-feature=\"\(escape(feature))\" data-cost=\"\(money(m.totalCost))\" data-requests=\"\(m.requests)\">"
            s += "<td class=\"name\">\(escape(feature))</td><td class=\"n\">\(dollars(m.totalCost))</td>"
            s += "<td class=\"n share\">\(fmt(row.percentage))%</td><td class=\"n\">\(m.requests)</td></tr>"
        }
        if b.rows.isEmpty { s += "<tr><td colspan=\"4\" class=\"muted\">No usage in this range.</td></tr>" }
        s += "</tbody></table></div>" + other(b) + "</section>"
        return s
    }

    /// The rows beyond the top ones, summed.
    static func other(_ b: BreakdownResult) -> String {
        guard let o = b.other else { return "" }
        return "<p class=\"muted\">\(o.rows) more: \(dollars(o.measures.totalCost)), \(o.measures.requests) requests.</p>"
    }

    static func budgets(_ list: [(record: BudgetRecord, status: BudgetStatus?)]) -> String {
        var s = "<section id=\"budgets\"><h2>Budgets</h2>"
        guard !list.isEmpty else {
            return s + "<p class=\"muted\">No budgets. Create one with <code>POST /v1/budgets</code> (an admin key).</p></section>"
        }
        s += "<div class=\"scroll\"><table><thead><tr><th>Budget</th><th>Period</th><th class=\"n\">Spend</th><th class=\"n\">Amount</th>"
        s += "<th class=\"n\">Used</th><th class=\"n\">Forecast</th></tr></thead><tbody>"
        for (record, status) in list {
            let d = BudgetDefinition(record)
            let scope = d.scope.map { " (\($0.kind.field) = \($0.value))" } ?? ""
            s += "<tr class=\"budget\" data-budget-id=\"\(escape(record.id))\" data-spend=\"\(status.map { money($0.spend) } ?? "null")\" "
            s += "data-amount=\"\(money(Int128(d.amount.units)))\"><td class=\"name\">\(escape(d.name))<span class=\"muted\">\(escape(scope))</span>"
            if d.status != "active" { s += " <span class=\"muted\">(\(escape(d.status)))</span>" }
            s += "</td><td>\(escape(d.period.rawValue))</td>"
            if let st = status {
                let cls = st.exceeded ? " over" : ""
                s += "<td class=\"n\(cls)\">\(dollars(st.spend))</td><td class=\"n\">\(dollars(st.amount))</td>"
                s += "<td class=\"n\(cls)\">\(fmt(st.percentageUsed))%</td><td class=\"n\">\(dollars(st.forecast))</td>"
            } else {
                s += "<td class=\"n\">–</td><td class=\"n\">\(dollars(Int128(d.amount.units)))</td><td class=\"n\">–</td><td class=\"n\">–</td>"
            }
            s += "</tr>"
        }
        return s + "</tbody></table></div></section>"
    }
}
