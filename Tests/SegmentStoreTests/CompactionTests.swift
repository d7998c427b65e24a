import Foundation
import Logging
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex
@testable import SegmentStore

/// Size-tiered compaction on real files: merges, reader pins, reads racing seals and merges, the
/// row cap. (The retention race uses fault injection and lives in `FaultInjectionTests.CompactionRaces`.)
@Suite struct CompactionTests {
    /// Far enough after ``Store/day0`` that the first days are closed (before yesterday, UTC).
    static let now = Store.dayStart(20) + 3_600_000

    /// Seals `rounds` batches of `perSeal` events of day `d` (one flush each): `rounds` segments.
    static func sealRepeatedly(_ store: SegmentStore, day d: Int, rounds: Int, perSeal: Int, seed: UInt64,
                               offsetMs: Int64 = 1_000) async throws -> [UsageEvent] {
        var all: [UsageEvent] = []
        for r in 0..<rounds {
            // Interleaved timestamps, so the merge really has to sort rows from every input.
            let events = Store.events(perSeal, day: d, seed: seed + UInt64(r), offsetMs: offsetMs + Int64(r) * 7_000)
            #expect(try await store.ingest(events).stored == perSeal)
            let sealed = try await store.flush()
            #expect(sealed == SegmentStore.FlushResult(segments: 1, events: perSeal, bytes: sealed.bytes))
            all += events
        }
        return all
    }

    // MARK: (a) five seals of a closed day become one segment

