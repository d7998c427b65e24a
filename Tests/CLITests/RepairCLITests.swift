import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `tokentra verify` (read-only), `tokentra repair`, and `RAW_DATA_RETIRED` through the real binary.
@Suite(.cliIsolated) struct RepairCLITests {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The WAL of a daemon killed after acknowledging 2 + 3 events of org `acme` on 2026-12-01
    /// (see `Tests/SegmentStoreTests/GoldenFileTests.swift`).
    static let fixtureWAL = packageRoot + "/Tests/SegmentStoreTests/Fixtures/v1/wal/0000000000000003.wal"
    static let fixtureWALExport = packageRoot + "/Tests/SegmentStoreTests/Fixtures/v1/wal.export.ndjson"

    /// SQLite's shared-memory index of the WAL-mode index (readers update their read marks there; not data).
    static let notCompared: Set<String> = ["index.sqlite-shm"]

    /// Checks that a read-only command left every file as it was. The one tolerated difference:
    /// SQLite creates an empty `index.sqlite-wal` (and the `-shm` index) when a read-only
    /// connection opens the WAL-mode index after a clean shutdown removed them, and cannot remove
    /// them again without write access; the database itself is unchanged.
    static func expectUnchanged(_ before: [String: Data], _ after: [String: Data], _ what: String,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        var after = after
        if before["index.sqlite-wal"] == nil, after["index.sqlite-wal"] == Data() { after["index.sqlite-wal"] = nil }
        #expect(after.keys.sorted() == before.keys.sorted(), "\(what) added or removed files", sourceLocation: sourceLocation)
        for (file, bytes) in before { #expect(after[file] == bytes, "\(what) changed \(file)", sourceLocation: sourceLocation) }
    }

    static func files(under root: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var out: [String] = []
        while let next = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + next, isDirectory: &isDirectory), !isDirectory.boolValue {
                out.append(next)
            }
        }
        return out.sorted()
    }

    static func contents(under root: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for f in files(under: root) where !notCompared.contains(f) {
            out[f] = try Data(contentsOf: URL(fileURLWithPath: root + "/" + f))
        }
        return out
    }

    static func requestIDs(_ ndjson: String) -> [String] {
        ndjson.split(separator: "\n").compactMap { line in
            guard let start = line.range(of: "\"request_id\":\"") else { return nil }
            return String(line[start.upperBound...].prefix { $0 != "\"" })
        }.sorted()
    }

    @Test func verifyReportsRepairFixesAndVerifyPassesAgain() async throws {
        let tmp = TemporaryDirectory()
        defer { tmp.remove() }
        let data = tmp.file("d")
        let events = recentEvents(40, seed: 21, orgs: ["org_a"])
        let input = tmp.file("in.ndjson")
        try ndjson(events).write(toFile: input, atomically: true, encoding: .utf8)
        let ingest = try await CLI.run(["ingest", "--data-dir", data, "--now", now, input])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(ingest.json["processed"] as? Int == 40)

        // Damage: the WAL of a killed daemon (5 acknowledged, unsealed events) with a torn tail,
        // and an unregistered copy of a segment. (The import left at most an empty WAL file: removed
        // first, so that the repair's report is exactly about what is planted here.)
        for f in Self.files(under: data + "/wal") { try FileManager.default.removeItem(atPath: data + "/wal/" + f) }
        let walFile = "wal/0000000000000003.wal"
        try FileManager.default.copyItem(atPath: Self.fixtureWAL, toPath: data + "/" + walFile)
        let walSize = try #require(try FileManager.default.attributesOfItem(atPath: data + "/" + walFile)[.size] as? Int)
        let handle = try #require(FileHandle(forWritingAtPath: data + "/" + walFile))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x2A, 0, 0, 0, 0x99, 0x17]))
        try handle.close()
        let segments = Self.files(under: data + "/segments").filter { $0.hasSuffix(".tseg") }
        try #require(!segments.isEmpty)
        let copy = "segments/org_a/2026-11-15-copy.tseg"
        try FileManager.default.copyItem(atPath: data + "/segments/" + segments[0], toPath: data + "/" + copy)
        let before = try Self.contents(under: data)

        // verify: exit 3, both problems listed, nothing changed.
        let verify = try await CLI.run(["verify", "--data-dir", data, "--format", "json"])
        #expect(verify.status == 3, "\(verify.stdout) \(verify.stderr)")
        #expect(verify.json["ok"] as? Bool == false)
        #expect(verify.json["events"] as? Int == 40)
        #expect(verify.json["unsealed_events"] as? Int == 5)
        let problems = try #require(verify.json["problems"] as? [[String: Any]])
        #expect(problems.map { $0["file"] as? String ?? "" } == [copy, walFile])
        #expect((problems.first?["message"] as? String)?.contains("not registered in the index") == true)
        #expect((problems.last?["message"] as? String)?.contains("torn tail of 6 bytes at byte \(walSize)") == true, "\(problems)")
        let table = try await CLI.run(["verify", "--data-dir", data, "--format", "table"])
        #expect(table.status == 3)
        #expect(table.stdout.contains("PROBLEM  \(copy): "))
        #expect(table.stdout.contains("PROBLEM  \(walFile): torn tail of 6 bytes at byte \(walSize)"))
        Self.expectUnchanged(before, try Self.contents(under: data), "verify")

        // repair: exit 0, says exactly what it removed and cut, replays and seals the WAL's events.
        let repair = try await CLI.run(["repair", "--data-dir", data, "--format", "json"])
        #expect(repair.status == 0, "\(repair.stdout) \(repair.stderr)")
        let r = repair.json
        #expect(r["removed_temporary_files"] as? [String] == [])
        #expect(r["removed_unregistered_files"] as? [String] == [copy])
        #expect(r["removed_sealed_wal_files"] as? [String] == [])
        let torn = try #require(r["torn_wal_tails"] as? [[String: Any]])
        #expect(torn.count == 1)
        #expect(torn.first?["file"] as? String == walFile)
        #expect(torn.first?["offset"] as? Int == walSize)
        #expect(torn.first?["bytes_cut"] as? Int == 6)
        #expect(r["replayed_events"] as? Int == 5)
        #expect(r["sealed_events"] as? Int == 5)
        #expect(r["sealed_segments"] as? Int == 1)
        #expect(r.count == 7, "unexpected keys: \(r.keys.sorted())")
        #expect(!FileManager.default.fileExists(atPath: data + "/" + copy))
        // Only the registered segments were touched: the import's files are byte-identical.
        for s in segments { #expect(try Data(contentsOf: URL(fileURLWithPath: data + "/segments/" + s)) == before["segments/" + s]) }

        let again = try await CLI.run(["verify", "--data-dir", data, "--format", "json"])
        #expect(again.status == 0, "\(again.stdout)")
        #expect(again.json["ok"] as? Bool == true)
        #expect(again.json["events"] as? Int == 45)
        #expect(again.json["unsealed_events"] as? Int == 0)
        #expect((again.json["problems"] as? [Any])?.count == 0)
        // The replayed events are the daemon's, once.
        let acme = try await CLI.run(["export", "--data-dir", data, "--org", "acme"]).stdout
        #expect(Self.requestIDs(acme) == Self.requestIDs(try String(contentsOfFile: Self.fixtureWALExport, encoding: .utf8)))
        #expect(Self.requestIDs(acme).count == 5)
        #expect(Self.requestIDs(try await CLI.run(["export", "--data-dir", data, "--org", "org_a"]).stdout) == events.map(\.requestID.description).sorted())

        // A second repair has nothing to do.
        let second = try await CLI.run(["repair", "--data-dir", data, "--format", "json"])
        #expect(second.status == 0)
        #expect(second.json["removed_unregistered_files"] as? [String] == [])
        #expect((second.json["torn_wal_tails"] as? [Any])?.count == 0)
        #expect(second.json["replayed_events"] as? Int == 0)
        #expect(second.json["sealed_events"] as? Int == 0)
    }

    /// A torn record in a WAL file that is not the newest is damage, not a torn tail: both verify
    /// and repair refuse with the file and offset, and change nothing.
    @Test func damagedOlderWALFileStopsVerifyAndRepair() async throws {
        let tmp = TemporaryDirectory()
        defer { tmp.remove() }
        let data = tmp.file("d")
        let input = tmp.file("in.ndjson")
        try ndjson(recentEvents(10, seed: 22, orgs: ["org_a"])).write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["ingest", "--data-dir", data, "--now", now, input]).status == 0)
        for f in Self.files(under: data + "/wal") { try FileManager.default.removeItem(atPath: data + "/wal/" + f) }
        let older = data + "/wal/0000000000000003.wal"
        try FileManager.default.copyItem(atPath: Self.fixtureWAL, toPath: older)
        // Cut the fixture's last record short, then add a newer file with a header only.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: older))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: older))
        try bytes.prefix(8).write(to: URL(fileURLWithPath: data + "/wal/0000000000000004.wal"))
        // The offset of the fixture's last record: walk the frames (u32 length, u32 crc, type, payload).
        var offset = 8, lastRecord = 8
        while offset + 9 <= bytes.count {
            let length = bytes[offset..<offset + 4].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            lastRecord = offset
            offset += 9 + length
        }
        try #require(offset == bytes.count, "fixture frames do not add up")
        let before = try Self.contents(under: data)
        for command in ["verify", "repair"] {
            let r = try await CLI.run([command, "--data-dir", data])
            #expect(r.status == 2, "\(command): \(r.stdout)")
            #expect(r.stderr.contains("\(older): damaged record at byte \(lastRecord) in a WAL file that is not the newest"), "\(command): \(r.stderr)")
            if command == "verify" { Self.expectUnchanged(before, try Self.contents(under: data), "verify") }
        }
        // repair takes the write lock (its pid in LOCK) and opens the index, but no WAL or segment file changed.
        let after = try Self.contents(under: data)
        for (file, bytes) in before where file.hasPrefix("wal/") || file.hasPrefix("segments/") {
            #expect(after[file] == bytes, "repair changed \(file)")
        }
        #expect(after.keys.filter { $0.hasPrefix("wal/") || $0.hasPrefix("segments/") }.sorted()
                == before.keys.filter { $0.hasPrefix("wal/") || $0.hasPrefix("segments/") }.sorted())
    }

    // MARK: RAW_DATA_RETIRED

    @Test func eventOfARetiredRawDayIsRefusedAndItsRollupKept() async throws {
        let tmp = TemporaryDirectory()
        defer { tmp.remove() }
        let data = tmp.file("d")
        let now = "2026-11-20T12:00:00Z"
        let oldDay: Int64 = 1_790_812_800_000  // 2026-10-01T00:00:00Z
        let recentDay: Int64 = 1_795_046_400_000  // 2026-11-19T00:00:00Z
        var rng = SeededRandom(seed: 5)
        func event(_ i: Int, at ms: Int64) -> UsageEvent {
            var e = EventFactory.event(i, org: "org_r", rng: &rng)
            e.timestampMs = ms
            e.costSource = .client
            return e
        }
        let old = (0..<6).map { event($0, at: oldDay + (5 + Int64($0 % 2)) * 3_600_000 + Int64($0) * 60_000) }
        let recent = (0..<2).map { event(10 + $0, at: recentDay + Int64($0) * 3_600_000) }
        let input = tmp.file("in.ndjson")
        try ndjson(old + recent).write(toFile: input, atomically: true, encoding: .utf8)
        let ingest = try await CLI.run(["ingest", "--data-dir", data, "--now", now, "--max-age-days", "0", input])
        #expect(ingest.status == 0, "\(ingest.stdout) \(ingest.stderr)")
        #expect(ingest.json["processed"] as? Int == 8)
        #expect(try await CLI.run(["rollup", "run", "--data-dir", data, "--now", now]).status == 0)

        func export(_ granularity: String, from: String? = nil, to: String? = nil) async throws -> String {
            var args = ["rollup", "export", "--data-dir", data, "--granularity", granularity, "--org", "org_r", "--format", "ndjson"]
            if let from { args += ["--from", from] }
            if let to { args += ["--to", to] }
            let r = try await CLI.run(args)
            #expect(r.status == 0, "\(r.stderr)")
            return r.stdout
        }
        let hour = ("2026-10-01T05:00:00Z", "2026-10-01T06:00:00Z")
        let hourBefore = try await export("hour", from: hour.0, to: hour.1)
        #expect(!hourBefore.isEmpty)
        #expect(hourBefore.split(separator: "\n").allSatisfy { $0.contains("\"bucket\":\"2026-10-01T05:00:00") }, "\(hourBefore)")
        let hourlyBefore = try await export("hour")
        let dailyBefore = try await export("day")

        #expect(try await CLI.run(["retention", "set", "--data-dir", data, "--org", "org_r", "--raw-days", "1"]).status == 0)
        let run = try await CLI.run(["retention", "run", "--data-dir", data, "--now", now])
        #expect(run.status == 0, "\(run.stderr)")
        let orgs = try #require(run.json["orgs"] as? [[String: Any]])
        let outcome = try #require(orgs.first { $0["org_id"] as? String == "org_r" })
        #expect(outcome["segment_files"] as? Int == 1)
        #expect(outcome["raw_events"] as? Int == 6)
        #expect(outcome["hourly_rows"] as? Int == 0)
        #expect(Self.requestIDs(try await CLI.run(["export", "--data-dir", data]).stdout) == recent.map(\.requestID.description).sorted())

        // A new event of the old day, and a resend of a deleted one: refused even with --max-age-days 0.
        let late = event(20, at: oldDay + 5 * 3_600_000 + 30 * 60_000)
        let lateFile = tmp.file("late.ndjson")
        try ndjson([late, old[0]]).write(toFile: lateFile, atomically: true, encoding: .utf8)
        let refused = try await CLI.run(["ingest", "--data-dir", data, "--now", now, "--max-age-days", "0", lateFile])
        #expect(refused.status == 3, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.json["processed"] as? Int == 0)
        #expect(refused.json["failed"] as? Int == 2)
        #expect(refused.json["errors_by_code"] as? [String: Int] == ["RAW_DATA_RETIRED": 2])
        let errors = try #require(refused.json["errors"] as? [[String: Any]])
        #expect(errors.map { $0["request_id"] as? String ?? "" } == [late.requestID.description, old[0].requestID.description])
        #expect(errors.map { $0["line"] as? Int ?? 0 } == [1, 2])
        #expect((errors.first?["message"] as? String)?.contains("2026-10-01") == true)
        // Without the override the org's raw horizon (1 day) applies first.
        let tooOld = try await CLI.run(["ingest", "--data-dir", data, "--now", now, lateFile])
        #expect(tooOld.status == 3)
        #expect(tooOld.json["errors_by_code"] as? [String: Int] == ["TIMESTAMP_TOO_OLD": 2])
        // A day that never had raw data or rollups is still accepted with the override.
        let neverFile = tmp.file("never.ndjson")
        let never = event(30, at: oldDay + 86_400_000 + 3_600_000)
        try ndjson([never]).write(toFile: neverFile, atomically: true, encoding: .utf8)
        let accepted = try await CLI.run(["ingest", "--data-dir", data, "--now", now, "--max-age-days", "0", neverFile])
        #expect(accepted.status == 0, "\(accepted.stdout)")
        #expect(accepted.json["processed"] as? Int == 1)

        // The retained rollups of the retired day are untouched, also after another rollup run.
        #expect(try await CLI.run(["rollup", "run", "--data-dir", data, "--now", now]).status == 0)
        #expect(try await export("hour", from: hour.0, to: hour.1) == hourBefore)
        let oldHours = { (text: String) in text.split(separator: "\n").filter { $0.contains("\"bucket\":\"2026-10-01") }.joined(separator: "\n") }
        #expect(oldHours(try await export("hour")) == oldHours(hourlyBefore))
        #expect(oldHours(try await export("day")) == oldHours(dailyBefore))
        #expect(try await CLI.run(["verify", "--data-dir", data]).json["ok"] as? Bool == true)
    }
}
