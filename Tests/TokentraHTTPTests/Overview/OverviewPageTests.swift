import Foundation
import Testing
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

/// The overview page on the real server: sign-in, cookie, refusals, escaping, and the numbers
/// against `/v1/usage` and against sums computed here from the events sent.
@Suite struct OverviewPageTests {
    static let evilFeature = "<script>alert(1)</script>"
    static let evilModel = "m<b>&\"x'"

    /// Events of the last 10 days with exact costs (units of 1e-10 USD chosen here), hostile names included.
    static func events(nowMs: Int64) -> [(json: String, ms: Int64, units: Int128, feature: String?, model: String)] {
        var out: [(String, Int64, Int128, String?, String)] = []
        let features: [String?] = ["search", evilFeature, nil]
        let models = ["gpt-4o", evilModel, "claude-3-5-haiku"]
        for i in 0..<90 {
            let ms = nowMs - Int64(i % 10) * 86_400_000 - Int64(i) * 60_000 - 5_000
            let input = Int128(1_234_567_891 + i * 7_777_777), output = Int128(98_765 * (i + 1))
            let feature = features[i % 3], model = models[(i / 3) % 3]
            var fields = [
                "\"request_id\":\"ov-\(i)\"", "\"timestamp\":\"\(UTCTimestamp.format(ms))\"", "\"provider\":\"openai\"",
                "\"model\":\(JSONWriter.quoted(model))", "\"input_tokens\":\(100 + i)", "\"output_tokens\":\(10 + i)",
                "\"input_cost\":\(MoneySum(input).description)", "\"output_cost\":\(MoneySum(output).description)",
                "\"total_cost\":\(MoneySum(input + output).description)", "\"latency_ms\":\(200 + i * 13)",
            ]
            if let feature { fields.append("\"feature\":\(JSONWriter.quoted(feature))") }
            out.append(("{" + fields.joined(separator: ",") + "}", ms, input + output, feature, model))
        }
        return out.map { (json: $0.0, ms: $0.1, units: $0.2, feature: $0.3, model: $0.4) }
    }

