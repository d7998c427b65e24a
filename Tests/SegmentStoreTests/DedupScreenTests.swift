import Foundation
import Logging
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex
@testable import SegmentStore

/// The org screen of the cross-day dedup in the store: it grows by appending filters instead of
/// being rebuilt, keeps exactly-once through its growths, survives retention (the deleted day's
/// entries go stale) and is rebuilt only once stale entries outnumber live ones.
@Suite struct DedupScreenTests {
    /// `e` moved `days` UTC days later (earlier if negative).
    static func moved(_ e: UsageEvent, days: Int) -> UsageEvent {
        var m = e
        m.timestampMs += Int64(days) * UTC.msPerDay
        return m
    }

    /// An org's first screen is empty, so with no minimum room its first filter holds 240 ids;
    /// 6,000 ids later it has grown several times by appending filters of doubling capacity, was
    /// never rebuilt, and every id re-sent on another day is a duplicate (confirmed on day 0, read
    /// back from its segments: the cache holds 1,000 ids).
    @Test func screenGrowsByAppendingFiltersWithoutARebuild() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let small: (inout SegmentStore.Configuration) -> Void = {
            $0.screenMinimumCapacity = 0
            $0.screenMergeAbove = .max  // the chain as it grows (merges: the next test)
            $0.dedupCachedIDs = 1_000
        }
        let store = try await Store.open(dir, small)
        let n = 6_000
        let originals = Store.events(n, day: 0, seed: 41, spacingMs: 10_000)
        for chunk in stride(from: 0, to: n, by: 500) {
            #expect(try await store.ingest(Array(originals[chunk..<(chunk + 500)])).stored == 500)
            if chunk == 3_000 { try await store.flush() }
        }
        try await store.flush()
        #expect(await store.screenBuilds == 1)  // on the org's first event, from nothing stored
        let grown = try #require(await store.screenCounts("org_a"))
        #expect(grown.entries == n)
        #expect(grown.stale == 0)
        #expect(grown.filters == (await store.screenGrowths) + 1)
        // 240 + 481 + 966 + 1,936 = 3,623 < 6,000 ≤ 3,623 + 3,876: five filters (six if a stash
        // filled one early), about log2(6,000 / 240) + 1.
        #expect((5...6).contains(grown.filters), "\(grown.filters) filters")
        let memory = await store.filterMemoryBytes
        #expect(memory >= n * 4)  // every filter's slots are counted
        #expect(memory < n * 4 * 4)
        #expect(await store.dedupMemoryBytes >= memory)  // the screens are part of the dedup state

