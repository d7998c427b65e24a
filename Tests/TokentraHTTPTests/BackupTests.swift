import Foundation
import Synchronization
import Testing
import TokentraCore
import TokentraTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `tokentra backup` / `tokentra restore` with the real binary: on a stopped directory with
/// unsealed WAL events, beside a daemon under concurrent HTTP ingest, and killed half-way.
@Suite(.serialized) struct BackupTests {
    /// SHA-256 of every file of a data directory but its LOCK (which holds the pid of the last
    /// process that opened it), by relative path.
    static func digest(_ dir: String) async throws -> String {
        let r = try await shell("cd '\(dir)' && find . -type f ! -name LOCK | LC_ALL=C sort | xargs -r sha256sum")
        guard r.status == 0 else { throw TestFailure("digest failed: \(r.output)") }
        return r.output
    }

    /// Posts `rounds` batches of `perRound` new events, waiting for a seal after each.
    static func fill(_ base: String, key: String, rounds: Int, perRound: Int, pause: Duration) async throws -> [String] {
        var ids: [String] = []
        for _ in 0..<rounds {
            let batch = (0..<perRound).map { _ in UUID().uuidString.lowercased() }
            let r = try await ProcessTests.post(base, key: key, ids: batch)
            guard r.status == 200, r.json["processed"] as? Int == perRound else { throw TestFailure("post failed: \(r.body)") }
            ids += batch
            try await Task.sleep(for: pause)
        }
        return ids
    }

    /// A stopped directory whose WAL holds 40 unsealed events (the daemon was killed) backs up and
    /// restores to a directory whose export is byte for byte the source's; the source is unchanged.
    @Test func stoppedDirectoryWithUnsealedEventsRestoresIdentically() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        let tmp = TemporaryDirectory("tokentra-backup-offline")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let (key, _) = try await ProcessTests.createKey(dir, org: "org_b", extra: ["--rate-minute", "0", "--rate-day", "0"])
        let first = try await DaemonProcess.start(dataDir: dir, environment: [
            "TOKENTRA_STORAGE_SEAL_INTERVAL_SECONDS": "1", "TOKENTRA_ROLLUP_INTERVAL_SECONDS": "1",
        ])
        let sealed = try await Self.fill(first.baseURL, key: key, rounds: 3, perRound: 50, pause: .milliseconds(1300))
        // `tokentra query` reads the rollups (it works while the daemon runs): wait for all 150.
        let day = UTCTimestamp.format(Int64(Date().timeIntervalSince1970 * 1000) - 86_400_000).prefix(10)
        let nextDay = UTCTimestamp.format(Int64(Date().timeIntervalSince1970 * 1000) + 2 * 86_400_000).prefix(10)
        let query = ["query", "usage", "--org", "org_b", "--from", String(day), "--to", String(nextDay), "--format", "json"]
        var rolled = 0
        let deadline = ContinuousClock.now + .seconds(15)
        while rolled != sealed.count && ContinuousClock.now < deadline {
            let q = try await runCLI(query + ["--data-dir", dir])
            rolled = (try? StrictJSON.parse(q.stdout))?["data"]?["total_requests"]?.intValue ?? 0
            if rolled != sealed.count { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(rolled == sealed.count)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit().status == 0)
        let second = try await DaemonProcess.start(dataDir: dir)  // seals every 60 s: these stay in the WAL
        let unsealed = try await Self.fill(second.baseURL, key: key, rounds: 1, perRound: 40, pause: .zero)
        second.signal(SIGKILL)
        _ = try await second.waitForExit()
        try? FileManager.default.removeItem(atPath: first.stderrPath)
        try? FileManager.default.removeItem(atPath: second.stderrPath)

        let before = try await Self.digest(dir)
        let backup = tmp.file("backup")
        let b = try await runCLI(["backup", "--data-dir", dir, "--to", backup])
        #expect(b.status == 0, "\(b.stderr)")
        let report = try StrictJSON.parse(b.stdout)
        #expect(report["mode"]?.stringValue == "offline")
        #expect(report["events"]?.intValue == sealed.count)
        #expect(report["wal_events"]?.intValue == unsealed.count)
        #expect(report["segments"]?.intValue ?? 0 >= 1)
        #expect(try await Self.digest(dir) == before, "backup changed the source")
        // The manifest is sha256sum's format.
        let sums = try await shell("cd '\(backup)' && sha256sum --strict -c MANIFEST.sha256")
        #expect(sums.status == 0, "\(sums.output)")
        let listed = sums.output.split(separator: "\n").filter { $0.hasSuffix(": OK") }.count
        #expect(listed == report["files"]?.intValue)

        let restored = tmp.file("restored")
        let r = try await runCLI(["restore", "--from", backup, "--data-dir", restored])
        #expect(r.status == 0, "\(r.stderr)")
        let rr = try StrictJSON.parse(r.stdout)
        #expect(rr["events"]?.intValue == sealed.count)
        #expect(rr["wal_events"]?.intValue == unsealed.count)
        #expect(!FileManager.default.fileExists(atPath: backup + "/LOCK"))

        let source = try await runCLI(["export", "--data-dir", dir, "--format", "ndjson"])
        let copy = try await runCLI(["export", "--data-dir", restored, "--format", "ndjson"])
        #expect(source.status == 0 && copy.status == 0, "\(source.stderr) \(copy.stderr)")
        #expect(source.stdout.split(separator: "\n").count == sealed.count + unsealed.count)
        #expect(copy.stdout == source.stdout)
        let ids = try await ProcessTests.exportedIDs(restored)
        #expect(Set(ids) == Set(sealed + unsealed))
        // The rollups came with the index: the same query answer, byte for byte.
        let sourceQuery = try await runCLI(query + ["--data-dir", dir])
        let copyQuery = try await runCLI(query + ["--data-dir", restored])
        #expect(sourceQuery.status == 0, "\(sourceQuery.stderr)")
        #expect(copyQuery.stdout == sourceQuery.stdout)
        #expect(try StrictJSON.parse(copyQuery.stdout)["data"]?["total_requests"]?.intValue == sealed.count)

        // A second restore into the now non-empty directory is refused and changes nothing.
        let again = try await runCLI(["restore", "--from", backup, "--data-dir", restored])
        #expect(again.status == 2)
        #expect(again.stderr.contains("already exists and is not an empty directory"), "\(again.stderr)")
        // So is a backup into a non-empty directory.
        let over = try await runCLI(["backup", "--data-dir", dir, "--to", backup])
        #expect(over.status == 2)
        #expect(over.stderr.contains("is not empty"), "\(over.stderr)")
    }

