import Foundation
import Logging
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex
@testable import SegmentStore

#if canImport(Glibc)
import Glibc
#endif

/// The exactly-once state: one exact set of request ids per (org, UTC day), a bounded cache of
/// sealed days that are read back from their segments, and retries of in-flight batches.
@Suite struct DedupTests {
    // MARK: (a) bounded cache, cold reload

    /// With `dedupCachedIDs = 50` and 100 ids per day, no sealed day fits the budget: once a new
    /// day is loaded, every sealed day is evicted, and what stays in memory is exactly the ids of
    /// the days with unsealed events (always kept) plus the day just loaded.
    @Test func coldDaysAreEvictedAndReadBackFromTheirSegments() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let budget: (inout SegmentStore.Configuration) -> Void = { $0.dedupCachedIDs = 50 }
        let store = try await Store.open(dir, budget)
        let days = (0..<5).map { Store.events(100, day: $0, seed: 10 + UInt64($0)) }
        for d in 0..<3 { #expect(try await store.ingest(days[d]).stored == 100) }
        // Days with unsealed events are never evicted, whatever the budget.
        #expect(await store.dedupEntries == 300)
        #expect(await store.dedupCachedDays == 3)
        #expect(try await store.flush().segments == 3)

        // Two new days: loading day 3 evicts the three sealed days (300 > 50); day 4 finds day 3
        // unsealed, so it stays. In memory: the two unsealed days, 2 × 100 ids.
        #expect(try await store.ingest(days[3]).stored == 100)
        #expect(await store.dedupEntries == 100)
        #expect(await store.dedupCachedDays == 1)
        #expect(try await store.ingest(days[4]).stored == 100)
        #expect(await store.dedupEntries == 200)
        #expect(await store.dedupCachedDays == 2)

        // Day 0 again: read back from its segment, every event a duplicate, nothing stored.
        let again = try await store.ingest(days[0])
        #expect(again.stored == 0)
        #expect(again.duplicateIndices.count == 100)
        #expect(again.duplicateIndices == Array(0..<100))
        #expect(await store.dedupEntries == 300)  // day 0 (just loaded) + the two unsealed days
        #expect(await store.dedupCachedDays == 3)

        // Everything sealed: the next new day evicts every sealed day (all over budget).
        #expect(try await store.flush().segments == 2)
        let single = Store.events(1, day: 6, seed: 99)
        #expect(try await store.ingest(single).stored == 1)
        #expect(await store.dedupEntries == 1)
        #expect(await store.dedupCachedDays == 1)
        let day1 = try await store.ingest(days[1])
        #expect(day1 == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<100)))
        #expect(await store.dedupEntries == 101)
        // A mixed batch: a cached day (1), then a cold day (2, whose load evicts day 1), new events
        // of day 2, a repeat within the call. (Rows of day 1 after day 2's load: see
        // batchInterleavingTwoColdDaysOverTheBudget.)
        let fresh = Store.events(3, day: 2, seed: 77, offsetMs: 50_000_000)
        let mixed = try await store.ingest([days[1][7]] + fresh + [fresh[0], days[2][5]])
        #expect(mixed == SegmentStore.IngestResult(stored: 3, duplicateIndices: [0, 4, 5]))
        #expect(await store.dedupEntries == 1 + 103)  // day 6 and day 2 hold unsealed events
        await store.close()

        // Across a reopen: the WAL replays the 4 unsealed events; the sealed days are read back lazily.
        let reopened = try await Store.open(dir, budget)
        #expect(await reopened.recoveryReport.replayedEvents == 4)
        #expect(await reopened.dedupEntries == 100 + 3 + 1)  // day 2 holds unsealed events: loaded whole
        for d in [0, 3, 4] {
            let r = try await reopened.ingest(days[d])
            #expect(r.stored == 0, "day \(d)")
            #expect(r.duplicateIndices.count == 100, "day \(d)")
        }
        #expect(try await reopened.ingest(single + fresh).duplicateIndices == [0, 1, 2, 3])
        let stored = try await Store.allEvents(reopened)
        #expect(stored.count == 504)
        #expect(Store.ids(stored) == Store.ids(days.flatMap { $0 } + single + fresh))
        let report = try await reopened.verify()
        #expect(report.ok)
        #expect(report.events == 500)
        #expect(report.unsealedEvents == 4)
        await reopened.close()
    }

