import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

/// Events for two orgs, one per hour-ish over `days` days ending 2026-11-20.
func spreadEvents(days: Int, perDay: Int, seed: UInt64) -> [UsageEvent] {
    var rng = SeededRandom(seed: seed)
    let end: Int64 = 1_795_132_800_000  // 2026-11-20T00:00:00Z
    var out: [UsageEvent] = []
    for d in 0..<days {
        for k in 0..<perDay {
            var e = EventFactory.event(d * perDay + k, org: k % 2 == 0 ? "org_a" : "org_b", rng: &rng)
            e.timestampMs = end - Int64(d + 1) * 86_400_000 + Int64(k) * (86_400_000 / Int64(perDay)) + 1234
            e.costSource = .client
            out.append(e)
        }
    }
    return out
}

@Suite(.cliIsolated) struct RetentionTests {
    let now = "2026-11-20T12:00:00Z"
    let nowMs: Int64 = 1_795_132_800_000 + 12 * 3_600_000

    func countByOrg(_ data: String) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in try await CLI.run(["export", "--data-dir", data]).stdout.split(separator: "\n") {
            let org = line.contains("\"org_id\":\"org_a\"") ? "org_a" : "org_b"
            counts[org, default: 0] += 1
        }
        return counts
    }

    @Test func horizonsDryRunRollupsAndCrash() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.file("d")
        let events = spreadEvents(days: 40, perDay: 24, seed: 3)
        let file = dir.file("in.ndjson")
        try ndjson(events).write(toFile: file, atomically: true, encoding: .utf8)
        let ingest = try await CLI.run(["ingest", "--data-dir", data, "--now", now, "--max-age-days", "0", file])
        #expect(ingest.json["processed"] as? Int == events.count, "\(ingest.stdout) \(ingest.stderr)")
        #expect(try await CLI.run(["rollup", "run", "--data-dir", data, "--now", now]).status == 0)
        let dailyBefore = try await CLI.run(["rollup", "export", "--data-dir", data, "--granularity", "day", "--format", "ndjson"]).stdout

        #expect(try await CLI.run(["retention", "set", "--data-dir", data, "--org", "org_b", "--raw-days", "7", "--hourly-days", "10", "--daily-days", "730"]).status == 0)
        let show = try await CLI.run(["retention", "show", "--data-dir", data, "--format", "json"])
        #expect(show.stdout.contains("{\"org_id\":\"org_b\",\"raw_days\":7,\"hourly_days\":10,\"daily_days\":730,\"source\":\"org\"}"))
        #expect(show.stdout.contains("{\"org_id\":\"org_a\",\"raw_days\":30,\"hourly_days\":90,\"daily_days\":365,\"source\":\"default\"}"))

        // Dry run: reports, changes nothing.
        let segmentsBefore = try FileManager.default.subpathsOfDirectory(atPath: data + "/segments").sorted()
        let dry = try await CLI.run(["retention", "run", "--data-dir", data, "--now", now, "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.json["dry_run"] as? Bool == true)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: data + "/segments").sorted() == segmentsBefore)
        #expect(try await countByOrg(data) == ["org_a": events.count / 2, "org_b": events.count / 2])

        // Expected survivors: raw days >= cutoff day (today − N days).
        let today = nowMs - nowMs % 86_400_000
        func expected(_ org: String, _ days: Int64) -> Int {
            events.filter { $0.orgID == org && $0.timestampMs >= today - days * 86_400_000 }.count
        }
        let orgs = try #require(dry.json["orgs"] as? [[String: Any]])
        let plannedB = try #require(orgs.first { $0["org_id"] as? String == "org_b" })
        #expect(plannedB["raw_events"] as? Int == events.count / 2 - expected("org_b", 7))
        #expect(plannedB["segment_files"] as? Int == 40 - 7)

        // A SIGKILL at a random moment of a run, then verify, then a second run finishes the job.
        let (p, _, _) = try CLI.start(["retention", "run", "--data-dir", data, "--now", now])
        usleep(30_000)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        // verify is read-only: a kill between the index commit and the unlinks leaves unregistered
        // files, which it reports (and nothing else); `repair` (or the next open) removes them.
        let verify = try await CLI.run(["verify", "--data-dir", data])
        let problems = (verify.json["problems"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(problems.allSatisfy { $0.contains("not registered in the index") }, "\(verify.stdout)")
        #expect(try await CLI.run(["repair", "--data-dir", data]).status == 0)
        #expect(try await CLI.run(["verify", "--data-dir", data]).json["ok"] as? Bool == true)
        let run = try await CLI.run(["retention", "run", "--data-dir", data, "--now", now])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try await countByOrg(data) == ["org_a": expected("org_a", 30), "org_b": expected("org_b", 7)])
        #expect(try await CLI.run(["verify", "--data-dir", data]).json["ok"] as? Bool == true)

        // Daily rollups are kept independently: identical for every day still within 365/730 days.
        let dailyAfter = try await CLI.run(["rollup", "export", "--data-dir", data, "--granularity", "day", "--format", "ndjson"]).stdout
        #expect(dailyAfter == dailyBefore)
        // Hourly rows of org_b older than 10 days are gone, org_a's (90 days) are all there.
        let hourly = try await CLI.run(["rollup", "export", "--data-dir", data, "--granularity", "hour", "--org", "org_b", "--format", "ndjson"]).stdout
        let oldestB = hourly.split(separator: "\n").compactMap { line -> String? in
            guard let r = line.range(of: "\"bucket\":\"") else { return nil }
            return String(line[r.upperBound...].prefix(10))
        }.min()
        #expect(oldestB == "2026-11-10")

        // A second run removes nothing more.
        let again = try await CLI.run(["retention", "run", "--data-dir", data, "--now", now])
        #expect(again.json["bytes"] as? Int == 0)

        // The dedup state of removed days is gone: an old event can be imported again, but the
        // default ingest (30-day horizon) rejects it as too old.
        let old = events.first { $0.orgID == "org_b" && $0.timestampMs < today - 20 * 86_400_000 }!
        let oldFile = dir.file("old.ndjson")
        try ndjson([old]).write(toFile: oldFile, atomically: true, encoding: .utf8)
        let rejected = try await CLI.run(["ingest", "--data-dir", data, "--now", now, oldFile])
        #expect(rejected.status == 3)
        #expect(rejected.stdout.contains("TIMESTAMP_TOO_OLD"))
        let reimported = try await CLI.run(["ingest", "--data-dir", data, "--now", now, "--max-age-days", "0", oldFile])
        #expect(reimported.json["processed"] as? Int == 1)
    }
}