    @Test func fiveSealsOfAClosedDayMergeIntoOneSegment() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir)
        let events = try await Self.sealRepeatedly(store, day: 2, rounds: 5, perSeal: 20, seed: 100)
        let before = try store.index.segments()
        #expect(before.count == 5)
        #expect(before.allSatisfy { $0.day == Store.day(2) && $0.rows == 20 })
        let oldFiles = before.map(\.file)
        #expect(oldFiles.allSatisfy { FileManager.default.fileExists(atPath: dir.path + "/" + $0) })
        let read = try await Store.allEvents(store)

        let result = try await store.compact(now: Self.now)
        #expect(result == SegmentStore.CompactionResult(written: 1, merged: 5, rows: 100, abandoned: 0))
        let after = try store.index.segments()
        try #require(after.count == 1)
        #expect(after[0].rows == 100)
        #expect(after[0].day == Store.day(2))
        #expect(after[0].minTs == events.map(\.timestampMs).min())
        #expect(after[0].maxTs == events.map(\.timestampMs).max())
        #expect(!oldFiles.contains(after[0].file))

        // The same events, field for field.
        let merged = try await Store.allEvents(store)
        #expect(merged.count == 100)
        #expect(Store.ids(merged) == Store.ids(events))
        #expect(Store.costUnits(merged) == Store.costUnits(events))
        #expect(merged == Store.sorted(events))
        #expect(merged == read)
        #expect(try SegmentReader(path: dir.path + "/" + after[0].file).events() == Store.sorted(events))

        let report = try await store.verify()
        #expect(report.ok, "\(report.problems)")
        #expect(report.segments == 1)
        #expect(report.events == 100)
        // The five inputs are gone from disk (no reader held them), nothing else is left behind.
        for f in oldFiles { #expect(!FileManager.default.fileExists(atPath: dir.path + "/" + f), "\(f) still on disk") }
        #expect(Store.files(under: dir.path + "/segments") == [String(after[0].file.dropFirst("segments/".count))])
        #expect(store.pins.retiredCount == 0)
        #expect(store.pins.activePins == 0)
        // Nothing more to merge.
        #expect(try await store.compact(now: Self.now) == SegmentStore.CompactionResult())
        // Merging does not touch the dedup state: every event is still a duplicate.
        #expect(try await store.ingest(events).duplicateIndices == Array(0..<100))
        await store.close()
    }

    // MARK: (b) a reader's pin keeps the replaced files readable

    @Test func readerPinKeepsReplacedFilesUntilReleased() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir)
        let events = try await Self.sealRepeatedly(store, day: 3, rounds: 5, perSeal: 12, seed: 200)
        var contents: [String: [UsageEvent]] = [:]
        for s in try store.index.segments() { contents[s.file] = try SegmentReader(path: dir.path + "/" + s.file).events() }
        #expect(contents.count == 5)

        let snapshot = try await store.readSnapshot(orgID: "org_a")
        #expect(Set(snapshot.segments.map(\.file)) == Set(contents.keys))
        #expect(snapshot.unsealed.count == 0)
        #expect(store.pins.activePins == 1)

        let result = try await store.compact(now: Self.now)
        #expect(result == SegmentStore.CompactionResult(written: 1, merged: 5, rows: 60, abandoned: 0))
        #expect(try store.index.segments().count == 1)
        // The snapshot still lists the five old files: each one is still there and reads the same.
        #expect(store.pins.retiredCount == 5)
        for s in snapshot.segments {
            let path = dir.path + "/" + s.file
            #expect(FileManager.default.fileExists(atPath: path), "\(s.file) was unlinked under a pin")
            #expect(try SegmentReader(path: path).events() == contents[s.file])
        }
        var union: [UsageEvent] = []
        for s in snapshot.segments { union += try SegmentReader(path: dir.path + "/" + s.file).events() }
        #expect(Store.sorted(union) == Store.sorted(events))

        snapshot.release()
        #expect(store.pins.activePins == 0)
        #expect(store.pins.retiredCount == 0)
        for s in snapshot.segments { #expect(!FileManager.default.fileExists(atPath: dir.path + "/" + s.file), "\(s.file) survived the release") }
        snapshot.release()  // idempotent
        #expect(try await Store.allEvents(store) == Store.sorted(events))
        #expect(try await store.verify().ok)
        await store.close()
    }

    /// A pin taken after the swap does not keep the old files (only pins that may have seen them do).
    @Test func pinTakenAfterTheSwapDoesNotHoldRetiredFiles() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir)
        _ = try await Self.sealRepeatedly(store, day: 3, rounds: 3, perSeal: 5, seed: 300)
        let early = store.pins.pin()
        let old = try store.index.segments().map(\.file)
        try await store.compact(now: Self.now)
        let late = store.pins.pin()
        #expect(store.pins.retiredCount == 3)
        early.release()
        #expect(store.pins.retiredCount == 0)
        for f in old { #expect(!FileManager.default.fileExists(atPath: dir.path + "/" + f)) }
        late.release()
        await store.close()
    }

    // MARK: (c) reads racing seals and compactions

    /// One task reads a fixed range in a loop while another keeps sealing new events into the same
    /// (org, day)s (outside the range, so the expected answer stays fixed) and compacting: every
    /// merge replaces the files holding the rows the reader counts. No read may throw (ENOENT of a
    /// replaced file) and every read returns exactly the same events.
    @Test func readsNeverFailWhileSealsAndCompactionsReplaceFiles() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir)
        // Fixed data: days 1...3, first half of each day, 4 segments per day.
        var fixed: [UsageEvent] = []
        for d in 1...3 { fixed += try await Self.sealRepeatedly(store, day: d, rounds: 4, perSeal: 10, seed: UInt64(d) * 1000) }
        #expect(try store.index.segments().count == 12)
        let from = Store.dayStart(1), to = Store.dayStart(3) + 12 * 3_600_000
        #expect(fixed.allSatisfy { $0.timestampMs < to })
        let expected = Store.sorted(fixed)

        let rounds = 12
        async let reads: [Int] = {
            var counts: [Int] = []
            for _ in 0..<30 {
                let got = try await Store.allEvents(store, org: "org_a", fromMs: from, toMs: to)
                #expect(got == expected)
                counts.append(got.count)
                await Task.yield()
            }
            return counts
        }()
        async let writes: [SegmentStore.CompactionResult] = {
            var results: [SegmentStore.CompactionResult] = []
            for r in 0..<rounds {
                // Second half of day 3 (read, but outside the range) and day 4 (not read): a new segment of
                // each per round, so every round merges the day-3 file holding counted rows again.
                let late = Store.events(5, day: 3, seed: 50_000 + UInt64(r), offsetMs: 13 * 3_600_000 + Int64(r) * 60_000, spacingMs: 1_000)
                    + Store.events(3, day: 4, seed: 60_000 + UInt64(r), offsetMs: Int64(r) * 60_000, spacingMs: 1_000)
                #expect(try await store.ingest(late).stored == 8)
                try await store.flush()
                results.append(try await store.compact(now: Self.now, all: true))
                await Task.yield()
            }
            return results
        }()
        let counts = try await reads
        let results = try await writes
        #expect(counts == Array(repeating: fixed.count, count: 30))
        // Every round merged day 3 (the files holding the counted rows) and day 4 again.
        #expect(results.count == rounds)
        #expect(results.allSatisfy { $0.abandoned == 0 && $0.written >= 2 })
        #expect(results.reduce(0) { $0 + $1.written } >= 2 * rounds)

        #expect(store.pins.activePins == 0)
        #expect(store.pins.retiredCount == 0)
        let all = try await Store.allEvents(store)
        #expect(all.count == fixed.count + rounds * 8)
        #expect(Set(all.map(\.requestID)).count == all.count)
        let report = try await store.verify()
        #expect(report.ok, "\(report.problems)")
        #expect(report.events == fixed.count + rounds * 8)
        // One segment per day, and exactly those files on disk.
        let segments = try store.index.segments()
        #expect(segments.map(\.day) == [Store.day(1), Store.day(2), Store.day(3), Store.day(4)])
        #expect(Store.files(under: dir.path + "/segments") == segments.map { String($0.file.dropFirst("segments/".count)) }.sorted())
        await store.close()
    }

    // MARK: (d) the row cap

    @Test func noMergedSegmentExceedsTheRowCap() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir) { $0.maxMergedSegmentRows = 100 }
        let events = try await Self.sealRepeatedly(store, day: 5, rounds: 5, perSeal: 40, seed: 400)
        #expect(try store.index.segments().map(\.rows) == [40, 40, 40, 40, 40])

        let result = try await store.compact(now: Self.now)
        // 40 + 40 fit under 100, a third does not: two merges of two, the fifth segment stays.
        #expect(result == SegmentStore.CompactionResult(written: 2, merged: 4, rows: 160, abandoned: 0))
        let segments = try store.index.segments()
        #expect(segments.map(\.rows).sorted() == [40, 80, 80])
        #expect(segments.allSatisfy { $0.rows <= 100 })
        for s in segments {
            #expect(try SegmentReader(path: dir.path + "/" + s.file).verify() == s.rows)
        }
        // Segments at or above half the cap are never inputs again: nothing more to do, even with `all`.
        #expect(try await store.compact(now: Self.now) == SegmentStore.CompactionResult())
        #expect(try await store.compact(now: Self.now, all: true) == SegmentStore.CompactionResult())
        #expect(try await Store.allEvents(store) == Store.sorted(events))
        #expect(try await store.verify().ok)
        await store.close()
    }

    /// An open day (today or yesterday) is merged only by tiers of 4 similar segments.
    @Test func openDayIsMergedOnlyByTiersOfFour() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir)
        let today = Self.now
        let day = Int((UTC.dayStart(today) - Store.day0) / UTC.msPerDay)
        _ = try await Self.sealRepeatedly(store, day: day, rounds: 3, perSeal: 10, seed: 500)
        #expect(try await store.compact(now: today) == SegmentStore.CompactionResult())
        #expect(try store.index.segments().count == 3)
        _ = try await Self.sealRepeatedly(store, day: day, rounds: 1, perSeal: 10, seed: 510)
        #expect(try await store.compact(now: today) == SegmentStore.CompactionResult(written: 1, merged: 4, rows: 40, abandoned: 0))
        #expect(try store.index.segments().map(\.rows) == [40])
        await store.close()
    }
}

