import Alerts
import Foundation
import SegmentStore
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

/// Budget evaluation beyond the current period: late events for any past period, and budgets
/// whose amount or thresholds change mid-period. Asserted on the stored events (whichever
/// evaluation — the test's or the daemon's own cycle — emitted them).
@Suite(.serialized) struct BudgetEvaluationTests {
    static let now = BudgetAPITests.now  // 2026-11-20T12:00:00Z
    static let hour: Int64 = 3_600_000

    /// (type, threshold, amount, current_spend) of the budget events of `org`, oldest first.
    static func budgetEvents(_ d: TestDaemon, _ org: String = "org_a") throws -> [(String, Int, String, String, String)] {
        try d.index.notificationEvents(orgID: org, limit: 1000).reversed().compactMap { e in
            guard e.type != "budget.forecast" else { return nil }
            let j = try StrictJSON.parse(e.body)
            let data = j["data"]!
            return (e.type, data["threshold"]!.intValue!, data["amount"]!.numberText!, data["current_spend"]!.numberText!,
                    data["period_start"]!.stringValue!)
        }
    }

    /// An event for a day that ended 49 h ago (well past the 24 h grace of the previous period)
    /// emits that day's crossing once the seal marks its hour; a day before the budget existed emits nothing.
    @Test func lateEventForAnyPastPeriodEmitsItsCrossingOnce() async throws {
        let clock = SettableClock(Self.now)
        let d = try await TestDaemon.start({ $0.maxEventAgeDays = 0 }, wallClock: { clock.now })
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let b = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"d","amount":"1","period":"daily","alert_thresholds":[100]}"#)
        let id = b.json["data"]!["id"]!.stringValue!
        _ = try await API.ingest(d.baseURL, sdk, [API.event("l1", "2026-11-20T11:00:00Z", cost: "0.5")])
        _ = try await d.daemon.evaluator.run(nowMs: clock.now)
        #expect(try Self.budgetEvents(d).isEmpty)

        clock.set(Self.now + 61 * Self.hour)  // 2026-11-23T01:00Z
        _ = try await API.ingest(d.baseURL, sdk, [
            API.event("l2", "2026-11-20T23:30:00Z", cost: "0.5000000001"),
            API.event("l3", "2026-11-19T10:00:00Z", cost: "7"),  // before the budget was created: never evaluated
        ])
        _ = try await d.store.flush()
        _ = try await d.daemon.evaluator.run(nowMs: clock.now)
        _ = try await d.daemon.evaluator.run(nowMs: clock.now)
        let events = try Self.budgetEvents(d)
        // 0.5 + 0.5000000001 = 1.0000000001 ≥ 1: Nov 20 exceeded, once.
        #expect(events.map(\.0) == ["budget.exceeded"])
        #expect(events.map(\.1) == [100])
        #expect(events.map(\.3) == ["1.0000000001"])
        #expect(events.map(\.4) == ["2026-11-20T00:00:00.000Z"])
        #expect(try d.index.evaluationMarks().isEmpty)
        #expect(try d.index.budgetCrossings(budgetID: id, orgID: "org_a").map { UTCTimestamp.format($0.periodStart) } == ["2026-11-20T00:00:00.000Z"])

        // Another late event for the same day: spend grows, the threshold is not notified again.
        _ = try await API.ingest(d.baseURL, sdk, [API.event("l4", "2026-11-20T05:00:00Z", cost: "3")])
        _ = try await d.store.flush()
        _ = try await d.daemon.evaluator.run(nowMs: clock.now)
        #expect(try Self.budgetEvents(d).count == 1)
        try await d.stop()
    }

    /// Lowering the amount below the spend notifies every threshold reached at the new amount,
    /// once; raising it repeats none; a threshold reached later at the raised amount, or added,
    /// is notified then, once.
    @Test func changingTheAmountOrThresholdsMidPeriod() async throws {
        let clock = SettableClock(Self.now)
        let d = try await TestDaemon.start(wallClock: { clock.now })
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let b = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"d","amount":"10","period":"daily"}"#)
        let id = b.json["data"]!["id"]!.stringValue!
        func patch(_ body: String) async throws {
            let r = try await API.call(d.baseURL, admin, "PATCH", "/v1/budgets/" + id, body: body)
            #expect(r.status == 200, "\(r.text)")
        }
        func evaluateTwice() async throws {
            _ = try await d.daemon.evaluator.run(nowMs: clock.now)
            _ = try await d.daemon.evaluator.run(nowMs: clock.now)
        }
        let day = "2026-11-20T00:00:00.000Z"
        _ = try await API.ingest(d.baseURL, sdk, [API.event("c1", "2026-11-20T11:00:00Z", cost: "6")])
        try await evaluateTwice()
        var expected: [(String, Int, String, String, String)] = [("budget.warning", 50, "10", "6", day)]
        // The fixed clock gives every event the same created_at: compared as sorted lists.
        func check(_ stage: String) throws {
            let got = try Self.budgetEvents(d).map { "\($0.0) \($0.1)% of \($0.2) at \($0.3) in \($0.4)" }.sorted()
            #expect(got == expected.map { "\($0.0) \($0.1)% of \($0.2) at \($0.3) in \($0.4)" }.sorted(), "\(stage)")
        }
        try check("start")

        // 10 → 5 (spend 6 = 120 %): 50, 80 and 100 of 5, once each.
        try await patch(#"{"amount":"5"}"#)
        try await evaluateTwice()
        expected += [("budget.warning", 50, "5", "6", day), ("budget.warning", 80, "5", "6", day), ("budget.exceeded", 100, "5", "6", day)]
        try check("lowered")

        // 5 → 11 (54.5 %): 50 % of 11 is 5.5, already covered by the spend 6 notified: nothing.
        try await patch(#"{"amount":"11"}"#)
        try await evaluateTwice()
        try check("raised")

        // Spend 9 (81.8 % of 11): 80 % of 11 = 8.8 was never notified (80 % of 5 was, at spend 6).
        _ = try await API.ingest(d.baseURL, sdk, [API.event("c2", "2026-11-20T11:30:00Z", cost: "3")])
        try await evaluateTwice()
        expected += [("budget.warning", 80, "11", "9", day)]
        try check("spend grew")

        // A threshold added: 60 % of 11 = 6.6 ≤ 9, notified once; 50 and 80 not again.
        try await patch(#"{"alert_thresholds":[50,60,80,100]}"#)
        try await evaluateTwice()
        expected += [("budget.warning", 60, "11", "9", day)]
        try check("thresholds changed")

        // The same definition again changes nothing; a new scope is a new basis (no spend there).
        try await patch(#"{"amount":"11","alert_thresholds":[50,60,80,100]}"#)
        try await patch(#"{"team_id":"nobody"}"#)
        try await evaluateTwice()
        try check("same definition, new scope")
        // Every crossing is stored with the amount it was for.
        let crossings = try d.index.budgetCrossings(budgetID: id, orgID: "org_a").filter { $0.threshold != BudgetCrossing.forecastThreshold }
        #expect(crossings.map { "\($0.threshold)@\($0.amountUnits / 10_000_000_000)" }.sorted() == ["100@5", "50@10", "50@5", "60@11", "80@11", "80@5"])
        try await d.stop()
    }
}
