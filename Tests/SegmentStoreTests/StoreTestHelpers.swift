import Foundation
import Logging
import Synchronization
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex
@testable import SegmentStore
import Rollups

/// Shared helpers of the compaction, dedup and recovery suites.
enum Store {
    static let logger = Logger(label: "test")

    /// 2026-10-26T00:00:00Z, a UTC day start (``EventFactory/base`` is not one).
    static let day0: Int64 = 1_792_972_800_000

    /// Start (ms) of the UTC day `d` days after ``day0``.
    static func dayStart(_ d: Int) -> Int64 { day0 + Int64(d) * UTC.msPerDay }

    /// `YYYY-MM-DD` of day `d`.
    static func day(_ d: Int) -> String { UTC.dayString(dayStart(d)) }

    /// `n` fully populated events of `org`, all inside UTC day `d`: the i-th at
    /// `dayStart(d) + offsetMs + i * spacingMs` (so a test knows exactly which day every event is in).
    static func events(_ n: Int, day d: Int, org: String = "org_a", seed: UInt64,
                       offsetMs: Int64 = 1_000, spacingMs: Int64 = 60_000) -> [UsageEvent] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { i in
            var e = EventFactory.event(i, org: org, rng: &rng)
            e.timestampMs = dayStart(d) + offsetMs + Int64(i) * spacingMs
            precondition(UTC.dayStart(e.timestampMs) == dayStart(d), "event \(i) leaves day \(d)")
            return e
        }
    }

    static func open(_ dir: TemporaryDirectory, _ configure: (inout SegmentStore.Configuration) -> Void = { _ in }) async throws -> SegmentStore {
        var configuration = SegmentStore.Configuration(dataDirectory: dir.path)
        configure(&configuration)
        return try await SegmentStore.open(configuration: configuration, logger: logger)
    }

    /// Every stored event (sealed and unsealed), in `forEachDay` order.
    static func allEvents(_ store: SegmentStore, org: String? = nil, fromMs: Int64? = nil, toMs: Int64? = nil) async throws -> [UsageEvent] {
        var out: [UsageEvent] = []
        try await store.forEachDay(orgID: org, fromMs: fromMs, toMs: toMs) { _, _, events in out.append(contentsOf: events) }
        return out
    }

    static func sorted(_ events: [UsageEvent]) -> [UsageEvent] { events.sorted(by: SegmentStore.rowOrder) }

    /// Request ids as text, sorted (a compact way to compare which events a store holds).
    static func ids(_ events: [UsageEvent]) -> [String] { events.map(\.requestID.description).sorted() }

    /// Sum of the total costs in 1e-10 USD units.
    static func costUnits(_ events: [UsageEvent]) -> Int64 { events.reduce(0) { $0 + $1.totalCost.units } }

    /// Regular files under `root`, relative to it, sorted.
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

    /// Contents of every regular file under `root` (relative path → bytes).
    static func contents(under root: String, excluding: Set<String> = []) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for f in files(under: root) where !excluding.contains(f) { out[f] = try FileIO.readFile(root + "/" + f) }
        return out
    }

    /// Appends `bytes` to the file at `path`.
    static func append(_ bytes: [UInt8], to path: String) throws {
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }

    /// Polls `condition` (no timing is asserted: the bound only keeps a broken store from hanging the run).
    static func waitUntil(_ what: String, _ condition: () async throws -> Bool,
                          sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for _ in 0..<60_000 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(1))
        }
        Issue.record("gave up waiting for: \(what)", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    /// Clears the dirty marks of every sealed hour, the way a rollup run that found nothing to
    /// change does (retention keeps back days whose hours wait for a rollup).
    static func markRolledUp(_ store: SegmentStore) throws {
        let snapshot = try RollupStore(store.index).snapshot()
        try RollupStore(store.index).commit([], marks: snapshot.dirty, maxSegmentID: snapshot.maxSegmentID, jobRun: nil)
    }
}

/// An ordered log of what concurrent tasks did.
final class EventLog: Sendable {
    private let entries = Mutex<[String]>([])
    func append(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}
