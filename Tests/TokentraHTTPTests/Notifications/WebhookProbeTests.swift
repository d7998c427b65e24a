import Alerts
import Foundation
import Synchronization
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

/// Per-cycle probes (a receiver that comes back is served within two rollup cycles, however long
/// its backoff) and the SSRF check on the address actually connected to, at delivery time.
@Suite(.serialized) struct WebhookProbeTests {
    /// The receiver is down for the first attempt and a few cycles; its deliveries back off for
    /// 10 minutes or more. Once it is back, both arrive within two rollup cycles.
    @Test func receiverBackIsServedWithinTwoCyclesDespiteALongBackoff() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        receiver.setDown(true)  // unreachable: connections closed unanswered
        let cycles = Atomic<Int>(0)
        let hooks = TokentraDaemon.Hooks(rollup: { _ in cycles.add(1, ordering: .sequentiallyConsistent) })
        let d = try await TestDaemon.start({ c in
            c.webhookAllowPrivateTargets = true
            c.webhookMaxAttempts = 14
            c.webhookBackoffBaseMs = 600_000  // 10 min, far longer than this test
            c.webhookBackoffMaxMs = 3_600_000
            c.webhookTimeoutMs = 1000
            c.rollupIntervalSeconds = 2
        }, hooks: hooks)
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let hook = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks",
                                      body: API.object { $0.field("url", receiver.url); $0.field("events", strings: ["budget.warning", "budget.exceeded"]) })
        let hookID = hook.json["data"]!["id"]!.stringValue!
        receiver.setSecret(hook.json["data"]!["secret"]!.stringValue!)
        _ = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"d","amount":"1","period":"daily","alert_thresholds":[50,100]}"#)
        // 2 USD: the 50 % and the 100 % crossings in one cycle, two deliveries to the same endpoint.
        _ = try await API.ingest(d.baseURL, sdk, [API.event("p1", WebhookTests.earlierToday(0), cost: "2")])
        func log() throws -> [(WebhookDelivery, [WebhookAttempt])] {
            try d.index.deliveries(webhookID: hookID, orgID: "org_a", limit: 10).reversed()
        }
        // Refused, then probed (the oldest only) at least twice while the receiver is still down.
        try await eventually(30, "two probes refused") {
            let l = try log()
            return l.count == 2 && l[0].1.filter(\.probe).count >= 2 && l[1].0.attempts == 1
        }
        let down = try log()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let (oldest, oldestAttempts) = down[0]
        let probes = oldestAttempts.filter(\.probe).count
        #expect(oldest.status == "pending" && down[1].0.status == "pending")
        #expect(oldestAttempts.first?.probe == false)
        #expect(oldestAttempts.allSatisfy { $0.statusCode == nil && $0.error != nil }, "\(oldestAttempts)")
        #expect(receiver.received.isEmpty)
        // Probes do not use up the retry schedule, and at most one per cycle (not hammered).
        #expect(oldest.attemptLimit == 14 + probes)
        #expect(probes <= cycles.load(ordering: .sequentiallyConsistent))
        // Both are in their backoff (≥ 0.8 × 10 min from their first attempt); a probe scheduled
        // but not yet sent returns to it.
        #expect(down.allSatisfy { ($0.0.probeResumeAt ?? $0.0.nextAttemptAt) > now + 300_000 })
        #expect(down[1].1.count == 1)

        receiver.setDown(false)
        let back = cycles.load(ordering: .sequentiallyConsistent)
        try await eventually(30, "both delivered after the receiver came back") { receiver.acknowledged.count == 2 }
        let served = cycles.load(ordering: .sequentiallyConsistent)
        #expect(served - back <= 2, "delivered \(served - back) cycles after the receiver came back")
        // The receiver answers before the daemon records the answer: wait for the log to say so.
        try await eventually(10, "both recorded as delivered") { try log().allSatisfy { $0.0.status == "delivered" } }
        let after = try log()
        #expect(after.map(\.0.status) == ["delivered", "delivered"])
        // The oldest was delivered by a probe; the other was released by it (an ordinary attempt).
        #expect(after[0].1.last?.probe == true && after[0].1.last?.statusCode == 200)
        #expect(after[1].1.map(\.statusCode) == [nil, 200])
        #expect(after[1].1.map(\.probe) == [false, false])
        let acked = receiver.acknowledged
        #expect(Set(acked.map(\.eventID)).count == 2)
        let allSigned = receiver.received.allSatisfy { $0.signatureValid }
        #expect(allSigned)
        // The delivery log over HTTP marks the probes.
        let http = try await API.call(d.baseURL, admin, "GET", "/v1/webhooks/\(hookID)/deliveries")
        let rows = http.json["data"]!.arrayValue!
        let oldestLog = rows.last!["attempt_log"]!.arrayValue!
        #expect(oldestLog.map { $0["probe"]!.boolValue! } == after[0].1.map(\.probe))
        #expect(oldestLog.first?["probe"]?.boolValue == false && oldestLog.last?["probe"]?.boolValue == true)
        try await d.stop()
        try await receiver.stop()
    }

    /// A name that resolves to loopback is refused at delivery time when private targets are not
    /// allowed (checked on the resolved address, not the name); allowed, the connection goes to the
    /// address resolved once, with the name in the Host header.
    @Test func nameResolvingToLoopbackIsRefusedAtDeliveryTime() async throws {
        // The resolver itself: every address of the name is checked, and the pinned one is returned.
        #expect(try WebhookTarget.pin(host: "localhost", allowPrivate: true) == "127.0.0.1")
        #expect(throws: WebhookTarget.Refusal.self) { try WebhookTarget.pin(host: "localhost", allowPrivate: false) }
        #expect(throws: WebhookTarget.Refusal.self) { try WebhookTarget.pin(host: "127.0.0.2", allowPrivate: false) }
        #expect(throws: WebhookTarget.Refusal.self) { try WebhookTarget.pin(host: "::1", allowPrivate: false) }

        let receiver = WebhookReceiver()
        try await receiver.start()
        let url = "http://localhost:\(receiver.port)/hook"
        func configure(_ allow: Bool) -> (inout TokentraConfiguration) -> Void {
            { c in
                c.webhookAllowPrivateTargets = allow
                c.webhookBackoffBaseMs = 100
                c.webhookBackoffMaxMs = 200
                c.webhookMaxAttempts = 3
                c.webhookTimeoutMs = 1000
                c.rollupIntervalSeconds = 1
            }
        }
        // Allowed: created, delivered to 127.0.0.1 with Host: localhost:port.
        var d = try await TestDaemon.start(configure(true), hooks: TokentraDaemon.Hooks())
        let dataDir = d.daemon.configuration.dataDirectory
        var admin = try d.createKey(org: "org_a", scopes: "admin").key
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let hook = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks",
                                      body: API.object { $0.field("url", url); $0.field("events", strings: ["budget.exceeded"]) })
        #expect(hook.status == 201)
        let hookID = hook.json["data"]!["id"]!.stringValue!
        receiver.setSecret(hook.json["data"]!["secret"]!.stringValue!)
        _ = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"a","amount":"1","period":"daily","alert_thresholds":[100]}"#)
        _ = try await API.ingest(d.baseURL, sdk, [API.event("n1", WebhookTests.earlierToday(0), cost: "2")])
        try await eventually(20, "delivered through localhost") { receiver.acknowledged.count == 1 }
        #expect(receiver.received[0].host == "localhost:\(receiver.port)")
        try await d.stop(keepDirectory: true)

        // Private targets refused now: the stored endpoint's next event is refused at delivery
        // time, by the address the name resolves to; nothing reaches the receiver.
        d = try await TestDaemon.start(configure(false), hooks: TokentraDaemon.Hooks(), dataDirectory: dataDir)
        admin = try d.createKey(org: "org_a", scopes: "admin").key
        _ = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"b","amount":"1","period":"daily","alert_thresholds":[100]}"#)
        try await eventually(30, "the second event dead after 3 refused attempts") {
            try d.index.deliveries(webhookID: hookID, orgID: "org_a", limit: 10).first { $0.0.status == "dead" } != nil
        }
        let dead = try d.index.deliveries(webhookID: hookID, orgID: "org_a", limit: 10).first { $0.0.status == "dead" }!
        #expect(dead.1.filter { !$0.probe }.count == 3)
        for a in dead.1 {
            #expect(a.statusCode == nil)
            #expect(a.error == "refused: localhost resolves to a loopback, private or link-local address (127.0.0.1); refused unless webhooks.allow_private_targets is true")
        }
        #expect(receiver.received.count == 1)
        // At creation the name is refused too, also in its fully qualified form `localhost.`.
        for u in [url, "http://localhost.:\(receiver.port)/hook", "http://api.localhost./x"] {
            let r = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks", body: API.object { $0.field("url", u) })
            #expect(r.status == 400, "\(u)")
            #expect(r.json["error"]?["code"]?.stringValue == "VALIDATION_ERROR")
            #expect(r.json["error"]?["field"]?.stringValue == "url")
        }
        try await d.stop()
        try await receiver.stop()
    }

    /// The acknowledgement is recorded when the 2xx head arrives, before the answer's body is
    /// read: the window between the receiver's 2xx and our record is one SQLite write, not the
    /// body's transfer (a crash in it resends the same event id: see WebhookProcessTests).
    @Test func acknowledgementIsRecordedAtTheResponseHead() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        receiver.setPlan([.headThenStall(milliseconds: 8000)])
        let d = try await TestDaemon.start({ c in
            c.webhookAllowPrivateTargets = true
            c.webhookTimeoutMs = 10_000
            c.rollupIntervalSeconds = 1
        }, hooks: TokentraDaemon.Hooks())
        let admin = try d.createKey(org: "org_a", scopes: "admin").key
        let sdk = try d.createKey(org: "org_a", scopes: "sdk:write").key
        let hook = try await API.call(d.baseURL, admin, "POST", "/v1/webhooks",
                                      body: API.object { $0.field("url", receiver.url); $0.field("events", strings: ["budget.exceeded"]) })
        let hookID = hook.json["data"]!["id"]!.stringValue!
        receiver.setSecret(hook.json["data"]!["secret"]!.stringValue!)
        _ = try await API.call(d.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"h","amount":"1","period":"daily","alert_thresholds":[100]}"#)
        _ = try await API.ingest(d.baseURL, sdk, [API.event("h1", WebhookTests.earlierToday(0), cost: "2")])
        try await eventually(20, "recorded as delivered") {
            try d.index.deliveries(webhookID: hookID, orgID: "org_a", limit: 10).first?.0.status == "delivered"
        }
        // Recorded while the receiver still holds back the body.
        #expect(receiver.stalledBodiesSent == 0)
        let row = try d.index.deliveries(webhookID: hookID, orgID: "org_a", limit: 10)[0]
        #expect(row.0.attempts == 1)
        #expect(row.1.map(\.statusCode) == [200])
        #expect(receiver.received.count == 1)
        try await d.stop()
        try await receiver.stop()
    }
}
