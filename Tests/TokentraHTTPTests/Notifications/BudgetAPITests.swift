import Alerts
import Foundation
import Logging
import Rollups
import SegmentStore
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

/// `/v1/budgets` over the real HTTP server: CRUD, validation, org isolation, exact spend in UTC
/// and a non-UTC zone, and the forecast on a linear series.
@Suite(.serialized) struct BudgetAPITests {
    /// 2026-11-20T12:00:00Z, the daemon's (fixed) clock in these tests.
    static let now: Int64 = 1_795_176_000_000

    static func start() async throws -> (TestDaemon, String, String) {
        let d = try await TestDaemon.start(wallClock: { BudgetAPITests.now })
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let other = try d.createKey(org: "org_b", scopes: "admin").key
        return (d, admin, other)
    }

    @Test func crudValidationAndOrgIsolation() async throws {
        let (d, key, other) = try await Self.start()
        let base = d.baseURL
        let created = try await API.call(base, key, "POST", "/v1/budgets",
                                         body: #"{"name":"Engineering","amount":5000.00,"period":"monthly","team_id":"team_eng","hard_limit":true}"#)
        #expect(created.status == 201)
        let b = created.json["data"]!
        let id = b["id"]!.stringValue!
        #expect(id.hasPrefix("budget_"))
        #expect(b["amount"]!.numberText == "5000")
        #expect(b["alert_thresholds"]! == .array([.number("50"), .number("80"), .number("100")]))
        #expect(b["scope"]!["team_id"]!.stringValue == "team_eng")
        #expect(b["current_spend"]!.numberText == "0")
        #expect(b["period_start"]!.stringValue == "2026-11-01T00:00:00.000Z")
        #expect(b["period_end"]!.stringValue == "2026-12-01T00:00:00.000Z")

        // Bad input: 400 naming the field; nothing stored.
        let bad: [(String, String)] = [
            (#"{"name":"x","amount":-5,"period":"monthly"}"#, "amount"),
            (#"{"name":"x","amount":0,"period":"monthly"}"#, "amount"),
            (#"{"name":"x","amount":"1e400","period":"monthly"}"#, "amount"),
            (#"{"name":"x","amount":1.00000000001,"period":"monthly"}"#, "amount"),
            (#"{"name":"x","amount":10,"period":"yearly"}"#, "period"),
            (#"{"name":"x","amount":10,"period":"monthly","alert_thresholds":[50,1001]}"#, "alert_thresholds[1]"),
            (#"{"name":"x","amount":10,"period":"monthly","alert_thresholds":[50,50]}"#, "alert_thresholds[1]"),
            (#"{"name":"x","amount":10,"period":"monthly","alert_thresholds":[]}"#, "alert_thresholds"),
            (#"{"name":"x","amount":10,"period":"monthly","scope":{"region":"eu"}}"#, "scope.region"),
            (#"{"name":"x","amount":10,"period":"monthly","team_id":"a","project_id":"b"}"#, "project_id"),
            (#"{"name":"x","amount":10,"period":"monthly","colour":"red"}"#, "colour"),
            (#"{"name":"x","amount":10,"period":"monthly","time_zone":"Mars/Olympus"}"#, "time_zone"),
            (#"{"name":"x","amount":10,"period":"monthly","hard_limit":"yes"}"#, "hard_limit"),
            (#"{"amount":10,"period":"monthly"}"#, "name"),
            (#"{"name":"","amount":10,"period":"monthly"}"#, "name"),
            ("[1,2]", "body"),
        ]
        for (body, field) in bad {
            let r = try await API.call(base, key, "POST", "/v1/budgets", body: body)
            #expect(r.status == 400, "\(body)")
            #expect(r.json["error"]?["code"]?.stringValue == "VALIDATION_ERROR", "\(body)")
            #expect(r.json["error"]?["field"]?.stringValue == field, "\(body): \(r.text)")
        }
        let malformed = try await API.call(base, key, "POST", "/v1/budgets", body: #"{"name":"x","amount":NaN}"#)
        #expect(malformed.status == 400)
        let huge = try await API.call(base, key, "POST", "/v1/budgets", body: #"{"name":""# + String(repeating: "a", count: 10 << 20) + #"","amount":1,"period":"daily"}"#)
        #expect(huge.status == 413)
        #expect(huge.json["error"]?["code"]?.stringValue == "PAYLOAD_TOO_LARGE")
        let longName = try await API.call(base, key, "POST", "/v1/budgets", body: #"{"name":""# + String(repeating: "a", count: 300) + #"","amount":1,"period":"daily"}"#)
        #expect(longName.status == 400)
        #expect(longName.json["error"]?["field"]?.stringValue == "name")
        #expect(try d.index.budgets(orgID: nil).count == 1)

        // Another org sees nothing and can change nothing.
        for (method, body) in [("GET", nil), ("PATCH", #"{"amount":1}"#), ("DELETE", nil)] as [(String, String?)] {
            let r = try await API.call(base, other, method, "/v1/budgets/" + id, body: body)
            #expect(r.status == 404, "\(method)")
            #expect(r.json["error"]?["code"]?.stringValue == "NOT_FOUND")
        }
        let otherList = try await API.call(base, other, "GET", "/v1/budgets")
        #expect(otherList.json["data"]!.arrayValue!.isEmpty)
        #expect(try d.index.budget(id: id, orgID: "org_a")?.amountUnits == 5000 * 10_000_000_000)

        // PATCH changes only what it names; scope null makes it org-wide.
        let patched = try await API.call(base, key, "PATCH", "/v1/budgets/" + id, body: #"{"amount":"1234.5678901234","scope":null,"alert_thresholds":[90,25]}"#)
        #expect(patched.status == 200)
        #expect(patched.json["data"]!["amount"]!.numberText == "1234.5678901234")
        #expect(patched.json["data"]!["scope"]!.isNull)
        #expect(patched.json["data"]!["alert_thresholds"]! == .array([.number("25"), .number("90")]))
        #expect(patched.json["data"]!["name"]!.stringValue == "Engineering")
        let badPatch = try await API.call(base, key, "PATCH", "/v1/budgets/" + id, body: #"{"amount":-1}"#)
        #expect(badPatch.status == 400)
        #expect(try d.index.budget(id: id, orgID: "org_a")?.amountUnits == 12_345_678_901_234)

        // A read key may list, not write.
        let reader = try d.createKey(org: "org_a", scopes: "usage:read").key
        #expect(try await API.call(base, reader, "GET", "/v1/budgets").status == 200)
        #expect(try await API.call(base, reader, "DELETE", "/v1/budgets/" + id).status == 403)

        let put = try await API.call(base, key, "PUT", "/v1/budgets/" + id, body: "{}")
        #expect(put.status == 405)
        #expect(put.json["error"]?["code"]?.stringValue == "METHOD_NOT_ALLOWED")
        let deleted = try await API.call(base, key, "DELETE", "/v1/budgets/" + id)
        #expect(deleted.status == 200)
        #expect(try await API.call(base, key, "GET", "/v1/budgets/" + id).status == 404)
        try await d.stop()
    }

    /// Exact spend: a Decimal sum of the events inside the period in the budget's zone and scope.
    @Test func spendIsExactInUTCAndTokyo() async throws {
        let (d, key, _) = try await Self.start()
        let ingestKey = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let events: [(String, String, String, String?)] = [
            ("e1", "2026-10-31T14:30:00Z", "1.0000000001", "web"),   // October in Tokyo and in UTC
            ("e2", "2026-10-31T15:30:00Z", "2.2222222222", "web"),   // November in Tokyo, October in UTC
            ("e3", "2026-11-19T10:00:00Z", "0.0000000007", "web"),
            ("e4", "2026-11-19T11:00:00Z", "123.4567890123", "api"),
            ("e5", "2026-11-20T11:59:59Z", "0.3333333333", nil),
            ("e6", "2026-11-19T18:00:00Z", "0.0000000010", nil),     // Nov 19 in Kolkata, Nov 20 in Tokyo
            ("e7", "2026-11-19T18:45:00Z", "5.5", nil),              // Nov 20 in Kolkata and Tokyo
        ]
        _ = try await API.ingest(d.baseURL, ingestKey, events.map { API.event($0.0, $0.1, cost: $0.2, team: $0.3) })
        func create(_ body: String) async throws -> String {
            let r = try await API.call(d.baseURL, key, "POST", "/v1/budgets", body: body)
            #expect(r.status == 201, "\(r.text)")
            return r.json["data"]!["id"]!.stringValue!
        }
        let utc = try await create(#"{"name":"utc","amount":100,"period":"monthly"}"#)
        let tokyo = try await create(#"{"name":"tokyo","amount":100,"period":"monthly","time_zone":"Asia/Tokyo"}"#)
        let tokyoWeb = try await create(#"{"name":"tokyo web","amount":100,"period":"monthly","time_zone":"Asia/Tokyo","team_id":"web"}"#)
        let tokyoDay = try await create(#"{"name":"tokyo day","amount":100,"period":"daily","time_zone":"Asia/Tokyo"}"#)
        // A half-hour zone: Kolkata's Nov 20 is [Nov 19 18:30Z, Nov 20 18:30Z) (edges answered from raw segments).
        let kolkataDay = try await create(#"{"name":"kolkata day","amount":100,"period":"daily","time_zone":"Asia/Kolkata"}"#)
        func reference(_ ids: Set<String>) -> Decimal {
            events.filter { ids.contains($0.0) }.reduce(Decimal(0)) { $0 + Decimal(string: $1.2)! }
        }
        let expected: [(String, Decimal, String, String)] = [
            (utc, reference(["e3", "e4", "e5", "e6", "e7"]), "2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z"),
            (tokyo, reference(["e2", "e3", "e4", "e5", "e6", "e7"]), "2026-10-31T15:00:00.000Z", "2026-11-30T15:00:00.000Z"),
            (tokyoWeb, reference(["e2", "e3"]), "2026-10-31T15:00:00.000Z", "2026-11-30T15:00:00.000Z"),
            // Tokyo's Nov 20 is [Nov 19 15:00Z, Nov 20 15:00Z).
            (tokyoDay, reference(["e5", "e6", "e7"]), "2026-11-19T15:00:00.000Z", "2026-11-20T15:00:00.000Z"),
            (kolkataDay, reference(["e5", "e7"]), "2026-11-19T18:30:00.000Z", "2026-11-20T18:30:00.000Z"),
        ]
        // Before any seal (memtable), then after a seal (raw segments), then after a rollup.
        for stage in ["unsealed", "sealed", "rolled up"] {
            if stage == "sealed" { _ = try await d.store.flush() }
            if stage == "rolled up" { _ = try await RollupEngine(store: d.store, logger: Logger(label: "test")).run(now: Self.now) }
            for (id, ref, start, end) in expected {
                let r = try await API.call(d.baseURL, key, "GET", "/v1/budgets/" + id)
                let b = r.json["data"]!
                #expect(Decimal(string: b["current_spend"]!.numberText!) == ref, "\(stage) \(b["name"]!): \(b["current_spend"]!) vs \(ref)")
                #expect(b["period_start"]!.stringValue == start)
                #expect(b["period_end"]!.stringValue == end)
            }
        }
        // The exact text too: 2.2222222222 + 0.0000000007 + 123.4567890123 + 0.3333333333 + 0.000000001 + 5.5.
        let r = try await API.call(d.baseURL, key, "GET", "/v1/budgets/" + tokyo)
        #expect(r.json["data"]!["current_spend"]!.numberText == "131.5123445695")
        #expect(r.json["data"]!["percentage_used"]!.numberText == "131.51")
        #expect(r.json["data"]!["exceeded"]!.boolValue == true)
        try await d.stop()
    }

    /// 0.5 USD every hour since midnight: at 12:00 the spend is 6, the forecast 12 (the run rate
    /// over the whole day) and the run rate reaches the amount 10 at 20:00.
    @Test func forecastOfALinearSeries() async throws {
        let (d, key, _) = try await Self.start()
        let ingestKey = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let events = (0..<12).map { h in API.event("lin\(h)", "2026-11-20T\(h < 10 ? "0" : "")\(h):30:00Z", cost: "0.5") }
        _ = try await API.ingest(d.baseURL, ingestKey, events)
        let r = try await API.call(d.baseURL, key, "POST", "/v1/budgets", body: #"{"name":"daily","amount":10,"period":"daily"}"#)
        let b = r.json["data"]!
        #expect(b["current_spend"]!.numberText == "6")
        #expect(b["percentage_used"]!.numberText == "60")
        #expect(b["forecast_spend"]!.numberText == "12")
        #expect(b["forecast_exceeds_at"]!.stringValue == "2026-11-20T20:00:00.000Z")
        // A monthly budget of 20 days elapsed: 6 × 30 / 19.5 days = 9.2307692307 (rounded down).
        let m = try await API.call(d.baseURL, key, "POST", "/v1/budgets", body: #"{"name":"monthly","amount":100,"period":"monthly"}"#)
        #expect(m.json["data"]!["forecast_spend"]!.numberText == "9.2307692307")
        #expect(m.json["data"]!["forecast_exceeds_at"]!.isNull)
        try await d.stop()
    }

    /// A late event for yesterday, arriving in the first 24 h of today and not sealed yet, still
    /// emits yesterday's crossing — once. (Later periods: BudgetEvaluationTests.)
    @Test func lateEventCrossesThePreviousPeriodOnce() async throws {
        let clock = SettableClock(Self.now)
        let d = try await TestDaemon.start({ $0.maxEventAgeDays = 0 }, wallClock: { clock.now })
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let b = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"d","amount":"1","period":"daily","alert_thresholds":[100]}"#)
        let id = b.json["data"]!["id"]!.stringValue!
        _ = try await API.ingest(d.baseURL, sdk, [API.event("y1", "2026-11-20T11:00:00Z", cost: "0.5")])
        #expect(try await d.daemon.evaluator.run(nowMs: clock.now).budgetEvents == 0)  // 50 %, forecast exactly 1 (not over)
        clock.set(Self.now + 13 * 3_600_000)  // Nov 21 01:00
        _ = try await API.ingest(d.baseURL, sdk, [API.event("y2", "2026-11-20T23:30:00Z", cost: "0.5")])
        #expect(try await d.daemon.evaluator.run(nowMs: clock.now).budgetEvents == 1)
        #expect(try await d.daemon.evaluator.run(nowMs: clock.now).budgetEvents == 0)
        let crossings = try d.index.budgetCrossings(budgetID: id, orgID: "org_a")
        #expect(crossings.map(\.threshold) == [100])
        #expect(crossings.map { UTCTimestamp.format($0.periodStart) } == ["2026-11-20T00:00:00.000Z"])
        let event = try StrictJSON.parse(d.index.notificationEvents(orgID: "org_a")[0].body)
        #expect(event["type"]!.stringValue == "budget.exceeded")
        #expect(event["data"]!["current_spend"]!.numberText == "1")
        #expect(event["data"]!["period_end"]!.stringValue == "2026-11-21T00:00:00.000Z")
        // Two days later an event under the threshold emits nothing, and Nov 20 is not notified again.
        clock.set(Self.now + 60 * 3_600_000)
        _ = try await API.ingest(d.baseURL, sdk, [API.event("y3", "2026-11-22T00:30:00Z", cost: "0.1")])
        #expect(try await d.daemon.evaluator.run(nowMs: clock.now).budgetEvents == 0)
        try await d.stop()
    }
}
