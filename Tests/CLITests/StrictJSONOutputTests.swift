import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

/// Every command's JSON output, on data with fractions, zeros, huge sums and Unicode, parsed by
/// the strict RFC 8259 parser (never `613.`, `NaN` or a trailing comma).
@Suite(.cliIsolated) struct StrictJSONOutputTests {
    /// Events whose averages and percentiles have fractions, with a zero-cost event, a huge token
    /// count and non-ASCII attribution.
    static func trickyEvents() -> [UsageEvent] {
        var rng = SeededRandom(seed: 613)
        var events: [UsageEvent] = []
        for i in 0..<40 {
            var e = EventFactory.event(i, org: "org_u", rng: &rng, dayOffset: i % 3)
            e.costSource = .client
            e.latencyMs = [850, 1200, 376, 613][i % 4] + Int64(i % 7)
            e.model = ["gpt-4o", "模型-μ", "claude \"quoted\"\\slash"][i % 3]
            e.team = ["équipe-😀", "platform", "tab\there"][i % 3]
            e.feature = i % 5 == 0 ? nil : "chat/\u{2028}line"
            if i == 7 {
                e.inputCost = Money(units: 0); e.outputCost = Money(units: 0); e.cachedCost = Money(units: 0)
                e.totalCost = Money(units: 0)
            }
            if i == 11 || i == 12 {
                e.inputTokens = 9_000_000_000
                e.outputTokens = 999_999_999
                e.cachedTokens = 0
                e.totalTokens = 9_999_999_999
            }
            events.append(e)
        }
        return events
    }

    func strict(_ r: CLI.Result, _ what: String, status: Int32 = 0) throws -> StrictJSON {
        #expect(r.status == status, "\(what): \(r.stderr)")
        do { return try StrictJSON.parse(r.stdout) } catch {
            Issue.record("\(what) printed invalid JSON: \(error)\n\(r.stdout.prefix(400))")
            throw error
        }
    }

    func strictLines(_ r: CLI.Result, _ what: String) throws -> [StrictJSON] {
        #expect(r.status == 0, "\(what): \(r.stderr)")
        return try StrictJSON.parseLines(r.stdout)
    }

    @Test func everyCommandPrintsStrictJSON() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.file("d")
        let events = Self.trickyEvents()
        let file = dir.file("in.ndjson")
        try ndjson(events).write(toFile: file, atomically: true, encoding: .utf8)
        try "{\"not\":\"an event\"}\n".write(toFile: dir.file("bad.ndjson"), atomically: true, encoding: .utf8)

        let ingest = try strict(try await CLI.run(["ingest", "--data-dir", data, "--now", now, file]), "ingest")
        #expect(ingest["processed"]?.intValue == 40, "\(ingest)")
        _ = try strict(try await CLI.run(["ingest", "--data-dir", data, "--now", now, dir.file("bad.ndjson")]), "ingest (failures)", status: 3)
        _ = try strict(try await CLI.run(["rollup", "run", "--data-dir", data, "--now", now]), "rollup run")

        let days = events.map { IndexDatabaseDay.of($0.timestampMs) }
        let from = days.min()!, to = IndexDatabaseDay.next(days.max()!)
        for g in ["hour", "day", "week", "month"] {
            for tz in ["UTC", "Asia/Tokyo"] {
                let usage = try strict(try await CLI.run(["query", "usage", "--data-dir", data, "--org", "org_u", "--from", from,
                                                          "--to", to, "--granularity", g, "--tz", tz, "--format", "json"]),
                                       "query usage \(g) \(tz)")
                #expect(usage["data"]?["total_requests"]?.intValue == 40, "\(g) \(tz)")
            }
        }
        // Exact money: the total is the decimal sum of the events' costs, digit for digit.
        let usage = try strict(try await CLI.run(["query", "--data-dir", data, "--org", "org_u", "--from", from, "--to", to, "--format", "json"]), "query")
        let expected = events.reduce(MoneySum.zero) { $0 + MoneySum($1.totalCost) }
        #expect(usage["data"]?["total_cost"]?.numberText == expected.description)
        let tokens = events.reduce(Int128(0)) { $0 + Int128($1.totalTokens) }
        #expect(usage["data"]?["total_tokens"]?.numberText == String(tokens))

        for b in ["models", "teams", "features", "projects", "environments", "cost-centers"] {
            let r = try strict(try await CLI.run(["query", b, "--data-dir", data, "--org", "org_u", "--from", from, "--to", to, "--format", "json"]), "query \(b)")
            #expect(r["data"]?.arrayValue != nil, "\(b)")
        }
        let teams = try strict(try await CLI.run(["query", "teams", "--data-dir", data, "--org", "org_u", "--from", from, "--to", to, "--format", "json"]), "teams")
        let names = Set((teams["data"]?.arrayValue ?? []).compactMap { $0["team_id"]?.stringValue })
        #expect(names == ["équipe-😀", "platform", "tab\there"])
        // An org with no data: zeros and nulls, still valid JSON.
        let empty = try strict(try await CLI.run(["query", "models", "--data-dir", data, "--org", "nobody", "--from", from, "--to", to, "--format", "json"]), "empty")
        #expect(empty["meta"]?["total_cost"]?.numberText == "0")

        for g in ["hour", "day"] {
            let lines = try strictLines(try await CLI.run(["rollup", "export", "--data-dir", data, "--granularity", g]), "rollup export \(g)")
            #expect(!lines.isEmpty)
            #expect(lines.reduce(0) { $0 + ($1["request_count"]?.intValue ?? 0) } == 40)
        }
        let exported = try strictLines(try await CLI.run(["export", "--data-dir", data]), "export")
        #expect(exported.count == 40)
        #expect(Set(exported.compactMap { $0["model"]?.stringValue }) == ["gpt-4o", "模型-μ", "claude \"quoted\"\\slash"])

        _ = try strict(try await CLI.run(["verify", "--data-dir", data]), "verify")
        _ = try strict(try await CLI.run(["repair", "--data-dir", data]), "repair")
        let key = try strict(try await CLI.run(["keys", "create", "--data-dir", data, "--org", "org_u", "--name", "naïve \"key\""]), "keys create")
        let id = try #require(key["id"]?.stringValue)
        _ = try strict(try await CLI.run(["keys", "list", "--data-dir", data, "--format", "json"]), "keys list")
        _ = try strict(try await CLI.run(["keys", "revoke", "--data-dir", data, id]), "keys revoke")
        _ = try strict(try await CLI.run(["retention", "set", "--data-dir", data, "--org", "org_u", "--raw-days", "30"]), "retention set")
        _ = try strict(try await CLI.run(["retention", "show", "--data-dir", data]), "retention show")
        _ = try strict(try await CLI.run(["retention", "run", "--data-dir", data, "--now", now, "--dry-run"]), "retention run")
        let config = try strict(try await CLI.run(["serve", "--data-dir", data, "--print-config"]), "serve --print-config")
        #expect(config.keys.contains("server.port"))
    }
}

/// UTC day strings for command-line ranges.
enum IndexDatabaseDay {
    static func of(_ ms: Int64) -> String { String(UTCTimestamp.format(ms).prefix(10)) }
    static func next(_ day: String) -> String { of(parseTimestamp(day + "T00:00:00Z")! + 86_400_000) }
}
