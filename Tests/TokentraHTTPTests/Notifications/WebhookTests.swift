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

/// `/v1/webhooks` and the outbox over the real HTTP server, delivering to a loopback receiver.
@Suite(.serialized) struct WebhookTests {
    static func configureFast(_ c: inout TokentraConfiguration) {
        c.webhookAllowPrivateTargets = true
        c.webhookMaxAttempts = 8
        c.webhookBackoffBaseMs = 100
        c.webhookBackoffMaxMs = 400
        c.webhookTimeoutMs = 500
        c.rollupIntervalSeconds = 1
    }

    static var today: String { String(UTCTimestamp.format(Int64(Date().timeIntervalSince1970 * 1000)).prefix(10)) }
    /// A timestamp earlier today (UTC), so a daily budget counts it.
    static func earlierToday(_ n: Int) -> String {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let dayStart = now / 86_400_000 * 86_400_000
        return UTCTimestamp.format(max(dayStart, now - 60_000) + Int64(n))
    }

    @Test func crudSecretShownOnceSSRFAndOrgIsolation() async throws {
        let d = try await TestDaemon.start()  // private targets refused (the default)
        let key = try d.createKey(org: "org_a", scopes: "admin").key
        let other = try d.createKey(org: "org_b", scopes: "admin").key
        let refused: [(String, String)] = [
            ("http://127.0.0.1:9/hook", "loopback"), ("http://[::1]/x", "loopback"), ("http://10.1.2.3/x", "private"),
            ("http://172.16.0.1/x", "private"), ("http://192.168.1.1/x", "private"), ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("http://100.64.0.1/x", "private"), ("http://0.0.0.0/x", "private"), ("http://[fe80::1]/x", "link-local"), ("http://[fd00::1]/x", "private"),
            ("http://[::ffff:127.0.0.1]/x", "loopback"), ("http://localhost:8080/x", "local host"), ("http://2130706433/x", "numeric"),
            ("https://user:pw@hooks.example.com/x", "credentials"), ("https://token@hooks.example.com/x", "credentials"),
            ("ftp://hooks.example.com/x", "http or https"), ("file:///etc/passwd", "http or https"), ("gopher://x/", "http or https"),
            ("hooks.example.com/x", "absolute"), ("https://" + String(repeating: "a", count: 3000) + ".com/", "longer"),
        ]
        for (url, reason) in refused {
            let r = try await API.call(d.baseURL, key, "POST", "/v1/webhooks", body: API.object { $0.field("url", url) })
            #expect(r.status == 400, "\(url)")
            #expect(r.json["error"]?["field"]?.stringValue == "url", "\(url)")
            #expect(r.json["error"]?["message"]?.stringValue?.contains(reason) == true, "\(url): \(r.text)")
        }
        let badEvents = try await API.call(d.baseURL, key, "POST", "/v1/webhooks", body: #"{"url":"https://hooks.example.com/x","events":["budget.warning","nope"]}"#)
        #expect(badEvents.json["error"]?["field"]?.stringValue == "events[1]")
        #expect(try d.index.webhooks(orgID: "org_a").isEmpty)

        let created = try await API.call(d.baseURL, key, "POST", "/v1/webhooks",
                                         body: #"{"url":"https://hooks.example.com/tokentra","events":["budget.exceeded"],"description":"finance"}"#)
        #expect(created.status == 201)
        let id = created.json["data"]!["id"]!.stringValue!
        let secret = created.json["data"]!["secret"]!.stringValue!
        #expect(secret.hasPrefix("whsec_") && secret.count == 46)
        #expect(try d.index.webhook(id: id, orgID: "org_a")?.secret == secret)
        let got = try await API.call(d.baseURL, key, "GET", "/v1/webhooks/" + id)
        #expect(got.json["data"]!["secret"] == nil)
        #expect(got.json["data"]!["events"]! == .array([.string("budget.exceeded")]))
        let listed = try await API.call(d.baseURL, key, "GET", "/v1/webhooks")
        #expect(listed.json["data"]![0]!["secret"] == nil)
        #expect(!listed.text.contains(secret))

        for (method, path, body) in [("GET", "", nil), ("PATCH", "", #"{"enabled":false}"#), ("DELETE", "", nil), ("GET", "/deliveries", nil),
                                     ("POST", "/deliveries/1/redeliver", nil)] as [(String, String, String?)] {
            let r = try await API.call(d.baseURL, other, method, "/v1/webhooks/" + id + path, body: body)
            #expect(r.status == 404, "\(method) \(path)")
        }
        #expect(try d.index.webhook(id: id, orgID: "org_a")?.enabled == true)

        let rotated = try await API.call(d.baseURL, key, "PATCH", "/v1/webhooks/" + id, body: #"{"rotate_secret":true,"events":["*"]}"#)
        let newSecret = rotated.json["data"]!["secret"]!.stringValue!
        #expect(newSecret != secret)
        #expect(rotated.json["data"]!["events"]! == .array([.string("*")]))
        let badPatch = try await API.call(d.baseURL, key, "PATCH", "/v1/webhooks/" + id, body: #"{"url":"http://10.0.0.1/"}"#)
        #expect(badPatch.status == 400)
        #expect(try d.index.webhook(id: id, orgID: "org_a")?.url == "https://hooks.example.com/tokentra")
        #expect(try await API.call(d.baseURL, key, "DELETE", "/v1/webhooks/" + id).status == 200)
        #expect(try await API.call(d.baseURL, key, "GET", "/v1/webhooks/" + id).status == 404)
        try await d.stop()
    }

    /// The receiver fails twice with 500, times out once, and is down across a daemon restart
    /// (and a `rollup run --rebuild` with re-evaluation): each budget crossing arrives exactly once.
    @Test func eachCrossingArrivesExactlyOnce() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        receiver.setPlan([.status(500), .status(500), .hang(milliseconds: 1500)])
        var d = try await TestDaemon.start(Self.configureFast, hooks: TokentraDaemon.Hooks())
        let dataDir = d.daemon.configuration.dataDirectory
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let hook = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks",
                                      body: API.object { $0.field("url", receiver.url); $0.field("events", strings: ["budget.warning", "budget.exceeded"]) })
        #expect(hook.status == 201)
        let hookID = hook.json["data"]!["id"]!.stringValue!
        receiver.setSecret(hook.json["data"]!["secret"]!.stringValue!)
        let budget = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"daily","amount":"1.00","period":"daily"}"#)
        let budgetID = budget.json["data"]!["id"]!.stringValue!
        // An event of another org changes nothing for this budget.
        let otherSDK = try d.createKey(org: "org_b", scopes: "sdk:write").key
        _ = try await API.ingest(d.baseURL, otherSDK, [API.event("b1", Self.earlierToday(0), cost: "5")])

        // 0.6: the 50 % crossing; delivered on the 4th attempt (500, 500, timeout, 200).
        _ = try await API.ingest(d.baseURL, sdk, [API.event("a1", Self.earlierToday(1), cost: "0.6")])
        try await eventually(20, "the 50 % event acknowledged") { receiver.acknowledged.count == 1 }
        #expect(receiver.received.map(\.attempt) == [1, 2, 3, 4])

        // The receiver goes down; 0.3 more: the 80 % crossing waits in the outbox across a restart.
        try await receiver.stop()
        _ = try await API.ingest(d.baseURL, sdk, [API.event("a2", Self.earlierToday(2), cost: "0.3")])
        try await eventually(20, "the 80 % event emitted") {
            try d.index.notificationEvents(orgID: "org_a").filter { $0.type == "budget.warning" }.count == 2
        }
        try await Task.sleep(for: .milliseconds(600))  // some refused attempts
        // The outbox holds it: depth 1, and its age shows (metrics are refreshed every 5 s).
        try await eventually(10, "outbox metrics") {
            let m = try await HTTP.request(d.baseURL + "/metrics").body
            guard m.contains("tokentra_webhook_outbox_depth 1"),
                  let line = m.split(separator: "\n").first(where: { $0.hasPrefix("tokentra_webhook_outbox_oldest_pending_age_seconds ") }),
                  let age = Double(line.split(separator: " ").last!) else { return false }
            return age > 0
        }
        try await d.stop(keepDirectory: true)
        d = try await TestDaemon.start(Self.configureFast, hooks: TokentraDaemon.Hooks(), dataDirectory: dataDir)
        // Re-running everything emits nothing new: a rebuild of every rollup and two evaluations.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try await RollupEngine(store: d.store, logger: Logger(label: "test")).run(now: now, rebuild: true)
        let again = try await d.daemon.evaluator.run(nowMs: now)
        #expect(again.budgetEvents == 0)
        #expect(try await d.daemon.evaluator.run(nowMs: now).budgetEvents == 0)
        try await receiver.start()
        try await eventually(20, "the 80 % event acknowledged after the restart") { receiver.acknowledged.count == 2 }

        // 0.2 more: spend 1.1, the 100 % crossing (budget.exceeded).
        _ = try await API.ingest(d.baseURL, sdk, [API.event("a3", Self.earlierToday(3), cost: "0.2")])
        try await eventually(20, "the 100 % event acknowledged") { receiver.acknowledged.count == 3 }
        try await Task.sleep(for: .milliseconds(2500))  // two more rollup cycles: nothing else may arrive

        // Exactly once, by id; every signature valid; the thresholds are those the spend reached.
        let acked = receiver.acknowledged
        #expect(Set(acked.map(\.eventID)).count == 3)
        let allSigned = receiver.received.allSatisfy { $0.signatureValid }
        #expect(allSigned)
        let bodies = try acked.map { try StrictJSON.parse($0.body) }
        #expect(bodies.map { $0["type"]!.stringValue! } == ["budget.warning", "budget.warning", "budget.exceeded"])
        #expect(bodies.map { $0["data"]!["threshold"]!.intValue! } == [50, 80, 100])
        #expect(bodies.map { $0["data"]!["budget_id"]!.stringValue! } == [budgetID, budgetID, budgetID])
        #expect(bodies.map { $0["id"]!.stringValue! } == acked.map(\.eventID))
        #expect(acked.map(\.eventType) == ["budget.warning", "budget.warning", "budget.exceeded"])
        // Spend 0.6 → 50 reached; 0.9 → 80; 1.1 → 100: the crossings a computation from the events gives.
        let spends: [Decimal] = [Decimal(string: "0.6")!, Decimal(string: "0.9")!, Decimal(string: "1.1")!]
        let reached = spends.map { s in [50, 80, 100].filter { Decimal($0) * Decimal(string: "0.01")! <= s } }
        #expect(reached == [[50], [50, 80], [50, 80, 100]])
        // Besides, depending on the time of day the test runs at, at most one budget.forecast (spend
        // 0.6 before 14:24 UTC or 0.9 before 21:36 runs ahead of 1.00; none in the first hour): not
        // subscribed, so never sent. The forecast itself is tested on a fixed clock in BudgetAPITests.
        let crossings = try d.index.budgetCrossings(budgetID: budgetID, orgID: "org_a").map(\.threshold)
        #expect(crossings.filter { $0 != BudgetCrossing.forecastThreshold } == [50, 80, 100])
        #expect(crossings.filter { $0 == BudgetCrossing.forecastThreshold }.count <= 1)
        let types = try d.index.notificationEvents(orgID: "org_a").map(\.type)
        #expect(types.filter { $0 != "budget.forecast" }.sorted() == ["budget.exceeded", "budget.warning", "budget.warning"])
        #expect(types.filter { $0 == "budget.forecast" }.count == crossings.filter { $0 == BudgetCrossing.forecastThreshold }.count)
        #expect(try d.index.notificationEvents(orgID: "org_b").isEmpty)

        // The delivery log says how many attempts each took.
        let log = try await API.call(d.baseURL, admin, "GET", "/v1/webhooks/\(hookID)/deliveries")
        let rows = log.json["data"]!.arrayValue!.reversed().map { $0 }
        #expect(rows.map { $0["status"]!.stringValue! } == ["delivered", "delivered", "delivered"])
        let first = rows[0]["attempt_log"]!.arrayValue!
        #expect(first.map { $0["status_code"]!.intValue ?? 0 } == [500, 500, 0, 200])
        #expect(first[2]["error"]!.stringValue!.contains("timed out"))
        #expect(rows[0]["attempts"]!.intValue == 4)
        #expect(rows[1]["attempts"]!.intValue! >= 2)  // refused while the receiver was down, then 200
        #expect(rows[1]["attempt_log"]!.arrayValue!.last!["status_code"]!.intValue == 200)
        #expect(rows[2]["attempts"]!.intValue == 1)
        // Acknowledged deliveries are never sent again, not even on request.
        let id0 = rows[0]["id"]!.intValue!
        let re = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks/\(hookID)/deliveries/\(id0)/redeliver")
        #expect(re.status == 409)
        try await d.stop()
        try await receiver.stop()
    }

    /// A receiver that always fails: the delivery is dead after its last attempt, counted in the
    /// metrics, and a redeliver sends it again once the receiver works.
    @Test func deadLetterAndRedeliver() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        receiver.setPlan(Array(repeating: .status(500), count: 3))
        let d = try await TestDaemon.start({ c in
            Self.configureFast(&c)
            c.webhookMaxAttempts = 3
        }, hooks: TokentraDaemon.Hooks())
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let hook = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks", body: API.object { $0.field("url", receiver.url) })
        let hookID = hook.json["data"]!["id"]!.stringValue!
        receiver.setSecret(hook.json["data"]!["secret"]!.stringValue!)
        _ = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"d","amount":"1","period":"daily","alert_thresholds":[100]}"#)
        _ = try await API.ingest(d.baseURL, sdk, [API.event("x1", Self.earlierToday(0), cost: "2")])
        try await eventually(20, "dead after 3 attempts") {
            try d.index.deliveries(webhookID: hookID, orgID: "org_a", limit: 10).first?.0.status == "dead"
        }
        #expect(receiver.received.count == 3)
        #expect(receiver.acknowledged.isEmpty)
        try await eventually(10, "metrics") {
            let m = try await HTTP.request(d.baseURL + "/metrics").body
            return m.contains(#"tokentra_webhook_deliveries_total{result="dead"} 1"#)
                && m.contains(#"tokentra_webhook_deliveries_total{result="failed"} 2"#)
                && m.contains("tokentra_webhook_outbox_dead 1")
        }
        let deliveryID = try d.index.deliveries(webhookID: hookID, orgID: "org_a", limit: 10)[0].0.id
        let re = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks/\(hookID)/deliveries/\(deliveryID)/redeliver")
        #expect(re.status == 202)
        try await eventually(20, "redelivered") { receiver.acknowledged.count == 1 }
        let row = try d.index.deliveries(webhookID: hookID, orgID: "org_a", limit: 10)[0]
        #expect(row.0.status == "delivered")
        #expect(row.0.attempts == 4)
        #expect(row.1.map(\.statusCode) == [500, 500, 500, 200])
        let allSigned = receiver.received.allSatisfy { $0.signatureValid }
        #expect(allSigned)
        let missing = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks/\(hookID)/deliveries/999999/redeliver")
        #expect(missing.status == 404)
        try await d.stop()
        try await receiver.stop()
    }

    /// A receiver that hangs holds only its own deliveries; a disabled endpoint gets nothing.
    @Test func slowReceiverDoesNotHoldOthersAndDisabledWaits() async throws {
        let slow = WebhookReceiver(), fast = WebhookReceiver(), paused = WebhookReceiver()
        for r in [slow, fast, paused] { try await r.start() }
        slow.setPlan([.hang(milliseconds: 8000)])
        let d = try await TestDaemon.start({ c in
            Self.configureFast(&c)
            c.webhookTimeoutMs = 6000
        }, hooks: TokentraDaemon.Hooks())
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write").key
        var ids: [String] = []
        for r in [slow, fast, paused] {
            let h = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks", body: API.object { $0.field("url", r.url) })
            r.setSecret(h.json["data"]!["secret"]!.stringValue!)
            ids.append(h.json["data"]!["id"]!.stringValue!)
        }
        #expect(try await API.call(d.baseURL, admin, "PATCH", "/v1/webhooks/" + ids[2], body: #"{"enabled":false}"#).status == 200)
        _ = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"d","amount":"1","period":"daily","alert_thresholds":[100]}"#)
        _ = try await API.ingest(d.baseURL, sdk, [API.event("s1", Self.earlierToday(0), cost: "3")])
        try await eventually(20, "the slow receiver got its request") { slow.received.count == 1 }
        let started = Date()
        try await eventually(20, "the fast receiver acknowledged") { fast.acknowledged.count == 1 }
        // Well before the slow attempt's 6 s timeout.
        #expect(Date().timeIntervalSince(started) < 3)
        #expect(slow.acknowledged.isEmpty)
        #expect(paused.received.isEmpty)
        // Events emitted while an endpoint is disabled are not queued for it.
        #expect(try d.index.deliveries(webhookID: ids[2], orgID: "org_a", limit: 10).isEmpty)
        try await d.stop()
        for r in [slow, fast, paused] { try await r.stop() }
    }
}
