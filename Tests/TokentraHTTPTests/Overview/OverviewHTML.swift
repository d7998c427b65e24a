import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TokentraTestSupport
import TokentraCore

/// Reads the overview page's `data-` attributes (README "Overview page") out of its HTML, as the
/// server wrote it or as Chromium serialized the rendered DOM (`--dump-dom`).
enum OverviewHTML {
    /// The attributes of every element whose start tag begins `<TAG class="CLASS"` (or `id="ID"`),
    /// character references decoded.
    static func elements(_ html: String, tag: String, first: String) -> [[String: String]] {
        let start = try! NSRegularExpression(pattern: "<\(tag) \(NSRegularExpression.escapedPattern(for: first))[^>]*>")
        let attribute = try! NSRegularExpression(pattern: "([a-zA-Z][a-zA-Z0-9-]*)=\"([^\"]*)\"")
        let ns = html as NSString
        return start.matches(in: html, range: NSRange(location: 0, length: ns.length)).map { m in
            let tagText = ns.substring(with: m.range)
            var out: [String: String] = [:]
            for a in attribute.matches(in: tagText, range: NSRange(location: 0, length: (tagText as NSString).length)) {
                out[(tagText as NSString).substring(with: a.range(at: 1))] = unescape((tagText as NSString).substring(with: a.range(at: 2)))
            }
            return out
        }
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    struct Page {
        var spend: [String: String]
        var days: [[String: String]]
        var models: [[String: String]]
        var features: [[String: String]]
        var budgets: [[String: String]]
    }

    static func parse(_ html: String) -> Page? {
        guard let spend = elements(html, tag: "section", first: "id=\"spend\"").first else { return nil }
        return Page(
            spend: spend, days: elements(html, tag: "rect", first: "class=\"day\""),
            models: elements(html, tag: "tr", first: "class=\"model\""), features: elements(html, tag: "tr", first: "class=\"feature\""),
            budgets: elements(html, tag: "tr", first: "class=\"budget\""))
    }
}

/// An HTTP client that does not follow redirects (to see a 303 and its `Set-Cookie`).
struct PlainClient {
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    func request(_ url: String, method: String = "GET", headers: [(String, String)] = [], body: String? = nil) async throws -> TestResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return TestResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: String(buffer: bytes))
    }

    func shutdown() async throws { try await client.shutdown() }
}

/// The page's numbers next to the API's answers for the same range: `/v1/usage` (per day and
/// totals), `/v1/usage/models` and `/v1/usage/features` (sort=cost, limit=10), `/v1/budgets`.
/// Returns the mismatches (empty when every number is equal, as text).
func compareWithAPI(_ page: OverviewHTML.Page, base: String, key: String) async throws -> [String] {
    var problems: [String] = []
    func check(_ what: String, _ a: String?, _ b: String?) { if a != b { problems.append("\(what): page \(a ?? "nil") ≠ API \(b ?? "nil")") } }
    guard let start = page.spend["data-start"], let end = page.spend["data-end"] else { return ["no range on the page"] }
    func get(_ path: String) async throws -> StrictJSON {
        let r = try await HTTP.request(base + path, headers: [("Authorization", "Bearer \(key)")])
        guard r.status == 200 else { throw TestFailure("\(path): \(r.status) \(r.body)") }
        return try r.strict
    }
    let usage = try await get("/v1/usage?start_date=\(start)&end_date=\(end)&granularity=day")
    check("total_cost", page.spend["data-total-cost"], usage["data"]?["total_cost"]?.numberText)
    check("total_requests", page.spend["data-total-requests"], usage["data"]?["total_requests"]?.numberText)
    check("total_tokens", page.spend["data-total-tokens"], usage["data"]?["total_tokens"]?.numberText)
    let points = usage["data"]?["breakdown"]?.arrayValue ?? []
    check("days", String(page.days.count), String(points.count))
    for (d, p) in zip(page.days, points) {
        check("date", d["data-date"], p["date"]?.stringValue)
        check("cost \(d["data-date"] ?? "")", d["data-cost"], p["cost"]?.numberText)
        check("requests \(d["data-date"] ?? "")", d["data-requests"], p["requests"]?.numberText)
    }
    let models = try await get("/v1/usage/models?start_date=\(start)&end_date=\(end)&sort=cost&limit=10")["data"]?.arrayValue ?? []
    check("model rows", String(page.models.count), String(models.count))
    for (m, a) in zip(page.models, models) {
        check("model", m["data-model"], a["model"]?.stringValue)
        check("provider", m["data-provider"], a["provider"]?.stringValue)
        check("model cost", m["data-cost"], a["cost"]?.numberText)
        check("model requests", m["data-requests"], a["requests"]?.numberText)
        check("model p95", m["data-p95"], a["p95_latency_ms"]?.numberText ?? "null")
    }
    let features = try await get("/v1/usage/features?start_date=\(start)&end_date=\(end)&sort=cost&limit=10")["data"]?.arrayValue ?? []
    check("feature rows", String(page.features.count), String(features.count))
    for (f, a) in zip(page.features, features) {
        check("feature", f["data-feature"], a["feature"]?.stringValue ?? "(none)")
        check("feature cost", f["data-cost"], a["cost"]?.numberText)
        check("feature requests", f["data-requests"], a["requests"]?.numberText)
    }
    let budgets = try await get("/v1/budgets")["data"]?.arrayValue ?? []
    check("budget rows", String(page.budgets.count), String(budgets.count))
    for b in page.budgets {
        guard let a = budgets.first(where: { $0["id"]?.stringValue == b["data-budget-id"] }) else {
            problems.append("budget \(b["data-budget-id"] ?? "") not in /v1/budgets")
            continue
        }
        check("budget spend", b["data-spend"], a["current_spend"]?.numberText)
        check("budget amount", b["data-amount"], a["amount"]?.numberText)
    }
    return problems
}
