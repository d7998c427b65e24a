import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

@Suite(.cliIsolated) struct QueryCLITests {
    @Test func queryFormatsAndErrors() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.file("d")
        let events = recentEvents(1500, seed: 21)
        let file = dir.file("in.ndjson")
        try ndjson(events).write(toFile: file, atomically: true, encoding: .utf8)
        let ingest = try await CLI.run(["ingest", "--data-dir", data, "--now", now, "--max-age-days", "0", file])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(try await CLI.run(["rollup", "run", "--data-dir", data, "--now", now]).status == 0)
        let orgA = events.filter { $0.orgID == "org_a" }
        var cost = MoneySum.zero
        for e in orgA { cost += e.totalCost }
        let range = ["--data-dir", data, "--org", "org_a", "--from", "2026-10-20", "--to", "2026-11-05"]

        let json = try await CLI.run(["query", "usage"] + range + ["--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.stdout.hasPrefix("{\"data\":{\"total_cost\":\(cost),\"total_tokens\":"))
        let data0 = try #require(json.json["data"] as? [String: Any])
        #expect(data0["total_requests"] as? Int == orgA.count)
        #expect((data0["breakdown"] as? [Any])?.count == 16)

        let table = try await CLI.run(["query", "usage"] + range + ["--granularity", "week", "--tz", "Europe/Berlin"])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("date") == true)
        #expect(lines.last?.hasPrefix("total") == true)
        #expect(lines.last?.contains(cost.description) == true)

        let csv = try await CLI.run(["query", "models"] + range + ["--format", "csv", "--sort", "requests", "--limit", "2"])
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(csv.stdout.split(separator: "\n").count == 3)
        #expect(csv.stdout.hasPrefix("provider,model,cost,tokens,requests"))
        #expect(try await CLI.run(["query", "cost-centers"] + range).status == 0)

        let bad = try await CLI.run(["query", "usage"] + range + ["--granularity", "fortnight"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("granularity"))
        // A filter on one dimension with a breakdown by another is answered from the raw segments.
        let mixed = try await CLI.run(["query", "teams"] + range + ["--model", "gpt-4o", "--format", "json"])
        #expect(mixed.status == 0, "\(mixed.stderr)")
        #expect(try mixed.strict["meta"]?["source"]?.stringValue == "segments")
        let reversed = try await CLI.run(["query", "usage", "--data-dir", data, "--org", "org_a", "--from", "2026-11-05", "--to", "2026-11-01"])
        #expect(reversed.status != 0)
        #expect(reversed.stderr.contains("--to"))
    }
}
