import Foundation
import Logging
import Repricing
import Rollups
import SegmentStore
import Testing
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

/// `GET /v1/prices`, `/v1/prices/{version}` and `/v1/audit` on a real daemon, after a reprice of its
/// own store (in the daemon's process, while it serves).
@Suite struct RepricingAPITests {
    @Test func pricesAndAuditRoutes() async throws {
        let d = try await TestDaemon.start()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let events = EventFactory.events(600, org: "org_a", seed: 5, days: 2)
        _ = try await d.store.ingest(events)
        _ = try await RollupEngine(store: d.store, logger: logger).run(now: 4_000_000_000_000)
        let v2 = d.dir.file("v2.json")
        try "{\"version\":2,\"prices\":[{\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_per_1k\":\"0.002\",\"output_per_1k\":\"0.008\"}]}"
            .write(toFile: v2, atomically: true, encoding: .utf8)
        let catalog = PriceCatalog(dataDirectory: d.store.configuration.dataDirectory, index: d.index)
        try catalog.importTable(path: v2, actor: "cli", now: 1_800_000_000_000)
        let report = try await Repricer(store: d.store, catalog: catalog, logger: logger).run(
            RepriceRequest(orgID: "org_a", fromMs: 0, toMs: 4_000_000_000_000, priceVersion: 2), now: 1_800_000_000_000)
        #expect(report.changedEvents > 0)

        let (reader, _) = try d.createKey(scopes: "usage:read")
        let (admin, adminID) = try d.createKey(scopes: "admin")
        let (writer, _) = try d.createKey(scopes: "sdk:write")
        let (adminB, _) = try d.createKey(org: "org_b", scopes: "admin")
        func get(_ path: String, _ key: String?) async throws -> TestResponse {
            try await HTTP.request(d.baseURL + path, headers: key.map { [("Authorization", "Bearer \($0)")] } ?? [])
        }

        #expect(try await get("/v1/prices", nil).status == 401)
        #expect(try await get("/v1/prices", writer).errorCode == "INSUFFICIENT_SCOPE")
        let list = try await get("/v1/prices", reader)
        #expect(list.status == 200)
        let data = try #require(try list.strict["data"])
        #expect(data["current_version"]?.intValue == 2)
        let versions = data["versions"]?.arrayValue ?? []
        #expect(versions.map { $0["version"]?.intValue ?? -1 } == [1, 2])
        #expect(versions[1]["origin"]?.stringValue == "imported" && versions[1]["entries"]?.intValue == 1)
        #expect(versions[1]["imported_at"]?.stringValue == "2027-01-15T08:00:00.000Z" && versions[0]["current"]?.boolValue == false)

        let table = try await get("/v1/prices/2", admin)
        #expect(table.status == 200)
        let prices = try table.strict["data"]?["prices"]?.arrayValue ?? []
        #expect(prices.count == 1 && prices[0]["output_per_1k"]?.stringValue == "0.008")
        #expect(try await get("/v1/prices/1", reader).strict["data"]?["prices"]?.arrayValue?.count == PriceTable.builtIn.entries.count)
        let notFound = try await get("/v1/prices/77", reader)
        #expect(notFound.status == 404 && notFound.errorCode == "NOT_FOUND")
        for bad in ["abc", "-1", "1.5", "99999999999999999999"] {
            let r = try await get("/v1/prices/" + bad, reader)
            #expect(r.status == 400 && r.errorCode == "INVALID_PARAMETER", "\(bad): \(r.body)")
        }

        // The audit trail needs admin and shows only the key's org.
        #expect(try await get("/v1/audit", reader).errorCode == "INSUFFICIENT_SCOPE")
        let audit = try await get("/v1/audit", admin)
        #expect(audit.status == 200)
        let rows = try audit.strict["data"]?.arrayValue ?? []
        #expect(rows.count == 1)
        #expect(rows.first?["org_id"]?.stringValue == "org_a" && rows.first?["price_version"]?.intValue == 2)
        #expect(rows.first?["repriced_events"]?.intValue == report.changedEvents && rows.first?["id"]?.intValue == Int(report.auditID ?? -1))
        #expect(rows.first?["old_total_cost"]?.numberText == report.oldTotal.description)
        #expect(rows.first?["new_total_cost"]?.numberText == report.newTotal.description)
        #expect(try await get("/v1/audit", adminB).strict["data"]?.arrayValue?.count == 0)

        // POST /v1/reprice: admin only, bad bodies name the field, nothing changes on a dry run.
        func post(_ body: String, _ key: String) async throws -> TestResponse {
            try await HTTP.request(d.baseURL + "/v1/reprice", method: "POST",
                                   headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")], body: Array(body.utf8))
        }
        let range = "\"from\":\"2026-10-01\",\"to\":\"2026-11-30T00:00:00Z\""
        #expect(try await post("{\(range)}", reader).errorCode == "INSUFFICIENT_SCOPE")
        for (body, field) in [("{\"from\":\"yesterday\",\"to\":\"2026-11-30\"}", "from"), ("{\"from\":\"2026-10-01\"}", "to"),
                              ("{\(range),\"bogus\":1}", "bogus"), ("{\(range),\"price_version\":\"2\"}", "price_version"),
                              ("{\(range),\"price_version\":99}", "price_version"), ("{\(range),\"dry_run\":1}", "dry_run"),
                              ("{\"from\":\"2026-11-30\",\"to\":\"2026-10-01\"}", "to"), ("[1]", "body")] {
            let r = try await post(body, admin)
            #expect(r.status == 400 && r.errorCode == "VALIDATION_ERROR" && (try? r.strict["error"]?["field"]?.stringValue) == field, "\(body): \(r.body)")
        }
        #expect(try await post("{\"from\":", admin).errorCode == "INVALID_REQUEST")
        let storedBefore = try await d.storedEvents(org: "org_a")
        let dry = try await post("{\(range),\"price_version\":1,\"dry_run\":true}", admin)
        #expect(dry.status == 200, "\(dry.body)")
        let dryData = try #require(try dry.strict["data"])
        #expect(dryData["dry_run"]?.boolValue == true && (dryData["repriced_events"]?.intValue ?? 0) > 0 && dryData["audit_id"]?.intValue == nil)
        #expect(try await d.storedEvents(org: "org_a") == storedBefore)
        let run = try await post("{\(range),\"price_version\":1}", admin)
        #expect(run.status == 200, "\(run.body)")
        let runData = try #require(try run.strict["data"])
        #expect(runData["repriced_events"]?.intValue == dryData["repriced_events"]?.intValue)
        #expect(runData["new_total_cost"]?.numberText == dryData["new_total_cost"]?.numberText)
        let trail = try await get("/v1/audit", admin).strict["data"]?.arrayValue ?? []
        #expect(trail.count == 2 && trail.last?["actor"]?.stringValue == "key:" + adminID && trail.last?["price_version"]?.intValue == 1)

        // Queries of the daemon answer with the new costs.
        let usage = try await get("/v1/usage?start_date=2026-10-20&end_date=2026-11-05", reader)
        let expected = (try await d.storedEvents(org: "org_a")).reduce(MoneySum.zero) { $0 + MoneySum($1.totalCost) }
        #expect(try usage.strict["data"]?["total_cost"]?.numberText == expected.description)
        try await d.stop()
    }
}