        // Every id again, 1–3 days later, with 300 new ones, in one batch.
        let shifted = originals.enumerated().map { i, e in Self.moved(e, days: 1 + i % 3) }
        let fresh = Store.events(300, day: 2, seed: 42, offsetMs: 50_000_000)
        let r = try await store.ingest(shifted + fresh)
        #expect(r.stored == 300)
        #expect(r.duplicateIndices == Array(0..<n))
        #expect(try await store.ingest(originals.map { Self.moved($0, days: 5) })
                == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<n)))
        #expect(await store.screenBuilds == 1)
        #expect(await store.screenCounts("org_a")?.entries == n + 300)
        try await store.flush()
        await store.close()

        // Reopened: one build from the segments, sized for them (one filter), same answers.
        let reopened = try await Store.open(dir, small)
        #expect(try await reopened.ingest(shifted + fresh.map { Self.moved($0, days: 1) })
                == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<(n + 300))))
        #expect(await reopened.screenBuilds == 1)
        #expect(await reopened.screenGrowths == 0)
        let rebuilt = try #require(await reopened.screenCounts("org_a"))
        #expect(rebuilt.filters == 1)
        #expect(rebuilt.entries == n + 300)
        #expect(try await Store.allEvents(reopened).count == n + 300)
        await reopened.close()
    }

    /// A chain longer than `screenMergeAbove` filters whose days are in memory has its frozen
    /// filters merged into one off the actor, while ingest goes on: afterwards the screen holds
    /// exactly the ids stored, in at most three filters, and every id is still found.
    @Test func longChainIsMergedFromTheInMemorySets() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir) {
            $0.screenMinimumCapacity = 0
            $0.screenMergeAbove = 2
        }
        let n = 8_000
        let originals = Store.events(n, day: 0, seed: 71, spacingMs: 10_000)
        for chunk in stride(from: 0, to: n, by: 250) {
            #expect(try await store.ingest(Array(originals[chunk..<(chunk + 250)])).stored == 250)
        }
        try await Store.waitUntil("the merges to finish") { await store.mergingScreens.isEmpty }
        #expect(await store.screenMerges >= 1)
        #expect(await store.screenBuilds == 1)
        let merged = try #require(await store.screenCounts("org_a"))
        #expect(merged.entries == n)
        #expect(merged.stale == 0)
        #expect(merged.filters <= 3, "\(merged.filters) filters")
        #expect(await store.screenGrowths >= 4)  // 240, 481, 966, 1,936, 3,876: grown at least 4 times
        let r = try await store.ingest(originals.enumerated().map { i, e in Self.moved(e, days: 1 + i % 2) })
        #expect(r == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<n)))
        await store.close()
    }

    /// Retention deletes day 0: the screen is kept (40 stale entries, 100 live), day 0's ids are
    /// new again, on day 0 and on day 256 (whose tag their stale entries carry), the retained day's
    /// ids are still duplicates, and the screen is not rebuilt. A second run that leaves only stale
    /// entries drops it; the org's next event rebuilds it from what is stored.
    @Test func dayDeletedByRetentionIsNewAgainWithoutARebuild() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir)
        let old = Store.events(40, day: 0, seed: 51)
        let kept = Store.events(100, day: 256, seed: 52)
        let tag = { (d: Int) in UInt8(truncatingIfNeeded: Store.dayStart(d) / UTC.msPerDay) }
        #expect(tag(256) == tag(0))
        #expect(try await store.ingest(old).stored == 40)
        #expect(try await store.ingest(kept).stored == 100)
        try await store.flush()
        try Store.markRolledUp(store)
        #expect(await store.screenBuilds == 1)

        // Keep 5 raw days at day 257: day 0 goes, day 256 stays.
        var now = Store.dayStart(257) + 3_600_000
        try store.index.setRetentionPolicy(RetentionPolicy(rawDays: 5, hourlyDays: 90, dailyDays: 365), orgID: "org_a", now: now)
        let first = try #require(try await Retention(store: store).run(now: now, dryRun: false).first { $0.orgID == "org_a" })
        #expect(first.segmentDays == [Store.day(0)])
        #expect(first.rawEvents == 40)
        let kept1 = try #require(await store.screenCounts("org_a"))
        #expect(kept1 == (filters: 1, entries: 140, stale: 40))

        // Day 0's ids are no longer stored: new again on their own day, and on day 256.
        #expect(try await store.ingest(Array(old[0..<20])) == SegmentStore.IngestResult(stored: 20))
        #expect(try await store.ingest(old[20..<40].map { Self.moved($0, days: 256) }) == SegmentStore.IngestResult(stored: 20))
        // Now stored once more (days 0 and 256): duplicates on day 257.
        #expect(try await store.ingest(old.map { Self.moved($0, days: 257) })
                == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<40)))
        // The retained day's ids are still duplicates on any other day (day 0's tag, day 1, day 300).
        #expect(try await store.ingest(kept.map { Self.moved($0, days: -256) })
                == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<100)))
        #expect(try await store.ingest(kept.map { Self.moved($0, days: -255) } + kept.map { Self.moved($0, days: 44) })
                == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<200)))
        #expect(await store.screenBuilds == 1)
        #expect(await store.screenGrowths == 0)
        let kept2 = try #require(await store.screenCounts("org_a"))
        #expect(kept2 == (filters: 1, entries: 180, stale: 40))

        // Day 256 goes too (and day 0's new events): only stale entries are left, the screen is
        // dropped, and rebuilt on the org's next event from what is stored then.
        try await store.flush()
        try Store.markRolledUp(store)
        now = Store.dayStart(300) + 3_600_000
        let second = try #require(try await Retention(store: store).run(now: now, dryRun: false).first { $0.orgID == "org_a" })
        #expect(Set(second.segmentDays) == [Store.day(0), Store.day(256)])
        #expect(second.rawEvents == 140)
        #expect(await store.screenCounts("org_a") == nil)
        let fresh = Store.events(10, day: 300, seed: 53)
        #expect(try await store.ingest(fresh) == SegmentStore.IngestResult(stored: 10))
        #expect(await store.screenBuilds == 2)
        let rebuilt = try #require(await store.screenCounts("org_a"))
        #expect(rebuilt == (filters: 1, entries: 10, stale: 0))
        // Nothing of days 0 and 256 is stored any more: all new, on any day.
        #expect(try await store.ingest(kept.map { Self.moved($0, days: 45) } + old.map { Self.moved($0, days: 301) })
                == SegmentStore.IngestResult(stored: 140))
        #expect(try await store.ingest(fresh.map { Self.moved($0, days: 1) }).duplicateIndices == Array(0..<10))
        #expect(await store.screenBuilds == 2)
        await store.close()
    }

    /// A segment that cannot be read while the screen is built is quarantined, not skipped: its
    /// ids are new again on any day, the other segments' ids are duplicates.
    @Test func screenBuildQuarantinesACorruptSegment() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let bad = Store.events(30, day: 1, seed: 61), good = Store.events(20, day: 1, seed: 62, offsetMs: 5_000)
        let badSegment: SegmentRecord
        do {
            let store = try await Store.open(dir)
            #expect(try await store.ingest(bad).stored == 30)
            try await store.flush()
            badSegment = try #require(try store.index.segments().first)
            #expect(try await store.ingest(good).stored == 20)
            try await store.flush()
            await store.close()
        }
        try RecoveryTests.corrupt(.requestID, of: dir.path + "/" + badSegment.file)
        // Reopened, the first event of day 3 builds the screen from day 1's segments.
        let store = try await Store.open(dir)
        let r = try await store.ingest(bad.map { Self.moved($0, days: 2) } + good.map { Self.moved($0, days: 2) })
        #expect(r == SegmentStore.IngestResult(stored: 30, duplicateIndices: Array(30..<50)))
        #expect(try store.index.quarantinedSegments().map(\.file) == [badSegment.file])
        #expect(await store.screenBuilds == 1)
        #expect(await store.screenCounts("org_a")?.entries == 50)
        await store.close()
    }
}
