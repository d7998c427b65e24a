import Foundation
@testable import SegmentStore
import Synchronization
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A retry that arrives while its original is still waiting for the WAL fsync: real concurrent HTTP
/// requests against the real daemon, with the original's WAL write held by the fault-injection seam.
@Suite(.serialized, .faultIsolated) struct InflightDuplicateTests {
    /// Sends `body` on its own task; ``response`` is nil until the answer arrived.
    final class Pending: Sendable {
        private let task: Task<Void, Never>

        init(_ daemon: TestDaemon, key: String, body: String) {
            let box = Box()
            task = Task {
                let r = try? await HTTP.ingest(daemon, key: key, body: body)
                box.set(r)
            }
            self.shared = box
        }

        private let shared: Box
        var response: TestResponse? { shared.get() }
        func wait() async -> TestResponse? {
            await task.value
            return response
        }
    }

    final class Box: Sendable {
        private let value = Mutex<TestResponse?>(nil)
        func set(_ r: TestResponse?) { value.withLock { $0 = r } }
        func get() -> TestResponse? { value.withLock { $0 } }
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<500 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("condition not reached within 5 s")
    }

    static func body(_ ids: [String]) -> String { Payload.batch(ids.map { Payload.event(id: $0) }) }

    /// A daemon whose jobs never seal (so the WAL never rotates during the test), and the path of the
    /// WAL file its next record goes to (fault rules match that file only, never a new file's header).
    static func start() async throws -> (TestDaemon, String) {
        let d = try await TestDaemon.start({ $0.sealIntervalSeconds = 3600 }, hooks: .init(rollup: { _ in }, retention: { _ in }))
        let walDir = d.store.configuration.dataDirectory + "/wal"
        let newest = try #require(WriteAheadLog.existingSequences(directory: walDir).last)
        return (d, WriteAheadLog.path(directory: walDir, sequence: newest))
    }

    @Test func retryOfAnInflightBatchIsAcknowledgedOnlyAfterTheOriginalIsDurable() async throws {
        defer { FaultInjection.reset() }
        let (d, walPath) = try await Self.start()
        let (key, _) = try d.createKey()
        let ids = (0..<50).map { _ in UUID().uuidString.lowercased() }
        let held = FaultInjection.install(.init(path: walPath, .write, on: .nth(1), .hold("original")))

        let original = Pending(d, key: key, body: Self.body(ids))
        try await Self.waitUntil { FaultInjection.fired(held) == 1 }  // the original's record is being written
        let retry = Pending(d, key: key, body: Self.body(ids))
        // The retry cannot be answered while its original is not durable.
        try await Task.sleep(for: .milliseconds(300))
        #expect(retry.response == nil, "the retry was acknowledged before its original was durable")
        #expect(original.response == nil)

        FaultInjection.release("original")
        let a = try #require(await original.wait())
        let b = try #require(await retry.wait())
        #expect(a.status == 200)
        #expect(a.json["processed"] as? Int == 50)
        #expect(a.json["duplicates"] as? Int == 0)
        #expect(b.status == 200)
        #expect(b.json["processed"] as? Int == 0)
        #expect(b.json["duplicates"] as? Int == 50)
        let stored = try await d.storedEvents()
        #expect(stored.count == 50)
        #expect(Set(stored.map(\.requestID.description)) == Set(ids))
        try await d.stop()
    }

    @Test func retryIsStoredWhenTheOriginalWriteFails() async throws {
        defer { FaultInjection.reset() }
        let (d, walPath) = try await Self.start()
        let (key, _) = try d.createKey()
        let ids = (0..<40).map { _ in UUID().uuidString.lowercased() }
        let held = FaultInjection.install(.init(path: walPath, .write, on: .nth(1), .hold("original")))
        FaultInjection.install(.init(path: walPath, .write, on: .nth(1), .fail(ENOSPC)))

        let original = Pending(d, key: key, body: Self.body(ids))
        try await Self.waitUntil { FaultInjection.fired(held) == 1 }
        let retry = Pending(d, key: key, body: Self.body(ids))
        try await Task.sleep(for: .milliseconds(300))
        #expect(retry.response == nil)

        FaultInjection.release("original")
        let a = try #require(await original.wait())
        let b = try #require(await retry.wait())
        // The original was not stored (disk full), so the retry is stored as the original.
        #expect(a.status == 507, "\(a.body)")
        #expect(a.json["error"].flatMap { ($0 as? [String: Any])?["code"] as? String } == "STORAGE_FULL")
        #expect(b.status == 200, "\(b.body)")
        #expect(b.json["processed"] as? Int == 40)
        #expect(b.json["duplicates"] as? Int == 0)
        let stored = try await d.storedEvents()
        #expect(stored.count == 40)
        #expect(Set(stored.map(\.requestID.description)) == Set(ids))
        // And it is durable: after a restart on the same directory, still exactly once.
        let dir = d.store.configuration.dataDirectory
        try await d.stop(keepDirectory: true)
        let again = try await TestDaemon.start(dataDirectory: dir)
        let (key2, _) = try again.createKey()
        let replay = try await HTTP.ingest(again, key: key2, body: Self.body(ids))
        #expect(replay.json["duplicates"] as? Int == 40)
        #expect(try await again.storedEvents().count == 40)
        try await again.stop()
        d.dir.remove()
    }
}