    @Test func signInPageAndNumbers() async throws {
        let d = try await TestDaemon.start()
        let client = PlainClient()
        let base = d.baseURL
        let origin = [("Origin", base)]
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let events = Self.events(nowMs: now)
        let (writer, _) = try d.createKey(scopes: "sdk:write")
        let (reader, readerID) = try d.createKey(scopes: "usage:read")
        let (admin, _) = try d.createKey(scopes: "admin")
        for chunk in stride(from: 0, to: events.count, by: 30) {
            let r = try await HTTP.ingest(d, key: writer, body: Payload.batch(events[chunk..<min(chunk + 30, events.count)].map(\.json)))
            #expect(r.status == 200 && r.json["processed"] as? Int == min(30, events.count - chunk), "\(r.body)")
        }
        let budget = try await HTTP.request(
            base + "/v1/budgets", method: "POST", headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
            body: Array(#"{"name":"<img src=x onerror=alert(1)> team","amount":100,"period":"monthly"}"#.utf8))
        #expect(budget.status == 201, "\(budget.body)")
        let budgetID = try budget.strict["data"]?["id"]?.stringValue

        // Not signed in: the form, with the page's security headers.
        let form = try await client.request(base + "/")
        #expect(form.status == 200)
        #expect(form.header("Content-Type") == "text/html; charset=utf-8")
        #expect(form.body.contains("<form method=\"post\" action=\"/signin\">") && !form.body.contains("id=\"spend\""))
        let csp = try #require(form.header("Content-Security-Policy"))
        #expect(csp.hasPrefix("default-src 'none'; style-src 'sha256-") && csp.contains("form-action 'self'") && csp.contains("frame-ancestors 'none'"))
        #expect(form.header("Cache-Control") == "no-store" && form.header("X-Frame-Options") == "DENY")

        func signIn(_ key: String, headers: [(String, String)]) async throws -> TestResponse {
            try await client.request(base + "/signin", method: "POST",
                                     headers: headers + [("Content-Type", "application/x-www-form-urlencoded")],
                                     body: "key=" + key.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
        }
        // Wrong keys: the form again, the reason, 401 (403 for a key without the scope); no cookie.
        let unknown = try await signIn("tt_live_" + String(repeating: "a", count: 40), headers: origin)
        #expect(unknown.status == 401 && unknown.header("Set-Cookie") == nil)
        #expect(unknown.body.contains("id=\"signin-error\"") && unknown.body.contains("Unknown API key tt_live_aaaa"), "\(unknown.body)")
        #expect(unknown.body.contains("<form method=\"post\" action=\"/signin\">"))
        let malformed = try await signIn("not a key", headers: origin)
        #expect(malformed.status == 401 && malformed.body.contains("Invalid API key"))
        let empty = try await signIn("", headers: origin)
        #expect(empty.status == 401 && empty.body.contains("Enter an API key."))
        let scope = try await signIn(writer, headers: origin)
        #expect(scope.status == 403 && scope.body.contains("needs the usage:read (or admin) scope") && scope.header("Set-Cookie") == nil)
        // CSRF: a POST without Origin, from another origin, or marked cross-site is refused before the key is looked at.
        for bad in [[], [("Origin", "http://evil.example")], [("Origin", "null")], origin + [("Sec-Fetch-Site", "cross-site")]] {
            let r = try await signIn(reader, headers: bad)
            #expect(r.status == 403 && r.header("Set-Cookie") == nil && r.body.contains("Request refused"), "\(bad)")
        }

        // The right key: 303 to /, an opaque HttpOnly SameSite=Strict cookie that is not the key.
        let ok = try await signIn(reader, headers: origin)
        #expect(ok.status == 303 && ok.header("Location") == "/")
        let setCookie = try #require(ok.header("Set-Cookie"))
        #expect(setCookie.hasSuffix("; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict"), "\(setCookie)")
        let token = String(setCookie.dropFirst("tokentra_session=".count).prefix { $0 != ";" })
        #expect(setCookie.hasPrefix("tokentra_session=") && token.count == 43 && !setCookie.contains(reader) && !setCookie.contains(String(reader.prefix(12))))
        let cookie = [("Cookie", "other=1; tokentra_session=\(token)")]

        let page = try await client.request(base + "/", headers: cookie)
        #expect(page.status == 200)
        #expect(page.body.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"))
        // Escaping: no markup from a name survives; no script at all.
        #expect(!page.body.contains("<script") && !page.body.contains("<img") && !page.body.contains("<b>"))
        #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(page.body.contains("m&lt;b&gt;&amp;&quot;x&#39;"))
        #expect(page.body.contains("&lt;img src=x onerror=alert(1)&gt; team"))
        let parsed = try #require(OverviewHTML.parse(page.body))

        // Numbers against sums computed here from the events sent.
        let (start, end) = (parsed.spend["data-start"] ?? "", parsed.spend["data-end"] ?? "")
        let today = now / 86_400_000
        #expect(start == String(UTCTimestamp.format((today - 29) * 86_400_000).prefix(10)))
        #expect(end == String(UTCTimestamp.format((today + 1) * 86_400_000).prefix(10)))
        let total = events.reduce(Int128(0)) { $0 + $1.units }
        #expect(parsed.spend["data-total-cost"] == MoneySum(total).description)
        #expect(parsed.spend["data-total-requests"] == "90")
        #expect(parsed.days.count == 30)
        for (i, day) in parsed.days.enumerated() {
            let dayStart = (today - 29 + Int64(i)) * 86_400_000
            let mine = events.filter { $0.ms >= dayStart && $0.ms < dayStart + 86_400_000 }
            #expect(day["data-date"] == String(UTCTimestamp.format(dayStart).prefix(10)))
            #expect(day["data-cost"] == MoneySum(mine.reduce(Int128(0)) { $0 + $1.units }).description)
            #expect(day["data-requests"] == String(mine.count))
        }
        for f in [Optional("search"), Self.evilFeature, nil] {
            let row = parsed.features.first { $0["data-feature"] == (f ?? "(none)") }
            #expect(row?["data-cost"] == MoneySum(events.filter { $0.feature == f }.reduce(Int128(0)) { $0 + $1.units }).description, "\(f ?? "-")")
            #expect(row?["data-requests"] == "30")
        }
        for m in ["gpt-4o", Self.evilModel, "claude-3-5-haiku"] {
            let row = parsed.models.first { $0["data-model"] == m }
            #expect(row?["data-cost"] == MoneySum(events.filter { $0.model == m }.reduce(Int128(0)) { $0 + $1.units }).description, "\(m)")
            #expect(row?["data-provider"] == "openai" && row?["data-p95"] != "null")
        }
        // The budget: this UTC month's spend.
        let monthStart = try #require(parseTimestamp(String(UTCTimestamp.format(now).prefix(7)) + "-01T00:00:00Z"))
        #expect(parsed.budgets.count == 1 && parsed.budgets.first?["data-budget-id"] == budgetID)
        #expect(parsed.budgets.first?["data-spend"] == MoneySum(events.filter { $0.ms >= monthStart }.reduce(Int128(0)) { $0 + $1.units }).description)
        #expect(parsed.budgets.first?["data-amount"] == "100")
        // ... and every number equal to the API's answer for the same range.
        let problems = try await compareWithAPI(parsed, base: base, key: reader)
        #expect(problems.isEmpty, "\(problems)")

        // One-time links: 201 with a path, redeemed once into a session; a second use is refused.
        #expect(try await client.request(base + "/v1/signin-links", method: "POST").status == 401)
        let link = try await client.request(base + "/v1/signin-links", method: "POST", headers: [("Authorization", "Bearer \(reader)")])
        #expect(link.status == 201 && link.header("Cache-Control") == "no-store")
        let path = try #require(try link.strict["data"]?["path"]?.stringValue)
        #expect(path.hasPrefix("/signin?token=") && path.count == "/signin?token=".count + 43)
        let redeemed = try await client.request(base + path)
        #expect(redeemed.status == 303 && redeemed.header("Set-Cookie")?.hasPrefix("tokentra_session=") == true)
        let again = try await client.request(base + path)
        #expect(again.status == 401 && again.body.contains("invalid, expired or already used") && again.header("Set-Cookie") == nil)
        #expect(try await client.request(base + "/signin?token=nonsense").status == 401)

        // Sign-out needs the same origin, ends the session and clears the cookie.
        #expect(try await client.request(base + "/signout", method: "POST", headers: cookie).status == 403)
        let out = try await client.request(base + "/signout", method: "POST", headers: cookie + origin)
        #expect(out.status == 303 && out.header("Location") == "/" && out.header("Set-Cookie")?.contains("Max-Age=0") == true)
        let after = try await client.request(base + "/", headers: cookie)
        #expect(after.status == 200 && !after.body.contains("id=\"spend\"") && after.body.contains("action=\"/signin\""))

        // Revoking the key ends the sessions it started.
        let second = try #require(try await signIn(reader, headers: origin).header("Set-Cookie"))
        let secondCookie = [("Cookie", String(second.prefix { $0 != ";" }))]
        #expect(try await client.request(base + "/", headers: secondCookie).body.contains("id=\"spend\""))
        _ = try d.index.revokeAPIKey(id: readerID, at: now - 1)
        try await Task.sleep(for: .seconds(2.1))  // the authenticator's refresh interval (2 s)
        let revoked = try await client.request(base + "/", headers: secondCookie)
        #expect(revoked.status == 401 && revoked.body.contains("Your session ended: API key was revoked"), "\(revoked.body.prefix(400))")

        // A huge form is refused without harm.
        let huge = try await client.request(base + "/signin", method: "POST", headers: origin, body: "key=" + String(repeating: "x", count: 100_000))
        #expect(huge.status == 413)
        try await client.shutdown()
        try await d.stop()
    }
}
