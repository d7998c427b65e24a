import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The real binary: `kill -9` between "threshold crossed" and "delivered".
@Suite struct WebhookProcessTests {
    @Test(.enabled(if: DaemonProcess.available)) func killDashNineBetweenCrossingAndDeliveryDeliversOnce() async throws {
        let tmp = TemporaryDirectory("tokentra-webhook-kill9")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let receiver = WebhookReceiver()
        try await receiver.start()
        // The first attempt hangs (the daemon dies while it waits); later ones are answered 200.
        receiver.setPlan([.hang(milliseconds: 60_000)])
        func key(_ scopes: String) async throws -> String {
            let r = try await runCLI(["keys", "create", "--data-dir", dir, "--org", "org_k", "--name", "t", "--scopes", scopes, "--format", "json"])
            guard r.status == 0, let k = try StrictJSON.parse(r.stdout)["key"]?.stringValue else { throw TestFailure("keys create: \(r.stderr)") }
            return k
        }
        let admin = try await key("admin")
        let sdk = try await key("sdk:write")
        let env = [
            "TOKENTRA_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true", "TOKENTRA_ROLLUP_INTERVAL_SECONDS": "1",
            "TOKENTRA_WEBHOOKS_TIMEOUT_MS": "30000", "TOKENTRA_WEBHOOKS_BACKOFF_BASE_MS": "200", "TOKENTRA_WEBHOOKS_BACKOFF_MAX_MS": "1000",
        ]
        var daemon = try await DaemonProcess.start(dataDir: dir, environment: env)
        let hook = try await API.call(daemon.baseURL, admin, "POST", "/v1/webhooks",
                                      body: API.object { $0.field("url", receiver.url); $0.field("events", strings: ["budget.exceeded"]) })
        let hookID = hook.json["data"]!["id"]!.stringValue!
        receiver.setSecret(hook.json["data"]!["secret"]!.stringValue!)
        let b = try await API.call(daemon.baseURL, admin, "POST", "/v1/budgets", body: #"{"name":"d","amount":1,"period":"daily","alert_thresholds":[100]}"#)
        #expect(b.status == 201)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let ts = UTCTimestamp.format(max(now / 86_400_000 * 86_400_000, now - 60_000))
        _ = try await API.ingest(daemon.baseURL, sdk, [API.event("k1", ts, cost: "2.5")])
        try await eventually(30, "the first attempt in flight") { receiver.received.count == 1 }

        daemon.signal(SIGKILL)
        let exit = try await daemon.waitForExit()
        #expect(exit.reason == .uncaughtSignal && exit.status == SIGKILL)
        receiver.setPlan([])

        daemon = try await DaemonProcess.start(dataDir: dir, environment: env)
        try await eventually(30, "delivered after the restart") { receiver.acknowledged.count == 1 }
        try await Task.sleep(for: .seconds(3))  // three more rollup cycles: no second event, no second delivery
        let received = receiver.received
        #expect(receiver.acknowledged.count == 1)
        #expect(received.count == 2)
        #expect(Set(received.map(\.eventID)).count == 1)
        #expect(received.allSatisfy { $0.signatureValid && $0.eventType == "budget.exceeded" })
        // At-least-once on the wire: the resend after the crash is byte for byte the same body, whose
        // `id` is the X-TokenTra-Event-Id header, so the receiver deduplicates it; only the attempt differs.
        #expect(received[0].body == received[1].body)
        #expect(try StrictJSON.parse(received[0].body)["id"]?.stringValue == received[0].eventID)
        #expect(received.map(\.attempt) == [1, 1])
        let log = try await API.call(daemon.baseURL, admin, "GET", "/v1/webhooks/\(hookID)/deliveries")
        let rows = log.json["data"]!.arrayValue!
        #expect(rows.count == 1)
        #expect(rows[0]["status"]!.stringValue == "delivered")
        #expect(rows[0]["event_id"]!.stringValue == received[0].eventID)
        // The attempt cut short by the kill was never recorded; the one after the restart is attempt 1.
        #expect(rows[0]["attempts"]!.intValue == 1)
        daemon.signal(SIGTERM)
        _ = try await daemon.waitForExit()
        try await receiver.stop()
    }
}