    /// Clients post new events without pause while the backup runs beside the daemon (seals every
    /// second, compaction after each): the restored copy holds every event acknowledged before the
    /// backup started, nothing that was not sent before it ended, and each event once.
    @Test func onlineBackupUnderConcurrentIngestLosesAndDuplicatesNothing() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        let tmp = TemporaryDirectory("tokentra-backup-online")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let (key, _) = try await ProcessTests.createKey(dir, org: "org_o", extra: ["--rate-minute", "0", "--rate-day", "0"])
        let daemon = try await DaemonProcess.start(dataDir: dir, environment: [
            "TOKENTRA_STORAGE_SEAL_INTERVAL_SECONDS": "1", "TOKENTRA_ROLLUP_INTERVAL_SECONDS": "1",
        ])
        let log = SentLog()
        let stop = Flag()
        let clients = (0..<4).map { _ in
            Task {
                while !stop.isSet {
                    let ids = (0..<20).map { _ in UUID().uuidString.lowercased() }
                    let sentAt = ContinuousClock.now
                    let r = try? await ProcessTests.post(daemon.baseURL, key: key, ids: ids)
                    let ok = r?.status == 200 && r?.json["processed"] as? Int == ids.count
                    log.entries.withLock { $0.append(SentBatch(ids: ids, sentAt: sentAt, ackedAt: ok ? ContinuousClock.now : nil)) }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(2500))
        let backup = tmp.file("backup")
        let started = ContinuousClock.now
        let b = try await runCLI(["backup", "--data-dir", dir, "--to", backup, "--format", "json"])
        let finished = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(500))
        stop.set()
        for c in clients { _ = await c.result }
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit().status == 0, "\(daemon.stderr.suffix(1000))")
        #expect(b.status == 0, "\(b.stderr)")
        let report = try StrictJSON.parse(b.stdout)
        #expect(report["mode"]?.stringValue == "online")

        let sent = log.entries.withLock { $0 }
        let ackedBefore = Set(sent.filter { $0.ackedAt.map { $0 < started } ?? false }.flatMap(\.ids))
        let sentBeforeEnd = Set(sent.filter { $0.sentAt < finished }.flatMap(\.ids))
        let ackedAll = Set(sent.filter { $0.ackedAt != nil }.flatMap(\.ids))
        #expect(ackedBefore.count >= 200, "only \(ackedBefore.count) events before the backup")
        #expect(ackedAll.count > ackedBefore.count)

