import Foundation
import Synchronization
import Testing
import TokentraTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Tests that run the real `tokentra` binary: crash safety, signals, CLI key management while the
/// daemon runs, and a full disk.
@Suite struct ProcessTests {
    static func createKey(_ dir: String, org: String, extra: [String] = []) async throws -> (key: String, id: String) {
        let r = try await runCLI(["keys", "create", "--data-dir", dir, "--org", org, "--name", "test", "--scopes", "sdk:write", "--format", "json"] + extra)
        guard r.status == 0, let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
            let key = json["key"] as? String, let id = json["id"] as? String
        else { throw TestFailure("keys create failed: \(r.status) \(r.stdout) \(r.stderr)") }
        return (key, id)
    }

    static func post(_ base: String, key: String, ids: [String], timeout: Int64 = 3) async throws -> TestResponse {
        try await HTTP.request(
            base + "/api/v1/sdk/ingest", method: "POST", headers: [("Authorization", "Bearer \(key)")],
            body: Array(Payload.batch(ids.map { Payload.event(id: $0) }).utf8), timeout: timeout)
    }

    static func exportedIDs(_ dir: String) async throws -> [String] {
        let r = try await runCLI(["export", "--data-dir", dir, "--format", "ndjson"])
        guard r.status == 0 else { throw TestFailure("export failed: \(r.stderr)") }
        return r.stdout.split(separator: "\n").compactMap { line in
            guard let start = line.range(of: "\"request_id\":\"") else { return nil }
            return String(line[start.upperBound...].prefix { $0 != "\"" })
        }
    }

