import Foundation
import Logging
import Query
import Rollups
import SegmentStore
import Testing
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

@Suite struct QueryAPITests {
    @Test func usageEndpoints() async throws {
        let d = try await TestDaemon.start()
        let events = EventFactory.events(2000, org: "org_a", seed: 3, days: 3) + EventFactory.events(500, org: "org_b", seed: 4, days: 2)
        _ = try await d.store.ingest(events)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        _ = try await RollupEngine(store: d.store, logger: logger).run(now: 4_000_000_000_000)

        let (reader, _) = try d.createKey(scopes: "usage:read")
        let (admin, _) = try d.createKey(scopes: "admin")
        let (writer, _) = try d.createKey(scopes: "sdk:write")
        let (readerB, _) = try d.createKey(org: "org_b", scopes: "usage:read")
        func get(_ path: String, _ key: String?) async throws -> TestResponse {
            try await HTTP.request(d.baseURL + path, headers: key.map { [("Authorization", "Bearer \($0)")] } ?? [])
        }
        let path = "/v1/usage?start_date=2026-10-25&end_date=2026-10-30&tz=Asia%2FTokyo"
        #expect(try await get(path, nil).status == 401)
        let forbidden = try await get(path, writer)
        #expect(forbidden.status == 403 && forbidden.errorCode == "INSUFFICIENT_SCOPE")

        // The body is exactly what the engine (and `tokentra query --format json`) produces.
        let ok = try await get(path, reader)
        #expect(ok.status == 200)
        let engine = QueryEngine(index: d.index)
        let q = try UsageQuery.parse(orgID: "org_a", parameters: ["start_date": "2026-10-25", "end_date": "2026-10-30", "tz": "Asia/Tokyo"], breakdown: nil)
        #expect(ok.body == QueryOutput.json(try engine.usage(q)))
        let data = try #require(ok.json["data"] as? [String: Any])
        #expect(data["total_requests"] as? Int == 2000)
        #expect((data["breakdown"] as? [Any])?.count == 5)
        #expect(try await get(path, admin).body == ok.body)

        // An org only sees itself.
        let b = try await get(path, readerB)
        #expect((b.json["data"] as? [String: Any])?["total_requests"] as? Int == 500)

        let models = try await get("/v1/usage/models?start_date=2026-10-25&end_date=2026-10-30&provider=openai&limit=1&sort=requests", reader)
        #expect(models.status == 200)
        let rows = try #require(models.json["data"] as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["provider"] as? String == "openai")
        for p in ["teams", "features", "projects", "environments", "cost-centers"] {
            #expect(try await get("/v1/usage/\(p)?start_date=2026-10-25&end_date=2026-10-30", reader).status == 200, "\(p)")
        }

        let bad = try await get("/v1/usage?start_date=2026-10-25&end_date=2026-10-30&granularity=minute", reader)
        #expect(bad.status == 400 && bad.errorCode == "INVALID_PARAMETER")
        #expect((bad.json["error"] as? [String: Any])?["parameter"] as? String == "granularity")
        // A filter on one attribute with a breakdown by another: exact, from the raw segments.
        let mixed = try await get("/v1/usage/models?start_date=2026-10-25&end_date=2026-10-30&team_id=platform", reader)
        #expect(mixed.status == 200, "\(mixed.body)")
        let mixedJSON = try mixed.strict
        #expect(mixedJSON["meta"]?["source"]?.stringValue == "segments")
        let platform = events.filter { $0.orgID == "org_a" && $0.team == "platform" }
        #expect(mixedJSON["meta"]?["total_requests"]?.intValue == platform.count)
        let cost = platform.reduce(MoneySum.zero) { $0 + MoneySum($1.totalCost) }
        #expect(mixedJSON["meta"]?["total_cost"]?.numberText == cost.description)
        // Any attribute, top-N with the rest summed.
        let users = try await get("/v1/usage/breakdown?by=user_id&start_date=2026-10-25&end_date=2026-10-30&limit=3&sort=requests", reader)
        #expect(users.status == 200, "\(users.body)")
        let usersJSON = try users.strict
        #expect(usersJSON["data"]?.arrayValue?.count == 3)
        #expect(usersJSON["meta"]?["other"]?["rows"]?.intValue == 13 - 3)
        #expect(usersJSON["meta"]?["breakdown"]?.stringValue == "user_id")
        let badBy = try await get("/v1/usage/breakdown?by=colour&start_date=2026-10-25&end_date=2026-10-30", reader)
        #expect(badBy.status == 400 && (badBy.json["error"] as? [String: Any])?["parameter"] as? String == "by")
        // A zone with a 30-minute offset: exact, whole hours from rollups, edges from segments.
        let kolkata = try await get("/v1/usage?start_date=2026-10-25&end_date=2026-10-30&tz=Asia%2FKolkata", reader)
        #expect(kolkata.status == 200, "\(kolkata.body)")
        let k = try kolkata.strict
        #expect(k["meta"]?["source"]?.stringValue == "rollups+segments")
        let kStart = parseTimestamp("2026-10-24T18:30:00Z")!, kEnd = parseTimestamp("2026-10-29T18:30:00Z")!
        #expect(k["data"]?["total_requests"]?.intValue == events.filter { $0.orgID == "org_a" && $0.timestampMs >= kStart && $0.timestampMs < kEnd }.count)
        let reversed = try await get("/v1/usage?start_date=2026-10-30&end_date=2026-10-25", reader)
        #expect(reversed.status == 400 && (reversed.json["error"] as? [String: Any])?["parameter"] as? String == "end_date")
        try await d.stop()
    }
}

@Suite struct QueryFreshnessAPITests {
    /// An event acknowledged a moment ago (still in the memtable, not sealed, not rolled up)
    /// is in the answer at once.
    @Test func justAcknowledgedEventsAreCounted() async throws {
        let d = try await TestDaemon.start()
        let (writer, _) = try d.createKey(scopes: "sdk:write")
        let (reader, _) = try d.createKey(scopes: "usage:read")
        let r = try await HTTP.ingest(d, key: writer, body: Payload.batch([Payload.event(), Payload.event(), Payload.event()]))
        #expect(r.status == 200)
        let today = String(UTCTimestamp.format(Int64(Date().timeIntervalSince1970 * 1000)).prefix(10))
        let tomorrow = String(UTCTimestamp.format(Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000).prefix(10))
        let ok = try await HTTP.request(d.baseURL + "/v1/usage?start_date=\(today)&end_date=\(tomorrow)",
                                        headers: [("Authorization", "Bearer \(reader)")])
        #expect(ok.status == 200, "\(ok.body)")
        let data = try #require(ok.json["data"] as? [String: Any])
        #expect(data["total_requests"] as? Int == 3)
        #expect((data["total_cost"] as? NSNumber)?.stringValue == "0.00225")
        #expect(ok.body.contains("\"source\":\"rollups+raw\""))
        try await d.stop()
    }
}
