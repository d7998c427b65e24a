import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

/// Runs the real `tokentra` binary (built by `swift build --build-tests`) as a child process.
struct CLI {
    static let binary: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/CLITests/CLITests.swift -> package root
        let candidates = [".build/debug/tokentra", ".build/release/tokentra"].map { url.appendingPathComponent($0).path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Standard output as JSON, first checked by the strict RFC 8259 parser (invalid JSON
        /// fails the test that reads it).
        var json: [String: Any] {
            do { _ = try StrictJSON.parse(stdout) } catch { Issue.record("output is not strict JSON (\(error)): \(stdout.prefix(300))") }
            return (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
        }
        var strict: StrictJSON { get throws { try StrictJSON.parse(stdout) } }
    }

    static func start(_ args: [String], stdin: Data? = nil) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        if let stdin {
            let input = Pipe()
            p.standardInput = input
            try p.run()
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        return (p, out, err)
    }

    /// Runs the binary to completion. The child is waited for on a Dispatch thread, never on a
    /// thread of Swift's cooperative pool (2 threads here), which every other test needs.
    @discardableResult
    static func run(_ args: [String], stdin: Data? = nil) async throws -> Result {
        let (p, out, err) = try start(args, stdin: stdin)
        return await withCheckedContinuation { (c: CheckedContinuation<Result, Never>) in
            DispatchQueue.global().async {
                let o = out.fileHandleForReading.readDataToEndOfFile()
                let e = err.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                c.resume(returning: Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                                           stderr: String(decoding: e, as: UTF8.self)))
            }
        }
    }
}

/// NDJSON for events, the way an operator export looks.
func ndjson(_ events: [UsageEvent]) -> String {
    var out = ""
    for e in events {
        EventExport.ndjson(e, into: &out)
        out += "\n"
    }
    return out
}

/// Test events with timestamps inside the decoder's default 30-day window before `now`.
func recentEvents(_ n: Int, seed: UInt64, orgs: [String] = ["org_a", "org_b"]) -> [UsageEvent] {
    var rng = SeededRandom(seed: seed)
    return (0..<n).map { i in
        var e = EventFactory.event(i, org: orgs[i % orgs.count], rng: &rng, dayOffset: i % 5)
        e.costSource = .client
        return e
    }
}

let now = "2026-11-20T00:00:00Z"

@Suite(.cliIsolated) struct CLITests {
    @Test func ingestExportVerifyRoundTrip() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let events = recentEvents(2000, seed: 11)
        let file = dir.file("in.ndjson")
        try ndjson(events + Array(events.prefix(50))).write(toFile: file, atomically: true, encoding: .utf8)

        let first = try await CLI.run(["ingest", "--data-dir", dir.file("d1"), "--now", now, file])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.json["processed"] as? Int == 2000)
        #expect(first.json["duplicates"] as? Int == 50)
        #expect(first.json["failed"] as? Int == 0)

        // Same file again: nothing new.
        let again = try await CLI.run(["ingest", "--data-dir", dir.file("d1"), "--now", now, file])
        #expect(again.json["processed"] as? Int == 0)
        #expect(again.json["duplicates"] as? Int == 2050)
        // The same events re-stamped a day earlier (another exporter's clock): still nothing new.
        let shifted = dir.file("shifted.ndjson")
        try ndjson(events.map { var e = $0; e.timestampMs -= 86_400_000; return e }).write(toFile: shifted, atomically: true, encoding: .utf8)
        let moved = try await CLI.run(["ingest", "--data-dir", dir.file("d1"), "--now", now, shifted])
        #expect(moved.json["processed"] as? Int == 0, "\(moved.stdout)")
        #expect(moved.json["duplicates"] as? Int == 2000)