    /// N clients post batches to a real daemon that is SIGKILLed at random moments and restarted:
    /// every event whose batch got a 200 is stored exactly once.
    @Test func killDashNineNeverLosesOrDuplicatesAcknowledgedEvents() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        let tmp = TemporaryDirectory("tokentra-kill9")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let (key, _) = try await Self.createKey(dir, org: "org_k", extra: ["--rate-minute", "0", "--rate-day", "0"])
        let acked = Collected()
        var resendChecks = 0
        var rng = SystemRandomNumberGenerator()
        let rounds = 5
        for round in 0..<rounds {
            let daemon = try await DaemonProcess.start(
                dataDir: dir, environment: ["TOKENTRA_STORAGE_SEAL_INTERVAL_SECONDS": "1", "TOKENTRA_ROLLUP_INTERVAL_SECONDS": "1"])
            // A batch acknowledged before the crash is a duplicate after it.
            let previous = acked.ids.withLock { Array($0.suffix(10)) }
            if !previous.isEmpty {
                let r = try await Self.post(daemon.baseURL, key: key, ids: previous)
                #expect(r.status == 200)
                #expect(r.json["duplicates"] as? Int == previous.count, "round \(round): \(r.body)")
                #expect(r.json["processed"] as? Int == 0)
                resendChecks += 1
            }
            let killed = Flag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        while !killed.isSet {
                            let ids = (0..<50).map { _ in UUID().uuidString.lowercased() }
                            guard let r = try? await Self.post(daemon.baseURL, key: key, ids: ids, timeout: 2) else { break }
                            if r.status == 200, (r.json["processed"] as? Int) == ids.count {
                                acked.ids.withLock { $0 += ids }
                            } else if r.status == 200 {
                                Issue.record("partial 200: \(r.body)")
                            }
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(Int64.random(in: 150...900, using: &rng)))
                daemon.signal(SIGKILL)
                killed.set()
                try await group.waitForAll()
            }
            let exit = try await daemon.waitForExit()
            #expect(exit.reason == .uncaughtSignal && exit.status == SIGKILL)
            try? FileManager.default.removeItem(atPath: daemon.stderrPath)
        }
        let stored = try await Self.exportedIDs(dir)
        let ackedIDs = acked.ids.withLock { $0 }
        #expect(ackedIDs.count > 1000, "only \(ackedIDs.count) events were acknowledged")
        #expect(resendChecks >= 1)
        #expect(Set(stored).count == stored.count, "an event is stored twice")
        let missing = Set(ackedIDs).subtracting(stored)
        #expect(missing.isEmpty, "\(missing.count) acknowledged events are missing")
        let verify = try await runCLI(["verify", "--data-dir", dir, "--format", "json"])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
    }

    /// SIGTERM: drain, seal, exit 0; the keys CLI works while the daemon runs.
    @Test func sigtermAndKeysWhileRunning() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        let tmp = TemporaryDirectory("tokentra-sigterm")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let daemon = try await DaemonProcess.start(dataDir: dir, environment: ["TOKENTRA_AUTH_KEY_REFRESH_SECONDS": "1"])
        // The daemon holds the data directory lock; `keys` only opens the SQLite index.
        let (key, id) = try await Self.createKey(dir, org: "org_t")
        let ids = (0..<20).map { _ in UUID().uuidString.lowercased() }
        let r = try await Self.post(daemon.baseURL, key: key, ids: ids)
        #expect(r.status == 200, "\(r.body) \(daemon.stderr.suffix(500))")
        let list = try await runCLI(["keys", "list", "--data-dir", dir, "--format", "json"])
        #expect(list.status == 0)
        #expect(list.stdout.contains(id))
        #expect(!list.stdout.contains(key))
        let revoke = try await runCLI(["keys", "revoke", "--data-dir", dir, id])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        var code: String?
        var accepted = ids
        for _ in 0..<30 {
            let id = UUID().uuidString.lowercased()
            let again = try await Self.post(daemon.baseURL, key: key, ids: [id])
            if again.status == 200 { accepted.append(id) }  // before the daemon re-read the keys
            code = again.errorCode
            if code == "KEY_REVOKED" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(code == "KEY_REVOKED")
        // A second daemon on the same directory is refused (the lock), without harm.
        let second = try await runCLI(["serve", "--data-dir", dir, "--port", "0"])
        #expect(second.status == 2)
        #expect(second.stderr.contains("in use by another tokentra process"))

        daemon.signal(SIGTERM)
        let exit = try await daemon.waitForExit(timeout: .seconds(20))
        #expect(exit.reason == .exit && exit.status == 0, "\(daemon.stderr.suffix(1000))")
        #expect(daemon.stderr.contains("tokentra stopped cleanly"))
        #expect(Set(try await Self.exportedIDs(dir)) == Set(accepted))
    }

    /// A full disk (a 4 MiB tmpfs): 507 STORAGE_FULL, never a 200 for a non-durable batch,
    /// /readyz says why; once space is back, ingest carries on.
    @Test func fullDisk() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        guard geteuid() == 0 else {
            print("fullDisk skipped: needs root to mount a small tmpfs")
            return
        }
        let tmp = TemporaryDirectory("tokentra-fulldisk")
        defer { tmp.remove() }
        let mnt = tmp.file("mnt")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let mount = try await shell("mount -t tmpfs -o size=4m tmpfs \(mnt)")
        guard mount.status == 0 else {
            print("fullDisk skipped: cannot mount tmpfs (\(mount.output.trimmingCharacters(in: .whitespacesAndNewlines)))")
            return
        }
        defer { _ = try? shellSync("umount -l \(mnt)") }
        let dir = mnt + "/data"
        let (key, _) = try await Self.createKey(dir, org: "org_f")
        let daemon = try await DaemonProcess.start(dataDir: dir, environment: [
            "TOKENTRA_READINESS_MIN_FREE_BYTES": "262144", "TOKENTRA_STORAGE_SEAL_INTERVAL_SECONDS": "3600",
            "TOKENTRA_ROLLUP_INTERVAL_SECONDS": "3600",
        ])
        let before = (0..<20).map { _ in UUID().uuidString.lowercased() }
        #expect(try await Self.post(daemon.baseURL, key: key, ids: before).status == 200)
        #expect(try await HTTP.request(daemon.baseURL + "/readyz").status == 200)

        // Fill the filesystem.
        _ = try await shell("dd if=/dev/zero of=\(mnt)/filler bs=64k 2>/dev/null; sync")
        var rejected: [String] = []
        var sawFull = false
        for _ in 0..<5 {
            let ids = (0..<100).map { _ in UUID().uuidString.lowercased() }
            let r = try await Self.post(daemon.baseURL, key: key, ids: ids)
            if r.status == 507 {
                #expect(r.errorCode == "STORAGE_FULL")
                #expect(r.header("Retry-After") != nil)
                rejected += ids
                sawFull = true
            } else {
                #expect(r.status == 200, "\(r.body)")
            }
        }
        #expect(sawFull, "no 507 on a full disk: \(daemon.stderr.suffix(800))")
        let notReady = try await HTTP.request(daemon.baseURL + "/readyz")
        #expect(notReady.status == 503)
        let reason = notReady.json["reason"] as? String ?? ""
        #expect(reason.contains("disk space low") || reason.contains("storage full"), "\(notReady.body)")

        // Space comes back: writes and readiness recover without a restart.
        try FileManager.default.removeItem(atPath: mnt + "/filler")
        let after = (0..<20).map { _ in UUID().uuidString.lowercased() }
        let ok = try await Self.post(daemon.baseURL, key: key, ids: after)
        #expect(ok.status == 200, "\(ok.body)")
        #expect(try await HTTP.request(daemon.baseURL + "/readyz").status == 200)
        daemon.signal(SIGTERM)
        let exit = try await daemon.waitForExit(timeout: .seconds(20))
        #expect(exit.status == 0, "\(daemon.stderr.suffix(1000))")
        let stored = Set(try await Self.exportedIDs(dir))
        #expect(stored.isSuperset(of: before + after))
        #expect(stored.isDisjoint(with: rejected))
    }
}

@discardableResult
func shellSync(_ command: String) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func shell(_ command: String) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { c in
        DispatchQueue.global().async { c.resume(with: Result { try shellSync(command) }) }
    }
}

final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

final class Collected: Sendable {
    let ids = Mutex<[String]>([])
}