        let restored = tmp.file("restored")
        let r = try await runCLI(["restore", "--from", backup, "--data-dir", restored])
        #expect(r.status == 0, "\(r.stderr)")
        let ids = try await ProcessTests.exportedIDs(restored)
        #expect(ids.count == Set(ids).count, "\(ids.count - Set(ids).count) duplicates in the restored copy")
        #expect(ackedBefore.subtracting(ids).isEmpty, "\(ackedBefore.subtracting(ids).count) acknowledged events missing")
        #expect(Set(ids).subtracting(sentBeforeEnd).isEmpty, "events sent after the backup ended are in it")
        let rr = try StrictJSON.parse(r.stdout)
        #expect((rr["events"]?.intValue ?? -1) + (rr["wal_events"]?.intValue ?? -1) == ids.count)
        // The source still holds every acknowledged event once.
        let all = try await ProcessTests.exportedIDs(dir)
        #expect(all.count == Set(all).count)
        #expect(ackedAll.subtracting(all).isEmpty)
        try? FileManager.default.removeItem(atPath: daemon.stderrPath)
    }

    /// A backup killed half-way (rate-limited so it is still copying) leaves the source as it was
    /// and a directory restore refuses; a finished backup that is then damaged is refused too.
    @Test func killedOrDamagedBackupsAreRefused() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        let tmp = TemporaryDirectory("tokentra-backup-kill")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let (key, _) = try await ProcessTests.createKey(dir, org: "org_k", extra: ["--rate-minute", "0", "--rate-day", "0"])
        let daemon = try await DaemonProcess.start(dataDir: dir, environment: ["TOKENTRA_STORAGE_SEAL_INTERVAL_SECONDS": "1"])
        let ids = try await Self.fill(daemon.baseURL, key: key, rounds: 4, perRound: 100, pause: .milliseconds(1200))
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit().status == 0)
        try? FileManager.default.removeItem(atPath: daemon.stderrPath)
        let before = try await Self.digest(dir)

        // Killed while it copies at 16 KiB/s.
        let partial = tmp.file("partial")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: DaemonProcess.binary)
        p.arguments = ["backup", "--data-dir", dir, "--to", partial, "--copy", "--max-rate", "16K"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let copied = FileManager.default.subpaths(atPath: partial + "/segments")?.filter { $0.hasSuffix(".tseg") }.count ?? 0
            if copied >= 1 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(p.isRunning, "the backup finished before it could be killed")
        kill(p.processIdentifier, SIGKILL)
        let killed = try await shell("while kill -0 \(p.processIdentifier) 2>/dev/null; do sleep 0.05; done; echo gone")
        #expect(killed.output.contains("gone"))
        #expect(!FileManager.default.fileExists(atPath: partial + "/MANIFEST.sha256"))
        #expect(try await Self.digest(dir) == before, "a killed backup changed the source")
        let target = tmp.file("from-partial")
        let refused = try await runCLI(["restore", "--from", partial, "--data-dir", target])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("has no MANIFEST.sha256: the backup did not finish"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).filter { $0.contains(".restore-") }.isEmpty)

        // A finished backup restores; then each kind of damage is refused, naming it.
        let good = tmp.file("good")
        #expect(try await runCLI(["backup", "--data-dir", dir, "--to", good]).status == 0)
        let check = try await runCLI(["restore", "--from", good, "--check"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(try StrictJSON.parse(check.stdout)["events"]?.intValue == ids.count)
        let segment = try #require(FileManager.default.subpaths(atPath: good + "/segments")?.first { $0.hasSuffix(".tseg") })
        let segmentPath = good + "/segments/" + segment
        let original = try Data(contentsOf: URL(fileURLWithPath: segmentPath))
        var flipped = original
        flipped[flipped.count / 2] ^= 0x01
        try FileManager.default.removeItem(atPath: segmentPath)  // a hard link: never write through to the source
        try flipped.write(to: URL(fileURLWithPath: segmentPath))
        for args in [["restore", "--from", good, "--check"], ["restore", "--from", good, "--data-dir", target]] {
            let r = try await runCLI(args)
            #expect(r.status == 2)
            #expect(r.stderr.contains("segments/\(segment) is damaged: SHA-256"), "\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: target))
        try FileManager.default.removeItem(atPath: segmentPath)
        try original.write(to: URL(fileURLWithPath: segmentPath))

        try "stray".write(toFile: good + "/segments/extra.tseg", atomically: false, encoding: .utf8)
        let extra = try await runCLI(["restore", "--from", good, "--data-dir", target])
        #expect(extra.stderr.contains("segments/extra.tseg, which its manifest does not list"), "\(extra.stderr)")
        try FileManager.default.removeItem(atPath: good + "/segments/extra.tseg")

        let manifestPath = good + "/MANIFEST.sha256"
        let manifest = try String(contentsOfFile: manifestPath, encoding: .utf8)
        var lines = manifest.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast(2)  // the checksum line and the final empty element
        try (lines.joined(separator: "\n") + "\n").write(toFile: manifestPath, atomically: true, encoding: .utf8)
        let cut = try await runCLI(["restore", "--from", good, "--data-dir", target])
        #expect(cut.stderr.contains("has no final '# manifest_sha256' line"), "\(cut.stderr)")
        try manifest.replacingOccurrences(of: "# segments ", with: "# segments 9").write(toFile: manifestPath, atomically: true, encoding: .utf8)
        let edited = try await runCLI(["restore", "--from", good, "--data-dir", target])
        #expect(edited.stderr.contains("MANIFEST.sha256 is damaged: its checksum is"), "\(edited.stderr)")
        try manifest.write(toFile: manifestPath, atomically: true, encoding: .utf8)

        let ok = try await runCLI(["restore", "--from", good, "--data-dir", target])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(Set(try await ProcessTests.exportedIDs(target)) == Set(ids))
        #expect(try await Self.digest(dir) == before)
    }
}

struct SentBatch: Sendable {
    var ids: [String]
    var sentAt: ContinuousClock.Instant
    var ackedAt: ContinuousClock.Instant?
}

final class SentLog: Sendable {
    let entries = Mutex<[SentBatch]>([])
}