        let export1 = try await CLI.run(["export", "--data-dir", dir.file("d1")])
        #expect(export1.status == 0)
        let lines = export1.stdout.split(separator: "\n")
        #expect(lines.count == 2000)
        // Exact cost sum per org equals the input's.
        for org in ["org_a", "org_b"] {
            let expected = events.filter { $0.orgID == org }.reduce(MoneySum.zero) { $0 + MoneySum($1.totalCost) }
            let out = try await CLI.run(["export", "--data-dir", dir.file("d1"), "--org", org])
            var sum = MoneySum.zero
            for line in out.stdout.split(separator: "\n") {
                let text = String(line)
                let start = try #require(text.range(of: "\"total_cost\":"))
                let rest = text[start.upperBound...]
                let number = rest.prefix { $0 != "," }
                sum += try Money(parsing: number)
            }
            #expect(sum == expected)
        }

        // Round trip: export -> ingest into an empty dir -> export is identical.
        let exported = dir.file("export.ndjson")
        try export1.stdout.write(toFile: exported, atomically: true, encoding: .utf8)
        let second = try await CLI.run(["ingest", "--data-dir", dir.file("d2"), "--now", now, exported])
        #expect(second.json["processed"] as? Int == 2000)
        let export2 = try await CLI.run(["export", "--data-dir", dir.file("d2")])
        #expect(export2.stdout == export1.stdout)

        let verify = try await CLI.run(["verify", "--data-dir", dir.file("d1"), "--format", "json"])
        #expect(verify.status == 0)
        #expect(verify.json["ok"] as? Bool == true)
        #expect(verify.json["events"] as? Int == 2000)
    }

    @Test func rejectedEventsAreReportedWithLineAndCode() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let good = recentEvents(3, seed: 5)
        var text = ndjson([good[0]])
        text += "{\"request_id\":\"7f1b0c52-9a51-4a8e-8e8e-000000000001\",\"timestamp\":\"2026-11-19T10:00:00Z\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":-5}\n"
        text += "this is not json\n"
        text += "{\"events\":[" + ndjson([good[1]]).dropLast() + ",{\"request_id\":\"x\"}]}\n"
        text += ndjson([good[2]])
        let file = dir.file("mixed.ndjson")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try await CLI.run(["ingest", "--data-dir", dir.file("d"), "--now", now, file])
        #expect(r.status == 3)
        #expect(r.json["processed"] as? Int == 3)
        #expect(r.json["failed"] as? Int == 3)
        let errors = try #require(r.json["errors"] as? [[String: Any]])
        #expect(errors.count == 3)
        #expect(errors[0]["line"] as? Int == 2)
        #expect(errors[0]["code"] as? String == "NEGATIVE_TOKENS")
        #expect(errors[0]["request_id"] as? String == "7f1b0c52-9a51-4a8e-8e8e-000000000001")
        #expect(errors[1]["line"] as? Int == 3)
        #expect(errors[1]["code"] as? String == "INVALID_JSON")
        #expect(errors[2]["line"] as? Int == 4)
        #expect(errors[2]["index"] as? Int == 1)
        #expect(errors[2]["code"] as? String == "MISSING_FIELD")
    }

    @Test func stdinAndJSONArrayInput() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let events = recentEvents(10, seed: 8)
        let array = "[\n" + ndjson(events).split(separator: "\n").joined(separator: ",\n") + "\n]\n"
        let r = try await CLI.run(["ingest", "--data-dir", dir.path, "--now", now, "-"], stdin: Data(array.utf8))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.json["processed"] as? Int == 10)
    }

    @Test func usageErrorsExitWithTwo() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let missing = try await CLI.run(["ingest", "--data-dir", dir.path, dir.file("nope.ndjson")])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("nope.ndjson"))
        let badNow = try await CLI.run(["export", "--data-dir", dir.path, "--from", "yesterday"])
        #expect(badNow.status == 2)
        #expect(badNow.stderr.contains("--from"))
    }

    /// kill -9 at random moments of an ingest; after each, the store verifies, and a re-ingest of
    /// the same files stores exactly the events that were missing: in the end every event is there once.
    @Test func killDuringIngestLosesNothingAcknowledged() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.file("d")
        var acknowledged = 0
        var all: [UsageEvent] = []
        var rng = SeededRandom(seed: 42)
        for round in 0..<4 {
            let events = recentEvents(20_000, seed: UInt64(100 + round))
            all += events
            let file = dir.file("r\(round).ndjson")
            try ndjson(events).write(toFile: file, atomically: true, encoding: .utf8)
            // A small file that completes: its events are acknowledged.
            let small = dir.file("s\(round).ndjson")
            let ackEvents = recentEvents(100, seed: UInt64(900 + round))
            all += ackEvents
            try ndjson(ackEvents).write(toFile: small, atomically: true, encoding: .utf8)
            let ack = try await CLI.run(["ingest", "--data-dir", data, "--now", now, "--seal-every", "5000", small])
            #expect(ack.json["processed"] as? Int == 100)
            acknowledged += 100

            let (p, _, _) = try CLI.start(["ingest", "--data-dir", data, "--now", now, "--seal-every", "5000", file])
            usleep(UInt32(50_000 + rng.next() % 400_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()

            let verify = try await CLI.run(["verify", "--data-dir", data])
            #expect(verify.json["ok"] as? Bool == true, "round \(round): \(verify.stdout) \(verify.stderr)")
            let count = try await CLI.run(["export", "--data-dir", data]).stdout.split(separator: "\n").count
            #expect(count >= acknowledged, "round \(round): acknowledged events lost")
        }
        // Finish every file: duplicates are skipped, the rest stored, nothing twice.
        var files: [String] = []
        for round in 0..<4 { files += [dir.file("r\(round).ndjson"), dir.file("s\(round).ndjson")] }
        let finish = try await CLI.run(["ingest", "--data-dir", data, "--now", now] + files)
        #expect(finish.status == 0, "\(finish.stderr)")
        let lines = try await CLI.run(["export", "--data-dir", data]).stdout.split(separator: "\n")
        #expect(lines.count == all.count)
        #expect(Set(lines.map { String($0) }).count == all.count)
        #expect((finish.json["processed"] as? Int ?? -1) + (finish.json["duplicates"] as? Int ?? -1) == all.count)
    }
}