extension FaultInjectionTests {
    /// Compaction racing retention; serialized with the other fault-injection tests (the plan is global).
    @Suite struct CompactionRaces {
        init() { FaultInjection.reset() }

        /// Retention deletes a day while a merge of that day is between writing its output and
        /// swapping it in: the swap is abandoned, the output removed, and no segment of the deleted
        /// day stays registered or on disk.
        @Test func retentionDuringAMergeLeavesNothingOfTheDeletedDay() async throws {
            defer { FaultInjection.reset() }
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let store = try await Store.open(dir)
            defer { FaultInjection.release("merge") }
            let doomed = try await CompactionTests.sealRepeatedly(store, day: 0, rounds: 3, perSeal: 10, seed: 600)
            let kept = try await CompactionTests.sealRepeatedly(store, day: 8, rounds: 3, perSeal: 10, seed: 700)
            try Store.markRolledUp(store)
            // Keep 5 raw days at day 10: day 0 goes, day 8 stays.
            let now = Store.dayStart(10) + 3_600_000
            try store.index.setRetentionPolicy(RetentionPolicy(rawDays: 5, hourlyDays: 90, dailyDays: 365), orgID: "org_a", now: now)
            let doomedFiles = try store.index.segments(orgID: "org_a", fromDay: Store.day(0), toDay: Store.day(0)).map(\.file)
            #expect(doomedFiles.count == 3)

            // The merge of day 0 stops before renaming its output into place.
            let held = FaultInjection.install(.init(path: dir.path + "/segments/org_a/" + Store.day(0) + "-c", .rename, on: .nth(1), .hold("merge")))
            let compaction = Task { try await store.compact(now: now) }
            try await Store.waitUntil("the merge of day 0 to reach its rename") { FaultInjection.fired(held) == 1 }

            let outcomes = try await Retention(store: store).run(now: now, dryRun: false)
            let org = try #require(outcomes.first { $0.orgID == "org_a" })
            #expect(org.segmentDays == [Store.day(0)])
            #expect(org.rawEvents == 30)
            #expect(Set(org.segmentFiles) == Set(doomedFiles))
            // Unregistered, but the merge's pin still holds the inputs it is reading.
            for f in doomedFiles { #expect(FileManager.default.fileExists(atPath: dir.path + "/" + f)) }

            FaultInjection.release("merge")
            let result = try await compaction.value
            #expect(result == SegmentStore.CompactionResult(written: 1, merged: 3, rows: 30, abandoned: 1))

            let segments = try store.index.segments()
            #expect(segments.count == 1)
            #expect(segments.map(\.day) == [Store.day(8)])
            #expect(segments.first?.rows == 30)
            #expect(try store.index.segments(orgID: "org_a", fromDay: Store.day(0), toDay: Store.day(0)).isEmpty)
            // On disk: only the merged day-8 segment (no abandoned output, no .tmp, no old input).
            #expect(Store.files(under: dir.path + "/segments") == segments.map { String($0.file.dropFirst("segments/".count)) })
            #expect(store.pins.retiredCount == 0)
            #expect(try await Store.allEvents(store) == Store.sorted(kept))
            #expect(try await store.verify().ok)
            // The deleted day's ids were forgotten: its events can be stored again.
            #expect(try await store.ingest(Array(doomed.prefix(2))).stored == 2)
            // On another day too: day 0's entries in the org's cross-day screen are stale (day 0 is no
            // longer a candidate day), so they name no stored event.
            let moved = doomed[2..<4].map { var e = $0; e.timestampMs += 9 * UTC.msPerDay; return e }
            #expect(try await store.ingest(moved).stored == 2)
            #expect(try await store.ingest(moved.map { var e = $0; e.timestampMs -= UTC.msPerDay; return e }).duplicateIndices == [0, 1])
            await store.close()

            let reopened = try await Store.open(dir)
            #expect(await reopened.recoveryReport.isClean)
            #expect(try await Store.allEvents(reopened).count == 34)
            await reopened.close()
        }
    }
}
