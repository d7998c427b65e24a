import Foundation
import Testing
import TokentraCore
import TokentraHTTP
import TokentraTestSupport

/// `GET /api/v1/sdk/config` (seed 000 §13.2).
@Suite struct SDKConfigTests {
    @Test func rateLimitsTelemetryPricesAndHardBudgets() async throws {
        let d = try await TestDaemon.start(wallClock: { BudgetAPITests.now })
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write", rateMinute: 120, rateDay: 0).key
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let otherAdmin = try d.createKey(org: "org_b", scopes: "admin").key
        let reader = try d.createKey(org: "org_a", scopes: "usage:read").key
        _ = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"hard","amount":"2","period":"daily","hard_limit":true}"#)
        _ = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"soft","amount":"1","period":"daily"}"#)
        _ = try await API.call(d.baseURL, otherAdmin, "POST", "/v1/budgets", body: #"{"name":"b's","amount":"1","period":"daily","hard_limit":true}"#)
        _ = try await API.ingest(d.baseURL, sdk, [API.event("c1", "2026-11-20T11:00:00Z", cost: "2.0000000001")])

        let r = try await HTTP.request(d.baseURL + "/api/v1/sdk/config", headers: [("Authorization", "Bearer \(sdk)")])
        #expect(r.status == 200)
        #expect(r.header("Cache-Control") == "private, max-age=60")
        let c = try StrictJSON.parse(r.body)
        #expect(c["org_id"]!.stringValue == "org_a")
        #expect(c["rate_limits"]!["per_minute"]!.intValue == 120)
        #expect(c["rate_limits"]!["per_day"]!.intValue == 0)
        #expect(c["telemetry"]!["endpoint"]!.stringValue == "/api/v1/sdk/ingest")
        #expect(c["telemetry"]!["max_batch_events"]!.intValue == 100)
        #expect(c["pricing"]!["version"]!.intValue == PriceTable.default.version)
        let inEffect = c["pricing"]!["in_effect"]!.arrayValue!
        // One entry per model: the latest one effective now.
        let models = inEffect.map { $0["provider"]!.stringValue! + "/" + $0["model"]!.stringValue! }
        #expect(Set(models).count == models.count)
        #expect(!inEffect.isEmpty)
        let budgets = c["budgets"]!.arrayValue!
        #expect(budgets.count == 1)  // only org_a's hard-limit budget
        #expect(budgets[0]["name"]!.stringValue == "hard")
        #expect(budgets[0]["current_spend"]!.numberText == "2.0000000001")
        #expect(budgets[0]["status"]!.stringValue == "exceeded")
        #expect(budgets[0]["block_requests"]!.boolValue == true)
        let denied = try await HTTP.request(d.baseURL + "/api/v1/sdk/config", headers: [("Authorization", "Bearer \(reader)")])
        #expect(denied.status == 403)
        let anonymous = try await HTTP.request(d.baseURL + "/api/v1/sdk/config")
        #expect(anonymous.status == 401)
        try await d.stop()
    }
}