@Suite(.cliIsolated) struct CostProvenanceTests {
    @Test func priceTableProvenanceSurvivesExportAndReimport() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let lines = [
            "{\"request_id\":\"00000000-0000-4000-8000-000000000001\",\"timestamp\":\"2026-11-19T10:00:00Z\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":1000,\"output_tokens\":100,\"latency_ms\":5}",
            "{\"request_id\":\"00000000-0000-4000-8000-000000000002\",\"timestamp\":\"2026-11-19T10:00:01Z\",\"provider\":\"acme\",\"model\":\"mystery-1\",\"input_tokens\":10,\"output_tokens\":1,\"latency_ms\":5}",
            "{\"request_id\":\"00000000-0000-4000-8000-000000000003\",\"timestamp\":\"2026-11-19T10:00:02Z\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":1,\"output_tokens\":1,\"total_cost\":0.5,\"latency_ms\":5}",
        ]
        let file = dir.file("in.ndjson")
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["ingest", "--data-dir", dir.file("a"), "--now", now, file]).status == 0)
        let first = try await CLI.run(["export", "--data-dir", dir.file("a")]).stdout
        let rows = first.split(separator: "\n").map(String.init)
        #expect(rows.count == 3)
        #expect(rows[0].contains("\"input_cost\":0.005,\"output_cost\":0.0015,\"cached_cost\":0,\"total_cost\":0.0065,\"cost_source\":\"price_table@1\""))
        #expect(rows[1].contains("\"total_cost\":0,\"cost_source\":\"unpriced\""))
        #expect(rows[2].contains("\"total_cost\":0.5,\"cost_source\":\"client\""))
        let exported = dir.file("export.ndjson")
        try first.write(toFile: exported, atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["ingest", "--data-dir", dir.file("b"), "--now", now, exported]).status == 0)
        #expect(try await CLI.run(["export", "--data-dir", dir.file("b")]).stdout == first)
    }
}
