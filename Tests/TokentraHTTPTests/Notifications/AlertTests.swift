import Alerts
import Foundation
import Synchronization
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

/// A wall clock the test moves.
final class SettableClock: Sendable {
    let ms: Mutex<Int64>
    init(_ start: Int64) { ms = Mutex(start) }
    var now: Int64 { ms.withLock { $0 } }
    func set(_ v: Int64) { ms.withLock { $0 = v } }
}

/// `/v1/alerts` and the evaluation of every alert type after a rollup cycle (the evaluator the
/// daemon runs), with triggered/resolved transitions, cooldown and history.
@Suite(.serialized) struct AlertTests {
    static let hour: Int64 = 3_600_000
    /// 2026-11-20T12:00:00Z.
    static let noon: Int64 = 1_795_176_000_000

    static func start(_ clock: SettableClock) async throws -> (TestDaemon, String, String) {
        let d = try await TestDaemon.start({ $0.maxEventAgeDays = 0 }, wallClock: { clock.now })
        return (d, try d.createKey(org: "org_a", scopes: "admin").key, try d.createKey(org: "org_a", scopes: "sdk:write").key)
    }

    static func ts(_ ms: Int64) -> String { UTCTimestamp.format(ms) }

    static func create(_ d: TestDaemon, _ key: String, _ body: String) async throws -> String {
        let r = try await API.call(d.baseURL, key, "POST", "/v1/alerts", body: body)
        guard r.status == 201 else { throw TestFailure("create alert: \(r.status) \(r.text)") }
        return r.json["data"]!["id"]!.stringValue!
    }

    static func alert(_ d: TestDaemon, _ key: String, _ id: String) async throws -> StrictJSON {
        try await API.call(d.baseURL, key, "GET", "/v1/alerts/" + id).json["data"]!
    }

    static func history(_ d: TestDaemon, _ key: String, _ id: String) async throws -> [StrictJSON] {
        try await API.call(d.baseURL, key, "GET", "/v1/alerts/\(id)/history").json["data"]!.arrayValue!.reversed()
    }

