import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

/// `tokentra budgets|alerts|webhooks` as real processes: the same validation and JSON as the API.
@Suite struct NotificationsCLITests {
    @Test func budgetsAlertsWebhooks() async throws {
        let tmp = TemporaryDirectory("tokentra-cli-budgets")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let ts = UTCTimestamp.format(max(now / 86_400_000 * 86_400_000, now - 60_000))
        let lines = [("c1", "1.25", "web"), ("c2", "2.5000000001", "web"), ("c3", "4", "api")].map { id, cost, team in
            #"{"request_id":"\#(id)","org_id":"acme","timestamp":"\#(ts)","provider":"openai","model":"gpt-4o","input_tokens":1,"output_tokens":1,"total_cost":\#(cost),"team":"\#(team)"}"#
        }
        let ingest = try await CLI.run(["ingest", "--data-dir", dir, "-"], stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(ingest.status == 0, "\(ingest.stderr)")

        let created = try await CLI.run(["budgets", "create", "--data-dir", dir, "--org", "acme", "--name", "web daily", "--amount", "10",
                                         "--period", "daily", "--scope", "team_id=web", "--thresholds", "25,50"])
        #expect(created.status == 0, "\(created.stderr)")
        let b = try StrictJSON.parse(created.stdout)
        let id = b["id"]!.stringValue!
        #expect(b["current_spend"]!.numberText == "3.7500000001")  // 1.25 + 2.5000000001, team web only
        #expect(b["alert_thresholds"]! == .array([.number("25"), .number("50")]))
        #expect(b["scope"]!["team_id"]!.stringValue == "web")

        let bad = try await CLI.run(["budgets", "create", "--data-dir", dir, "--org", "acme", "--name", "x", "--amount=-3", "--period", "daily"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("amount"))
        let badScope = try await CLI.run(["budgets", "create", "--data-dir", dir, "--org", "acme", "--name", "x", "--amount", "3", "--period", "daily", "--scope", "region=eu"])
        #expect(badScope.status == 2)
        #expect(badScope.stderr.contains("scope.region"))

        let updated = try await CLI.run(["budgets", "update", "--data-dir", dir, "--org", "acme", id, "--amount", "5", "--scope", "none"])
        let u = try StrictJSON.parse(updated.stdout)
        #expect(u["amount"]!.numberText == "5")
        #expect(u["current_spend"]!.numberText == "7.7500000001")
        #expect(u["percentage_used"]!.numberText == "155")
        let other = try await CLI.run(["budgets", "show", "--data-dir", dir, "--org", "other", id])
        #expect(other.status == 2)
        let list = try await CLI.run(["budgets", "list", "--data-dir", dir, "--org", "acme", "--format", "json"])
        #expect(try StrictJSON.parse(list.stdout).arrayValue?.count == 1)

        let alert = try await CLI.run(["alerts", "create", "--data-dir", dir, "--org", "acme", "--name", "w", "--type", "budget_warning",
                                       "--threshold", "80", "--budget", id])
        #expect(alert.status == 0, "\(alert.stderr)")
        let alertID = try StrictJSON.parse(alert.stdout)["id"]!.stringValue!
        let history = try await CLI.run(["alerts", "history", "--data-dir", dir, "--org", "acme", alertID])
        #expect(try StrictJSON.parse(history.stdout) == .array([]))
        let badAlert = try await CLI.run(["alerts", "create", "--data-dir", dir, "--org", "acme", "--name", "w", "--type", "budget_warning",
                                          "--threshold", "80", "--budget", "budget_of_someone_else"])
        #expect(badAlert.status == 2)
        #expect(badAlert.stderr.contains("budget_id"))

        let refused = try await CLI.run(["webhooks", "create", "--data-dir", dir, "--org", "acme", "--url", "http://169.254.169.254/"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("webhooks.allow_private_targets"))
        let hook = try await CLI.run(["webhooks", "create", "--data-dir", dir, "--org", "acme", "--url", "https://hooks.example.com/t", "--events", "budget.exceeded"])
        let h = try StrictJSON.parse(hook.stdout)
        #expect(h["secret"]!.stringValue!.hasPrefix("whsec_"))
        let hooks = try await CLI.run(["webhooks", "list", "--data-dir", dir, "--org", "acme"])
        #expect(!hooks.stdout.contains(h["secret"]!.stringValue!))
        let deliveries = try await CLI.run(["webhooks", "deliveries", "--data-dir", dir, "--org", "acme", h["id"]!.stringValue!])
        #expect(try StrictJSON.parse(deliveries.stdout) == .array([]))
        let deleted = try await CLI.run(["budgets", "delete", "--data-dir", dir, "--org", "acme", id])
        #expect(try StrictJSON.parse(deleted.stdout)["deleted"]!.boolValue == true)
    }
}