    /// Bulk (unlogged) ingest follows the same rules, and the cold reload happens per call.
    @Test func unloggedIngestDedupsAgainstEvictedDays() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir) { $0.dedupCachedIDs = 10 }
        let a = Store.events(40, day: 1, seed: 1), b = Store.events(40, day: 2, seed: 2)
        #expect(try await store.ingestUnlogged(EventBatch(a)).stored == 40)
        try await store.flush()
        #expect(try await store.ingestUnlogged(EventBatch(b)).stored == 40)
        #expect(await store.dedupEntries == 40)  // day 1 evicted when day 2 was loaded
        let r = try await store.ingestUnlogged(EventBatch(a + b))
        #expect(r.stored == 0)
        #expect(r.duplicateIndices == Array(0..<80))
        try await store.flush()
        #expect(try await Store.allEvents(store).count == 80)
        await store.close()
    }

    /// One batch with rows of two sealed, evicted days, interleaved (A, B, A), where loading B
    /// pushes the cache over budget: evicting A (sealed, no pending id: its first row was a
    /// duplicate) while the batch still has rows of A. The later row of A then force-unwraps A's
    /// missing set in `reserve`.
    @Test
    func batchInterleavingTwoColdDaysOverTheBudget() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir) { $0.dedupCachedIDs = 50 }
        let a = Store.events(100, day: 0, seed: 1), b = Store.events(100, day: 1, seed: 2)
        #expect(try await store.ingest(a).stored == 100)
        #expect(try await store.ingest(b).stored == 100)
        try await store.flush()
        #expect(try await store.ingest(Store.events(1, day: 5, seed: 3)).stored == 1)  // evicts days 0 and 1
        #expect(await store.dedupEntries == 1)
        let retry = try await store.ingest([a[0], b[0], a[1], b[1]])
        #expect(retry == SegmentStore.IngestResult(stored: 0, duplicateIndices: [0, 1, 2, 3]))
        await store.close()
    }

    /// Rows accepted without a WAL token (bulk ingest, WAL replay) have no pending mark and their
    /// day's `unsealed` count is raised only in `commitDirect`, after the whole batch is reserved:
    /// loading a later day of the same batch can evict the day they were just added to. Its ids
    /// are then forgotten while its rows go to the memtable, and the same events are stored again.
    @Test
    func unloggedBatchDoesNotEvictTheDayItJustFilled() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir) { $0.dedupCachedIDs = 50 }
        let a = Store.events(60, day: 0, seed: 1), b = Store.events(1, day: 1, seed: 2)
        #expect(try await store.ingestUnlogged(EventBatch(a + b)).stored == 61)
        #expect(await store.dedupEntries == 61)
        let again = try await store.ingestUnlogged(EventBatch(a))
        #expect(again == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<60)))
        try await store.flush()
        #expect(try await Store.allEvents(store).count == 61)
        await store.close()
    }

    /// The same through WAL replay: batches acknowledged with pending marks are replayed with token 0.
    @Test
    func walReplayDoesNotEvictTheDayItJustFilled() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let budget: (inout SegmentStore.Configuration) -> Void = { $0.dedupCachedIDs = 50 }
        let a = Store.events(60, day: 0, seed: 1), b = Store.events(1, day: 1, seed: 2)
        do {
            let store = try await Store.open(dir, budget)
            #expect(try await store.ingest(a + b).stored == 61)
            await store.close()
        }
        let store = try await Store.open(dir, budget)
        #expect(await store.recoveryReport.replayedEvents == 61)
        #expect(await store.dedupEntries == 61)
        #expect(try await store.ingest(a) == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<60)))
        try await store.flush()
        #expect(try await Store.allEvents(store).count == 61)
        await store.close()
    }

    // MARK: (b) the key is (org, request_id), over every retained day

    /// The dedup key is (org, request_id) over the whole raw retention window: the same request id
    /// on another UTC day (a retry with a fresh timestamp, a re-imported file with shifted times) is
    /// a duplicate of the first copy, as is a second timestamp of the same day; another org's is its
    /// own event. It holds for unsealed days, sealed cached days, evicted days and across a reopen,
    /// and for days that hold no events of their own (only the org's screen knows the id).
    @Test func sameRequestIDOnAnyDayIsOneEvent() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let budget: (inout SegmentStore.Configuration) -> Void = { $0.dedupCachedIDs = 1 }
        let store = try await Store.open(dir, budget)
        let original = Store.events(1, day: 4, seed: 5, offsetMs: 3_600_000)[0]
        var nextDay = original
        nextDay.timestampMs += UTC.msPerDay
        var sameDay = original
        sameDay.timestampMs += 20 * 3_600_000  // 21:00, still day 4
        var justBefore = original
        justBefore.timestampMs = Store.dayStart(4) - 1  // 23:59:59.999 of day 3
        #expect(UTC.dayStart(justBefore.timestampMs) == Store.dayStart(3))
        var otherOrg = original
        otherOrg.orgID = "org_b"
        var otherOrgLater = otherOrg
        otherOrgLater.timestampMs += 2 * UTC.msPerDay

        // Unsealed: the original's day is in memory.
        #expect(try await store.ingest([original]) == SegmentStore.IngestResult(stored: 1))
        #expect(try await store.ingest([nextDay]) == SegmentStore.IngestResult(stored: 0, duplicateIndices: [0]))
        #expect(try await store.ingest([sameDay]) == SegmentStore.IngestResult(stored: 0, duplicateIndices: [0]))
        #expect(try await store.ingest([justBefore, otherOrg, sameDay, nextDay, otherOrgLater])
                == SegmentStore.IngestResult(stored: 1, duplicateIndices: [0, 2, 3, 4]))
        try await store.flush()
        // Sealed; once day 9's new id is claimed, the sealed days are evicted (least recently used
        // first) until at most 1 id is cached: only day 9 stays.
        let day9 = Store.events(1, day: 9, seed: 6)
        #expect(try await store.ingest(day9).stored == 1)
        #expect(await store.dedupCachedDays == 1)
        #expect(await store.dedupEntries == 1)
        // Evicted: each copy finds the id in its org's screen and confirms it on day 4, read back
        // from its segment (days 3 and 5 hold nothing of their own).
        #expect(try await store.ingest([nextDay, justBefore, sameDay, otherOrgLater, otherOrg])
                == SegmentStore.IngestResult(stored: 0, duplicateIndices: [0, 1, 2, 3, 4]))
        // Day 9's id sent for day 4: confirmed on day 9.
        var day9Early = day9[0]
        day9Early.timestampMs = Store.dayStart(4) + 7
        #expect(try await store.ingest([day9Early]).duplicateIndices == [0])

        var perDay: [String: [UsageEvent]] = [:]
        try await store.forEachDay(orgID: "org_a") { _, day, events in perDay[day] = events }
        #expect(perDay.keys.sorted() == [Store.day(4), Store.day(9)])
        #expect(perDay[Store.day(4)] == [original])  // the first copy wins
        #expect(try await Store.allEvents(store, org: "org_b") == [otherOrg])
        await store.close()

        // Across a reopen: the screens are rebuilt from the segments.
        let reopened = try await Store.open(dir, budget)
        #expect(try await reopened.ingest([nextDay, justBefore, otherOrgLater, original, day9Early]).duplicateIndices == [0, 1, 2, 3, 4])
        // A new id is still new on any day.
        var moved = Store.events(1, day: 4, seed: 77)[0]
        moved.timestampMs = Store.dayStart(6) + 5
        #expect(try await reopened.ingest([moved]).stored == 1)
        #expect(try await Store.allEvents(reopened, org: "org_a").count == 3)
        await reopened.close()
    }

    /// Many ids over many days, sent again on other days in one batch and after a reopen: every one
    /// is a duplicate of its first copy, and the org's screen grows (appends filters) on the way
    /// without missing any. The stored events are exactly the first copies.
    @Test func reimportWithShiftedDaysStoresNothingTwice() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let budget: (inout SegmentStore.Configuration) -> Void = { $0.dedupCachedIDs = 500 }
        let store = try await Store.open(dir, budget)
        let originals = (0..<6).flatMap { Store.events(700, day: $0, seed: 300 + UInt64($0)) }
        for chunk in stride(from: 0, to: originals.count, by: 350) {
            #expect(try await store.ingest(Array(originals[chunk..<(chunk + 350)])).stored == 350)
            if chunk % 1400 == 0 { try await store.flush() }
        }
        try await store.flush()
        // The same events, each moved 1–3 days later (some beyond the last stored day), in one batch.
        let shifted = originals.enumerated().map { i, e in
            var m = e
            m.timestampMs += Int64(1 + i % 3) * UTC.msPerDay
            return m
        }
        let fresh = Store.events(50, day: 7, seed: 999)
        let r = try await store.ingest(shifted + fresh)
        #expect(r.stored == 50)
        #expect(r.duplicateIndices == Array(0..<originals.count))
        try await store.flush()
        await store.close()
        let reopened = try await Store.open(dir, budget)
        let again = try await reopened.ingest(fresh.map { var m = $0; m.timestampMs -= 3 * UTC.msPerDay; return m } + shifted)
        #expect(again == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<(originals.count + 50))))
        let stored = try await Store.allEvents(reopened)
        #expect(stored == Store.sorted(originals + fresh))
        await reopened.close()
    }
}