    @Test func crudValidationAndOrgIsolation() async throws {
        let clock = SettableClock(Self.noon)
        let (d, key, _) = try await Self.start(clock)
        let other = try d.createKey(org: "org_b", scopes: "admin").key
        let bad: [(String, String)] = [
            (#"{"name":"x","type":"nope","threshold":1}"#, "type"),
            (#"{"name":"x","type":"spend_threshold"}"#, "threshold"),
            (#"{"name":"x","type":"spend_threshold","threshold":-1}"#, "threshold"),
            (#"{"name":"x","type":"error_rate","threshold":1.5}"#, "threshold"),
            (#"{"name":"x","type":"budget_warning","threshold":80}"#, "budget_id"),
            (#"{"name":"x","type":"budget_warning","threshold":80,"budget_id":"budget_nope"}"#, "budget_id"),
            (#"{"name":"x","type":"latency","threshold":100,"percentile":90}"#, "percentile"),
            (#"{"name":"x","type":"latency","threshold":100,"window_minutes":45}"#, "window_minutes"),
            (#"{"name":"x","type":"anomaly","cooldown_minutes":-5}"#, "cooldown_minutes"),
            (#"{"name":"x","type":"anomaly","scope":{"colour":"red"}}"#, "scope.colour"),
            (#"{"name":"x","type":"anomaly","channels":["email"]}"#, "channels[0]"),  // the only channel is webhook
        ]
        for (body, field) in bad {
            let r = try await API.call(d.baseURL, key, "POST", "/v1/alerts", body: body)
            #expect(r.status == 400, "\(body)")
            #expect(r.json["error"]?["field"]?.stringValue == field, "\(body): \(r.text)")
        }
        let id = try await Self.create(d, key, #"{"name":"Daily spend","type":"spend_threshold","threshold":500.00,"period":"daily","team_id":"web"}"#)
        let a = try await Self.alert(d, key, id)
        #expect(a["threshold"]!.numberText == "500")
        #expect(a["state"]!.stringValue == "ok")
        #expect(a["cooldown_minutes"]!.intValue == 60)
        #expect(a["scope"]!["team_id"]!.stringValue == "web")
        for (m, path, body) in [("GET", "", nil), ("PATCH", "", #"{"enabled":false}"#), ("DELETE", "", nil), ("GET", "/history", nil)] as [(String, String, String?)] {
            #expect(try await API.call(d.baseURL, other, m, "/v1/alerts/" + id + path, body: body).status == 404, "\(m) \(path)")
        }
        let patched = try await API.call(d.baseURL, key, "PATCH", "/v1/alerts/" + id, body: #"{"threshold":"750.5","cooldown_minutes":5}"#)
        #expect(patched.json["data"]!["threshold"]!.numberText == "750.5")
        #expect(patched.json["data"]!["cooldown_minutes"]!.intValue == 5)
        let typeChange = try await API.call(d.baseURL, key, "PATCH", "/v1/alerts/" + id, body: #"{"type":"anomaly"}"#)
        #expect(typeChange.status == 400)
        #expect(try await API.call(d.baseURL, key, "DELETE", "/v1/alerts/" + id).status == 200)
        #expect(try await API.call(d.baseURL, key, "GET", "/v1/alerts/" + id).status == 404)
        try await d.stop()
    }

    /// spend_threshold: triggered, resolved in the next period, held back by its cooldown, then fired again.
    @Test func spendThresholdTransitionsAndCooldown() async throws {
        let clock = SettableClock(Self.noon)
        let (d, key, sdk) = try await Self.start(clock)
        _ = try await API.ingest(d.baseURL, sdk, [API.event("s1", Self.ts(Self.noon - 2 * Self.hour), cost: "3"),
                                                  API.event("s2", Self.ts(Self.noon - Self.hour), cost: "3.0000000001")])
        let id = try await Self.create(d, key, #"{"name":"daily","type":"spend_threshold","threshold":6,"period":"daily","cooldown_minutes":1440}"#)
        let ev = d.daemon.evaluator
        #expect(try await ev.run(nowMs: clock.now).alertTransitions == 1)
        #expect(try await ev.run(nowMs: clock.now).alertTransitions == 0)  // still triggered: no second event
        var a = try await Self.alert(d, key, id)
        #expect(a["state"]!.stringValue == "triggered")
        #expect(a["last_value"]!.numberText == "6.0000000001")
        // Next day (00:30 UTC): spend 0 → resolved.
        clock.set(Self.noon + 12 * Self.hour + Self.hour / 2)
        #expect(try await ev.run(nowMs: clock.now).alertTransitions == 1)
        // 7 USD more at 00:40, evaluated at 01:00: over the threshold but inside the 24 h cooldown → nothing.
        _ = try await API.ingest(d.baseURL, sdk, [API.event("s3", Self.ts(Self.noon + 12 * Self.hour + 40 * 60_000), cost: "7")])
        clock.set(Self.noon + 13 * Self.hour)
        #expect(try await ev.run(nowMs: clock.now).alertTransitions == 0)
        a = try await Self.alert(d, key, id)
        #expect(a["state"]!.stringValue == "ok")
        #expect(a["last_value"]!.numberText == "7")
        // 24 h after the first trigger: fires again.
        clock.set(Self.noon + 24 * Self.hour + 60_000)
        #expect(try await ev.run(nowMs: clock.now).alertTransitions == 1)
        let h = try await Self.history(d, key, id)
        #expect(h.map { $0["kind"]!.stringValue! } == ["triggered", "resolved", "triggered"])
        #expect(h.map { $0["value"]!.numberText ?? "null" } == ["6.0000000001", "0", "7"])
        let events = try d.index.notificationEvents(orgID: "org_a").reversed().map(\.type)
        #expect(events == ["alert.triggered", "alert.resolved", "alert.triggered"])
        let body = try StrictJSON.parse(try d.index.notificationEvents(orgID: "org_a").last!.body)
        #expect(body["data"]!["alert_id"]!.stringValue == id)
        #expect(body["data"]!["current_value"]!.numberText == "6.0000000001")
        #expect(body["data"]!["threshold"]!.numberText == "6")
        try await d.stop()
    }

    /// budget_warning and forecast follow their budget exactly.
    @Test func budgetWarningAndForecast() async throws {
        let clock = SettableClock(Self.noon)
        let (d, key, sdk) = try await Self.start(clock)
        let b = try await API.call(d.baseURL, key, "POST", "/v1/budgets", body: #"{"name":"m","amount":10,"period":"monthly","status":"paused"}"#)
        let budgetID = b.json["data"]!["id"]!.stringValue!
        let warn = try await Self.create(d, key, API.object { $0.field("name", "w"); $0.field("type", "budget_warning"); $0.field("threshold", raw: "60"); $0.field("budget_id", budgetID) })
        let fc = try await Self.create(d, key, API.object { $0.field("name", "f"); $0.field("type", "forecast"); $0.field("budget_id", budgetID) })
        _ = try await API.ingest(d.baseURL, sdk, [API.event("b1", Self.ts(Self.noon - Self.hour), cost: "5.9999999999")])
        _ = try await d.daemon.evaluator.run(nowMs: clock.now)
        #expect(try await Self.alert(d, key, warn)["state"]!.stringValue == "ok")
        #expect(try await Self.alert(d, key, fc)["state"]!.stringValue == "ok")  // forecast 9.2307692306 < 10
        _ = try await API.ingest(d.baseURL, sdk, [API.event("b2", Self.ts(Self.noon - Self.hour), cost: "0.0000000001")])
        _ = try await d.daemon.evaluator.run(nowMs: clock.now)
        #expect(try await Self.alert(d, key, warn)["state"]!.stringValue == "triggered")  // exactly 60 %
        #expect(try await Self.alert(d, key, warn)["last_value"]!.numberText == "60")
        _ = try await API.ingest(d.baseURL, sdk, [API.event("b3", Self.ts(Self.noon - Self.hour), cost: "0.5")])
        _ = try await d.daemon.evaluator.run(nowMs: clock.now)
        // forecast 6.5 × 30 / 19.5 = 10 → 100 %.
        #expect(try await Self.alert(d, key, fc)["state"]!.stringValue == "triggered")
        #expect(try await Self.alert(d, key, fc)["last_value"]!.numberText == "100")
        // The paused budget itself emitted nothing; the alerts did.
        #expect(try d.index.notificationEvents(orgID: "org_a").map(\.type) == ["alert.triggered", "alert.triggered"])
        try await d.stop()
    }

    /// anomaly (z-score of today vs 30 daily totals), rate_spike, error_rate and latency (merged digests).
    @Test func anomalyRateSpikeErrorRateLatency() async throws {
        let clock = SettableClock(Self.noon)
        let (d, key, sdk) = try await Self.start(clock)
        let dayStart = Self.noon - 12 * Self.hour
        // anomaly, team "hist": 30 previous days of 1 or 2 USD (mean 1.5, sd 0.5), today 10 → z = 17.
        var events = (1...30).map { i in API.event("h\(i)", Self.ts(dayStart - Int64(i) * 24 * Self.hour + Self.hour), cost: i % 2 == 0 ? "1" : "2", team: "hist") }
        events.append(API.event("h0", Self.ts(dayStart + Self.hour), cost: "10", team: "hist"))
        // rate_spike, team "rate": 1 USD in each of the 24 hours before the last one, 5 USD in the last hour.
        for i in 2...25 { events.append(API.event("r\(i)", Self.ts(Self.noon - Int64(i) * Self.hour + 60_000), cost: "1", team: "rate")) }
        events.append(API.event("r1", Self.ts(Self.noon - Self.hour + 60_000), cost: "5", team: "rate"))
        // error_rate and latency, model "m-err": 4 requests in the current hour, 1 error, latency 1000/1000/1000/4000.
        for (i, (err, lat)) in [(true, 1000), (false, 1000), (false, 1000), (false, 4000)].enumerated() {
            events.append(API.event("e\(i)", Self.ts(Self.noon - 60_000 * Int64(i + 1)), cost: "0.01", model: "m-err", isError: err, latency: lat))
        }
        for chunk in stride(from: 0, to: events.count, by: 50) {
            _ = try await API.ingest(d.baseURL, sdk, Array(events[chunk..<min(chunk + 50, events.count)]))
        }
        let anomaly = try await Self.create(d, key, #"{"name":"a","type":"anomaly","team_id":"hist"}"#)
        let quiet = try await Self.create(d, key, #"{"name":"q","type":"anomaly","threshold":18,"team_id":"hist"}"#)
        let spike = try await Self.create(d, key, #"{"name":"r","type":"rate_spike","threshold":5,"team_id":"rate"}"#)
        let errors = try await Self.create(d, key, #"{"name":"e","type":"error_rate","threshold":0.25,"model":"m-err"}"#)
        let p99 = try await Self.create(d, key, #"{"name":"l","type":"latency","threshold":3000,"percentile":99,"model":"m-err"}"#)
        let p95low = try await Self.create(d, key, #"{"name":"l2","type":"latency","threshold":5000,"percentile":95,"model":"m-err"}"#)
        let outcome = try await d.daemon.evaluator.run(nowMs: clock.now)
        #expect(outcome.failures == 0)
        #expect(outcome.alertsEvaluated == 6)
        func state(_ id: String) async throws -> (String, String?) {
            let a = try await Self.alert(d, key, id)
            return (a["state"]!.stringValue!, a["last_value"]!.numberText)
        }
        #expect(try await state(anomaly) == ("triggered", "17"))
        #expect(try await state(quiet) == ("ok", "17"))
        #expect(try await state(spike) == ("triggered", "5"))
        #expect(try await state(errors) == ("triggered", "0.25"))
        let (p99State, p99Value) = try await state(p99)
        #expect(p99State == "triggered")
        #expect(Double(p99Value!)! > 3000 && Double(p99Value!)! <= 4000)
        #expect(try await state(p95low).0 == "ok")
        // Two hours later the error window is empty and the spike is over: both resolve.
        clock.set(Self.noon + 2 * Self.hour)
        _ = try await d.daemon.evaluator.run(nowMs: clock.now)
        #expect(try await state(errors).0 == "ok")
        #expect(try await state(spike).0 == "ok")
        #expect(try await Self.history(d, key, errors).map { $0["kind"]!.stringValue! } == ["triggered", "resolved"])
        try await d.stop()
    }
}
