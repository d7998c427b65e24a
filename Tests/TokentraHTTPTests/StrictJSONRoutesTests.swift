import Foundation
import Logging
import Rollups
import SegmentStore
import Testing
import TokentraCore
import TokentraTestSupport

/// Every route's JSON body, successes and errors, on data with fractions, zeros, huge sums and
/// Unicode, parsed by the strict RFC 8259 parser; sums checked against the events.
@Suite struct StrictJSONRoutesTests {
    @Test func everyRouteAnswersStrictJSON() async throws {
        let d = try await TestDaemon.start()
        var rng = SeededRandom(seed: 8259)
        var events: [UsageEvent] = []
        for i in 0..<300 {
            var e = EventFactory.event(i, org: "org_a", rng: &rng, dayOffset: i % 3)
            e.latencyMs = i % 5 == 0 ? nil : [850, 1200, 376, 613][i % 4] + Int64(i % 7)
            e.model = ["gpt-4o", "模型-μ", "claude \"q\"\\s"][i % 3]
            e.team = ["équipe-😀", "platform", "tab\there"][i % 3]
            e.userID = "user-\(i % 7)-ü"
            e.metadata = i % 2 == 0 ? #"{"route":"/chat/ü","n":1.50,"deep":{"a":[1,2]}}"# : nil
            if i == 7 { e.inputCost = .zero; e.outputCost = .zero; e.cachedCost = .zero; e.totalCost = .zero }
            if i == 11 {
                e.inputTokens = 9_000_000_000
                e.totalTokens = e.inputTokens + e.outputTokens + e.cachedTokens
                e.totalCost = Money(units: 9_000_000_000_000_000)  // 900,000,000 USD
            }
            events.append(e)
        }
        _ = try await d.store.ingest(events)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        _ = try await RollupEngine(store: d.store, logger: logger).run(now: 4_000_000_000_000)
        let (reader, _) = try d.createKey(scopes: "usage:read")
        let (writer, _) = try d.createKey(scopes: "sdk:write")

        func get(_ path: String, _ key: String? = nil, status: Int = 200) async throws -> StrictJSON {
            let r = try await HTTP.request(d.baseURL + path, headers: key.map { [("Authorization", "Bearer \($0)")] } ?? [])
            #expect(r.status == status, "\(path): \(r.body.prefix(300))")
            do { return try StrictJSON.parse(r.body) } catch {
                Issue.record("\(path) is not strict JSON: \(error)\n\(r.body.prefix(300))")
                throw error
            }
        }
        let range = "start_date=2026-10-25&end_date=2026-10-30"
        for g in ["hour", "day", "week", "month"] {
            for tz in ["UTC", "Asia%2FKolkata", "America%2FSt_Johns"] {
                let u = try await get("/v1/usage?\(range)&granularity=\(g)&tz=\(tz)", reader)
                #expect(u["data"]?["total_requests"]?.intValue == 300, "\(g) \(tz)")
            }
        }
        let total = try await get("/v1/usage?\(range)", reader)
        let cost = events.reduce(MoneySum.zero) { $0 + MoneySum($1.totalCost) }
        #expect(total["data"]?["total_cost"]?.numberText == cost.description)
        let tokens = events.reduce(Int128(0)) { $0 + Int128($1.totalTokens) }
        #expect(total["data"]?["total_tokens"]?.numberText == String(tokens))
        for b in ["models", "teams", "features", "projects", "environments", "cost-centers"] {
            _ = try await get("/v1/usage/\(b)?\(range)", reader)
            _ = try await get("/v1/usage/\(b)?\(range)&user_id=user-3-%C3%BC&limit=1", reader)
        }
        for by in ["user_id", "metadata.route", "metadata.deep", "model", "provider"] {
            _ = try await get("/v1/usage/breakdown?by=\(by)&\(range)&limit=2", reader)
        }
        let teams = try await get("/v1/usage/teams?\(range)", reader)
        #expect(Set((teams["data"]?.arrayValue ?? []).compactMap { $0["team_id"]?.stringValue }) == ["équipe-😀", "platform", "tab\there"])
        let empty = try await get("/v1/usage/models?start_date=2020-01-01&end_date=2020-01-02", reader)
        #expect(empty["data"]?.arrayValue?.isEmpty == true)

        // Errors and the other routes.
        _ = try await get("/v1/usage?\(range)", nil, status: 401)
        _ = try await get("/v1/usage?\(range)", writer, status: 403)
        _ = try await get("/v1/usage?\(range)&tz=Mars%2FOlympus", reader, status: 400)
        _ = try await get("/v1/usage/breakdown?\(range)", reader, status: 400)
        _ = try await get("/nope", reader, status: 404)
        _ = try await get("/healthz")
        _ = try await get("/readyz")
        _ = try await get("/api/v1/sdk/ingest")
        let ok = try await HTTP.ingest(d, key: writer, body: Payload.batch([Payload.event(), Payload.event(extra: "\"input_tokens\":-1")]))
        #expect(ok.status == 200)
        #expect(try StrictJSON.parse(ok.body)["failed"]?.intValue == 1)
        let bad = try await HTTP.ingest(d, key: writer, body: Payload.batch([Payload.event(extra: "\"model\":\"\\u0001é\",\"latency_ms\":\"x\"")]))
        #expect(bad.status == 400)
        _ = try StrictJSON.parse(bad.body)
        let broken = try await HTTP.ingest(d, key: writer, body: "{\"events\":[")
        #expect(broken.status == 400)
        _ = try StrictJSON.parse(broken.body)
        try await d.stop()
    }
}
