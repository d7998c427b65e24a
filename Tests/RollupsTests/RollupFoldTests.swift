import Foundation
import Logging
import Rollups
import SegmentStore
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex

/// Folding new events into stored rows (schema/rollups.md, "Folding new events in"): which
/// segments a run reads, and what happens when compaction replaces them while it runs.
@Suite("Rollup folding")
struct RollupFoldTests {
    static let events = EventFactory.events(3000, org: "org_a", seed: 21, days: 2)
    /// UTC days the events fall on (the factory's days do not start at midnight).
    static let days = Set(events.map { $0.timestampMs / 86_400_000 }).count

    /// Splits the sample into `n` interleaved parts, each spanning every hour.
    static func parts(_ n: Int) -> [[UsageEvent]] {
        (0..<n).map { k in events.enumerated().filter { $0.offset % n == k }.map(\.element) }
    }

    static func expectSums(_ store: SegmentStore) throws {
        for g in [RollupGranularity.hour, .day] {
            let expected = expectedSlices(events, bucketMs: g == .hour ? 3_600_000 : 86_400_000)
            let actual = try actualSlices(store.index, g)
            #expect(actual.count == expected.count, "\(g)")
            for (k, v) in expected where actual[k] != v { Issue.record("\(g) \(k): \(String(describing: actual[k])) vs \(v)") }
        }
    }

    @Test("a run reads only the unrolled segments' events and clears their bits")
    func readsOnlyNewEvents() async throws {
        let parts = Self.parts(3)
        try await withStore("fold-a") { store in
            _ = try await store.ingest(parts[0])
            #expect(try await engine(store).run(now: farFuture).eventsScanned == parts[0].count)
            #expect(try store.index.segments().allSatisfy { $0.unrolledHours == 0 && $0.eventHours != 0 })
            _ = try await store.ingest(parts[1])
            _ = try await store.flush()
            let fresh = try store.index.segments().filter { $0.unrolledHours != 0 }
            #expect(fresh.count == Self.days)  // one per day
            #expect(fresh.allSatisfy { $0.unrolledHours == $0.eventHours })
            let second = try await engine(store).run(now: farFuture)
            #expect(second.eventsScanned == parts[1].count)
            _ = try await store.ingest(parts[2])
            #expect(try await engine(store).run(now: farFuture).eventsScanned == parts[2].count)
            #expect(try store.index.segments().allSatisfy { $0.unrolledHours == 0 })
            try Self.expectSums(store)
            #expect(try RollupStore(store.index).dirtyHours().isEmpty)
        }
    }

    @Test("compaction never merges rolled-up and new events of the same hour")
    func compactionKeepsRolledAndNewApart() async throws {
        let parts = Self.parts(4)
        try await withStore("fold-b") { store in
            _ = try await store.ingest(parts[0])
            _ = try await store.flush()
            _ = try await store.ingest(parts[1])
            try await engine(store).run(now: farFuture)  // two rolled segments per day
            _ = try await store.ingest(parts[2])
            _ = try await store.flush()
            _ = try await store.ingest(parts[3])
            _ = try await store.flush()  // two new ones per day
            let before = try store.index.segments()
            let result = try await store.compact(now: farFuture, all: true)
            #expect(result.written > 0)
            // Per day: the rolled-up segments merged into one and the new ones into another.
            let segments = try store.index.segments()
            #expect(segments.count == 2 * Self.days)
            #expect(segments.reduce(0) { $0 + $1.rows } == before.reduce(0) { $0 + $1.rows })
            for day in Set(segments.map(\.day)) {
                let of = segments.filter { $0.day == day }
                #expect(of.filter { $0.unrolledHours == 0 }.count == 1, "\(day)")
                #expect(of.filter { $0.unrolledHours != 0 && $0.unrolledHours == $0.eventHours }.count == 1, "\(day)")
            }
            // The index refuses a merge of both kinds outright.
            let day = segments[0].day
            let mixed = segments.filter { $0.day == day }
            #expect(throws: (any Error).self) {
                try store.index.commitCompaction(output: mixed[0], replacing: mixed.compactMap(\.id))
            }
            #expect(try store.index.segments().count == 2 * Self.days)
            try await engine(store).run(now: farFuture)
            try Self.expectSums(store)
        }
    }

    @Test("a compaction that replaces segments a run is folding makes the next run recompute those hours")
    func compactionDuringARun() async throws {
        let parts = Self.parts(3)
        try await withStore("fold-c") { store in
            _ = try await store.ingest(parts[0])
            try await engine(store).run(now: farFuture)
            _ = try await store.ingest(parts[1])
            _ = try await store.flush()
            _ = try await store.ingest(parts[2])
            _ = try await store.flush()  // two unrolled segments per day
            var logger = Logger(label: "test")
            logger.logLevel = .warning
            // Between the run's snapshot and its commit, compaction merges the two new segments of
            // each day into one: the output says "not rolled up", but the run folds their events.
            let racing = RollupEngine(store: store, logger: logger, afterSnapshot: {
                let r = try await store.compact(now: farFuture, all: true)
                #expect(r.written == Self.days)
            })
            try await racing.run(now: farFuture)
            // Counted once already; the replaced hours are marked to be recomputed.
            try Self.expectSums(store)
            let marks = try RollupStore(store.index).snapshot().dirty
            #expect(!marks.isEmpty && marks.allSatisfy(\.recompute))
            let next = try await engine(store).run(now: farFuture)
            #expect(next.hours == marks.count)
            try Self.expectSums(store)  // recomputed from all segments: still counted once
            #expect(try RollupStore(store.index).dirtyHours().isEmpty)
            #expect(try store.index.segments().allSatisfy { $0.unrolledHours == 0 })
            #expect(try await engine(store).run(now: farFuture).hours == 0)
        }
    }
}