extension FaultInjectionTests {
    /// Retries that arrive while their original batch waits for its WAL write: serialized with the
    /// other fault-injection tests (the plan is process-wide).
    @Suite struct InFlightDuplicates {
        init() { FaultInjection.reset() }

        /// A then B (same request ids) where A's WAL write is held until B has reserved its rows.
        /// Returns A's and B's outcomes and the log of the test's steps and completions.
        static func race(
            _ store: SegmentStore, dir: TemporaryDirectory, a: [UsageEvent], b: [UsageEvent], failA: Int32?
        ) async throws -> (a: Result<SegmentStore.IngestResult, any Error>, b: SegmentStore.IngestResult, log: [String]) {
            let wal = dir.path + "/wal/"
            let held = FaultInjection.install(.init(path: wal, .write, on: .nth(1), .hold("A")))
            defer { FaultInjection.release("A") }
            var failRule: FaultInjection.RuleID?
            if let failA { failRule = FaultInjection.install(.init(path: wal, .write, on: .nth(1), .fail(failA))) }
            let log = EventLog()
            let tokenBefore = await store.nextToken
            let taskA = Task { () -> Result<SegmentStore.IngestResult, any Error> in
                let r: Result<SegmentStore.IngestResult, any Error>
                do { r = .success(try await store.ingest(a)) } catch { r = .failure(error) }
                log.append("A returned")
                return r
            }
            // A has reserved its ids and its write is blocked in the WAL writer.
            try await Store.waitUntil("A's WAL write") { FaultInjection.fired(held) == 1 }
            let taskB = Task { () throws -> SegmentStore.IngestResult in
                let r = try await store.ingest(b)
                // What the store holds at the moment B has returned.
                log.append("B returned, unsealed \(await store.unsealedCount)")
                return r
            }
            // B has reserved too (each claim takes a token): its rows are deferred behind A.
            try await Store.waitUntil("B's reservation") { await store.nextToken >= tokenBefore + 2 }
            #expect(log.all.isEmpty, "nothing may return while A's write is held: \(log.all)")
            #expect(await store.unsealedCount == 0)
            log.append("A's write released")
            FaultInjection.release("A")
            let ra = await taskA.value
            let rb = try await taskB.value
            #expect(FaultInjection.fired(held) == 1)
            if let failRule { #expect(FaultInjection.fired(failRule) == 1) }
            return (ra, rb, log.all)
        }

        @Test func retryOfAnInFlightBatchReturnsAfterItAsDuplicates() async throws {
            defer { FaultInjection.reset() }
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let store = try await Store.open(dir)
            let n = 40
            let a = Store.events(n, day: 2, seed: 31)
            var b = a  // a client retry: same request ids (here with other measures, to tell them apart)
            for i in b.indices { b[i].latencyMs = (b[i].latencyMs ?? 0) + 1 }
            let (ra, rb, log) = try await Self.race(store, dir: dir, a: a, b: b, failA: nil)

            #expect(try ra.get() == SegmentStore.IngestResult(stored: n))
            #expect(rb == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<n)))
            // B returned only after A was durable and in the memtable (B saw all of A's rows);
            // A's own return and B's race after that point.
            #expect(log.first == "A's write released")
            #expect(Set(log.dropFirst()) == ["A returned", "B returned, unsealed \(n)"])

            try await store.flush()
            #expect(try await Store.allEvents(store) == Store.sorted(a))
            await store.close()
            let reopened = try await Store.open(dir)
            #expect(try await Store.allEvents(reopened) == Store.sorted(a))
            #expect(try await reopened.ingest(b).duplicateIndices.count == n)
            await reopened.close()
        }

        @Test func retryOfABatchWhoseWriteFailsIsStoredAsTheOriginal() async throws {
            defer { FaultInjection.reset() }
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let store = try await Store.open(dir)
            let n = 40
            let a = Store.events(n, day: 2, seed: 41)
            var b = a
            for i in b.indices { b[i].latencyMs = (b[i].latencyMs ?? 0) + 1 }
            let walFile = WriteAheadLog.path(directory: dir.path + "/wal", sequence: 1)
            let (ra, rb, log) = try await Self.race(store, dir: dir, a: a, b: b, failA: ENOSPC)

            switch ra {
            case .success(let r): Issue.record("A should fail with storageFull, got \(r)")
            case .failure(let error):
                let e = try #require(error as? SegmentError)
                #expect(e.code == .storageFull)
                #expect(e.message.contains(walFile))
            }
            #expect(rb == SegmentStore.IngestResult(stored: n))
            #expect(log.first == "A's write released")
            #expect(Set(log.dropFirst()) == ["A returned", "B returned, unsealed \(n)"])

            // Exactly once, and B's copy (A was never acknowledged).
            #expect(try await store.unsealedEvents(orgID: "org_a", fromMs: 0, toMs: .max).count == n)
            let result = try await store.flush()
            #expect(result.events == n)
            let stored = try await Store.allEvents(store)
            #expect(stored.count == n)
            #expect(Set(stored.map(\.requestID)).count == n)
            #expect(stored == Store.sorted(b))
            #expect(try await store.ingest(a).duplicateIndices == Array(0..<n))
            await store.close()
            let reopened = try await Store.open(dir)
            #expect(await reopened.recoveryReport.replayedEvents == 0)
            #expect(try await Store.allEvents(reopened) == Store.sorted(b))
            await reopened.close()
        }

        /// The same races with the retry on another UTC day (a client that re-stamps its retries):
        /// it waits for the original's write, then is a duplicate of it if the write succeeded, or is
        /// stored (on its own day) if it failed.
        @Test(arguments: [false, true])
        func retryOnAnotherDayWaitsForTheInFlightOriginal(failOriginal: Bool) async throws {
            defer { FaultInjection.reset() }
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let store = try await Store.open(dir)
            let n = 40
            let a = Store.events(n, day: 2, seed: failOriginal ? 52 : 51)
            var b = a
            for i in b.indices { b[i].timestampMs += UTC.msPerDay * Int64(1 + i % 2) }
            let (ra, rb, log) = try await Self.race(store, dir: dir, a: a, b: b, failA: failOriginal ? ENOSPC : nil)
            #expect(log.first == "A's write released")
            #expect(Set(log.dropFirst()) == ["A returned", "B returned, unsealed \(n)"])
            if failOriginal {
                #expect(throws: SegmentError.self) { try ra.get() }
                #expect(rb == SegmentStore.IngestResult(stored: n))
            } else {
                #expect(try ra.get() == SegmentStore.IngestResult(stored: n))
                #expect(rb == SegmentStore.IngestResult(stored: 0, duplicateIndices: Array(0..<n)))
            }
            try await store.flush()
            let kept = failOriginal ? b : a
            #expect(try await Store.allEvents(store) == Store.sorted(kept))
            #expect(try await store.ingest(failOriginal ? a : b).duplicateIndices == Array(0..<n))
            await store.close()
        }

        /// The delay effect: a WAL write held back by a delay still completes, and a fail rule on
        /// the same call makes it fail late (nothing acknowledged, ids free again).
        @Test func delayedWALWriteThenFailure() async throws {
            defer { FaultInjection.reset() }
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let store = try await Store.open(dir)
            let wal = dir.path + "/wal/"
            let delay = FaultInjection.install(.init(path: wal, .write, on: .nth(1), .delay(milliseconds: 50)))
            let events = Store.events(5, day: 1, seed: 51)
            #expect(try await store.ingest(events).stored == 5)
            #expect(FaultInjection.fired(delay) == 1)
            let later = FaultInjection.install(.init(path: wal, .write, on: .nth(1), .delay(milliseconds: 20)))
            let full = FaultInjection.install(.init(path: wal, .write, on: .nth(1), .fail(EDQUOT)))
            let more = Store.events(5, day: 1, seed: 52, offsetMs: 7_200_000)
            let error = await #expect(throws: SegmentError.self) { try await store.ingest(more) }
            #expect(error?.code == .storageFull)
            #expect(FaultInjection.fired(later) == 1)
            #expect(FaultInjection.fired(full) == 1)
            #expect(try await store.ingest(more).stored == 5)
            #expect(await store.unsealedCount == 10)
            await store.close()
        }
    }
}

/// A restarted daemon reads the ids of today and yesterday at open (`preloadRecentDays`), so its
/// first events do not wait for a cold load; older days stay on disk until an event needs them.
@Suite struct DedupPreloadTests {
    @Test func recentDaysArePreloadedAtOpen() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func shifted(_ events: [UsageEvent], toDayOf t: Int64) -> [UsageEvent] {
            events.enumerated().map { i, e in
                var e = e
                e.timestampMs = UTC.dayStart(t) + Int64(i) * 1000
                return e
            }
        }
        let today = shifted(Store.events(30, day: 0, seed: 901), toDayOf: now)
        let yesterday = shifted(Store.events(20, day: 0, seed: 902), toDayOf: now - UTC.msPerDay)
        let older = shifted(Store.events(10, day: 0, seed: 903), toDayOf: now - 3 * UTC.msPerDay)
        do {
            let store = try await Store.open(dir)
            #expect(try await store.ingest(today + yesterday + older).stored == 60)
            try await store.flush()
            await store.close()
        }
        let plain = try await Store.open(dir)
        #expect(await plain.dedupCachedDays == 0)  // lazily loaded by default
        await plain.close()

        let store = try await Store.open(dir) { $0.preloadRecentDays = 2 }
        #expect(await store.dedupCachedDays == 2)
        #expect(await store.dedupEntries == 50)
        // Duplicates of every day are still caught; the older day is read when its event arrives.
        let again = try await store.ingest(today + yesterday + older)
        #expect(again.stored == 0)
        #expect(again.duplicateIndices.count == 60)
        #expect(await store.dedupCachedDays == 3)
        await store.close()

        // A budget of 25 ids: today's 30 do not fit, so today is not read at open (never loaded only
        // to be evicted), yesterday's 20 are; today's retries are still caught on their first event.
        let small = try await Store.open(dir) {
            $0.preloadRecentDays = 2
            $0.dedupCachedIDs = 25
        }
        #expect(await small.dedupCachedDays == 1)
        #expect(await small.dedupEntries == 20)
        let retried = try await small.ingest(today)
        #expect(retried.stored == 0 && retried.duplicateIndices.count == 30)
        await small.close()
    }
}
