import Foundation
import Logging
import Rollups
import SegmentStore
import TDigest
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex

/// Opens a store in a fresh directory, runs `body`, closes and removes it.
func withStore<T>(_ name: String = "rollup", _ body: (SegmentStore) async throws -> T) async throws -> T {
    let dir = TemporaryDirectory(name)
    defer { dir.remove() }
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
    do {
        let result = try await body(store)
        await store.close()
        return result
    } catch {
        await store.close()
        throw error
    }
}

func engine(_ store: SegmentStore) -> RollupEngine {
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    return RollupEngine(store: store, logger: logger)
}

/// Far enough in the future that every test hour is closed.
let farFuture: Int64 = 4_000_000_000_000

/// Events of two orgs over three days, plus a dense hour for percentile checks.
func sampleEvents() -> [UsageEvent] {
    var events = EventFactory.events(4000, org: "org_a", seed: 7, days: 3)
    events += EventFactory.events(1500, org: "org_b", seed: 8, days: 2)
    return events
}

/// Exact sums per (org, bucket, dimension, key) computed directly from events.
func expectedSlices(_ events: [UsageEvent], bucketMs: Int64) -> [String: RollupMeasures] {
    var out: [String: RollupMeasures] = [:]
    for e in events {
        let start = e.timestampMs - ((e.timestampMs % bucketMs) + bucketMs) % bucketMs
        let keys: [(String, String?)] = [
            ("total", ""), ("model", e.provider + "/" + e.model), ("feature", e.feature), ("team", e.team),
            ("project", e.project), ("environment", e.environment), ("cost_center", e.costCenter),
        ]
        for (d, v) in keys {
            out["\(e.orgID)|\(start)|\(d)|\(v ?? "(none)")", default: RollupMeasures()].add(e)
        }
    }
    return out
}

func actualSlices(_ index: IndexDatabase, _ g: RollupGranularity) throws -> [String: RollupMeasures] {
    var out: [String: RollupMeasures] = [:]
    for row in try RollupStore(index).rows(g) {
        let b = try RollupRowCodec.bucket(row)
        out["\(b.orgID)|\(b.bucketStart)|total|"] = b.total
        for d in RollupDimension.allCases {
            for s in b.slices(d) {
                let key = d == .model ? s.key.provider + "/" + (s.key.value ?? "") : (s.key.value ?? "(none)")
                out["\(b.orgID)|\(b.bucketStart)|\(d.name)|\(key)"] = s.measures
            }
        }
    }
    return out
}

/// Rows without their computation time, for comparisons across runs.
func comparable(_ rows: [RollupRow]) -> [RollupRow] {
    rows.map { var r = $0; r.computedAt = 0; return r }
}

/// How rows folded incrementally differ from rows computed at once: sums, counts, keys and
/// breakdowns must be identical; a digest is the merge of the stored one with the new events', so
/// it must hold the same count and give p50, p95 and p99 within 2 % (or 1 ms) of the other.
/// - Returns: a description of every difference (empty when equivalent).
func foldDifferences(_ a: [RollupRow], _ b: [RollupRow]) throws -> [String] {
    var out: [String] = []
    guard a.count == b.count else { return ["\(a.count) rows vs \(b.count)"] }
    func digests(_ x: TDigest, _ y: TDigest, _ what: String) {
        guard x.count == y.count else { return out.append("\(what): \(x.count) values vs \(y.count)") }
        for q in [0.5, 0.95, 0.99] {
            guard let u = x.quantile(q), let v = y.quantile(q) else { continue }
            if abs(u - v) > max(1, 0.02 * abs(v)) { out.append("\(what) q\(q): \(u) vs \(v)") }
        }
    }
    for (ra, rb) in zip(a, b) {
        let x = try RollupRowCodec.bucket(ra), y = try RollupRowCodec.bucket(rb)
        let at = "\(x.orgID) \(x.bucketStart)"
        guard x.orgID == y.orgID, x.bucketStart == y.bucketStart else { out.append("\(at) vs \(y.orgID) \(y.bucketStart)"); continue }
        if x.total != y.total { out.append("\(at): totals differ") }
        digests(x.latency, y.latency, at + " latency")
        digests(x.ttft, y.ttft, at + " ttft")
        for d in RollupDimension.allCases {
            let sx = x.slices(d), sy = y.slices(d)
            guard sx.map(\.key) == sy.map(\.key) else { out.append("\(at) \(d): keys differ"); continue }
            for (u, v) in zip(sx, sy) {
                if u.measures != v.measures || u.breakdowns != v.breakdowns { out.append("\(at) \(d) \(u.key): sums differ") }
                digests(u.latency, v.latency, "\(at) \(d) \(u.key) latency")
            }
        }
    }
    return out
}

@Suite("Rollup engine")
struct RollupEngineTests {
    @Test("hourly and daily sums equal an exact computation over the stored events")
    func exactSums() async throws {
        let events = sampleEvents()
        try await withStore { store in
            let stored = try await store.ingest(events + Array(events.prefix(200)))  // duplicates are not counted twice
            #expect(stored.stored == events.count)
            let summary = try await engine(store).run(now: farFuture)
            #expect(summary.eventsScanned == events.count)
            #expect(summary.days == Set(events.map { "\($0.orgID)|\($0.timestampMs / 86_400_000)" }).count)
            let hourly = try actualSlices(store.index, .hour)
            let expectedHourly = expectedSlices(events, bucketMs: 3_600_000)
            #expect(hourly.count == expectedHourly.count)
            for (key, m) in expectedHourly { #expect(hourly[key] == m, "\(key)") }
            let daily = try actualSlices(store.index, .day)
            let expectedDaily = expectedSlices(events, bucketMs: 86_400_000)
            #expect(daily.count == expectedDaily.count)
            for (key, m) in expectedDaily { #expect(daily[key] == m, "\(key)") }
            #expect(summary.hours == Set(events.map { "\($0.orgID)|\($0.timestampMs / 3_600_000)" }).count)
            // The SQL columns hold the same totals.
            let rows = try RollupStore(store.index).rows(.day)
            let totalCost = rows.reduce(Int128(0)) { $0 + Int128($1.totalCost!) }
            #expect(totalCost == events.reduce(Int128(0)) { $0 + Int128($1.totalCost.units) })
            #expect(rows.reduce(0) { $0 + $1.requestCount } == Int64(events.count))
        }
    }

    @Test("model slices carry exact feature, team and environment breakdowns")
    func breakdowns() async throws {
        let events = sampleEvents()
        try await withStore { store in
            _ = try await store.ingest(events)
            try await engine(store).run(now: farFuture)
            var expected: [String: (Int64, Int128)] = [:]
            for e in events {
                let day = e.timestampMs / 86_400_000 * 86_400_000
                for (d, v) in [("feature", e.feature), ("team", e.team), ("environment", e.environment)] {
                    let key = "\(e.orgID)|\(day)|\(e.provider)/\(e.model)|\(d)|\(v ?? "(none)")"
                    let old = expected[key] ?? (0, 0)
                    expected[key] = (old.0 + 1, old.1 + Int128(e.totalCost.units))
                }
            }
            var actual: [String: (Int64, Int128)] = [:]
            for row in try RollupStore(store.index).rows(.day) {
                let b = try RollupRowCodec.bucket(row)
                for s in b.slices(.model) {
                    for (d, entries) in s.breakdowns {
                        for e in entries {
                            actual["\(b.orgID)|\(b.bucketStart)|\(s.key.provider)/\(s.key.value!)|\(d.name)|\(e.value ?? "(none)")"] = (e.requests, e.cost)
                        }
                    }
                }
            }
            #expect(actual.count == expected.count)
            for (k, v) in expected {
                #expect(actual[k]?.0 == v.0 && actual[k]?.1 == v.1, "\(k)")
            }
        }
    }

    @Test("a second run changes nothing; a rebuild writes identical rows")
    func idempotent() async throws {
        try await withStore { store in
            _ = try await store.ingest(sampleEvents())
            let first = try await engine(store).run(now: farFuture)
            #expect(first.hours > 0)
            let hourly = try RollupStore(store.index).rows(.hour)
            let daily = try RollupStore(store.index).rows(.day)
            let second = try await engine(store).run(now: farFuture)
            #expect(second.hours == 0 && second.days == 0 && second.eventsScanned == 0)
            #expect(try RollupStore(store.index).rows(.hour) == hourly)
            #expect(try RollupStore(store.index).rows(.day) == daily)
            let rebuilt = try await engine(store).run(now: farFuture, rebuild: true)
            #expect(rebuilt.hours >= first.hours && rebuilt.days == first.days)
            #expect(comparable(try RollupStore(store.index).rows(.hour)) == comparable(hourly))
            #expect(comparable(try RollupStore(store.index).rows(.day)) == comparable(daily))
        }
    }

    @Test("late data folded in: two halves with a run between give the sums of one run, digests within 2 %")
    func lateData() async throws {
        let events = sampleEvents()
        // The second half holds events of every day, so old hours and days are re-opened.
        let firstHalf = events.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        let secondHalf = events.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        let (incrementalHourly, incrementalDaily, secondRun) = try await withStore("late-a") { store in
            _ = try await store.ingest(firstHalf)
            try await engine(store).run(now: farFuture)
            _ = try await store.ingest(secondHalf)
            let run = try await engine(store).run(now: farFuture)
            return (try RollupStore(store.index).rows(.hour), try RollupStore(store.index).rows(.day), run)
        }
        // The second run folds the new events in: it reads them, not the first half again.
        #expect(secondRun.eventsScanned == secondHalf.count)
        let (allHourly, allDaily) = try await withStore("late-b") { store in
            _ = try await store.ingest(events)
            try await engine(store).run(now: farFuture)
            return (try RollupStore(store.index).rows(.hour), try RollupStore(store.index).rows(.day))
        }
        #expect(try foldDifferences(incrementalHourly, allHourly) == [])
        #expect(try foldDifferences(incrementalDaily, allDaily) == [])
    }

    @Test("an event days late re-opens only its hour and day")
    func lateEventTouchesOnlyItsBuckets() async throws {
        try await withStore { store in
            _ = try await store.ingest(EventFactory.events(3000, seed: 3, days: 3))
            try await engine(store).run(now: farFuture)
            let before = try RollupStore(store.index).rows(.hour)
            var rng = SeededRandom(seed: 99)
            var late = EventFactory.event(5, rng: &rng, dayOffset: 0)
            late.timestampMs = EventFactory.base + 5 * 3_600_000 + 1234
            _ = try await store.ingest([late])
            let run = try await engine(store).run(now: farFuture)
            #expect(run.hours == 1 && run.days == 1 && run.eventsScanned > 0)
            let after = try RollupStore(store.index).rows(.hour)
            #expect(after.count == before.count + (before.contains { $0.bucketStart == late.timestampMs / 3_600_000 * 3_600_000 } ? 0 : 1))
            let changed = after.filter { a in !before.contains(a) }
            #expect(changed.map(\.bucketStart) == [late.timestampMs / 3_600_000 * 3_600_000])
        }
    }

    @Test("every daily row is the merge of its hourly rows (sums added, digests merged)")
    func dailyIsMergeOfHourly() async throws {
        try await withStore { store in
            _ = try await store.ingest(sampleEvents())
            try await engine(store).run(now: farFuture)
            let hourly = try RollupStore(store.index).rows(.hour)
            for row in try RollupStore(store.index).rows(.day) {
                let day = try RollupRowCodec.bucket(row)
                let hours = try hourly.filter { $0.orgID == row.orgID && $0.bucketStart / 86_400_000 * 86_400_000 == row.bucketStart }
                    .map { try RollupRowCodec.bucket($0) }
                let merged = RollupBucket.combining(hours, orgID: row.orgID, bucketStart: row.bucketStart)
                #expect(merged == day)
                #expect(RollupRowCodec.row(merged, computedAt: row.computedAt) == row)
            }
        }
    }

    @Test("a run written in short transactions (the daemon's) writes the same rows, clears its marks and records its job")
    func slicedCommit() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let events = sampleEvents()
        // Reference: one transaction.
        let (hourly, daily) = try await withStore { store in
            _ = try await store.ingest(events)
            try await store.flush()
            _ = try await engine(store).run(now: farFuture)
            return (comparable(try RollupStore(store.index).rows(.hour)), comparable(try RollupStore(store.index).rows(.day)))
        }
        try await withStore { store in
            _ = try await store.ingest(events)
            try await store.flush()
            // A zero slice: one transaction per day update, then the marks and the job run.
            let sliced = RollupEngine(store: store, logger: logger, parallelism: 2, commitSlice: .zero)
            let summary = try await sliced.run(now: farFuture)
            #expect(summary.eventsScanned == events.count)
            #expect(comparable(try RollupStore(store.index).rows(.hour)) == hourly)
            #expect(comparable(try RollupStore(store.index).rows(.day)) == daily)
            #expect(try RollupStore(store.index).dirtyHours().isEmpty)
            let last = try #require(try store.index.lastSuccessfulJobRun(job: RollupEngine.jobName))
            #expect(last.id == summary.jobRunID && last.events == Int64(events.count) && last.succeeded)
            let again = try await sliced.run(now: farFuture)
            #expect(again.hours == 0 && again.eventsScanned == 0)
            // Sums checked against the events themselves too.
            #expect(try actualSlices(store.index, .hour) == expectedSlices(events, bucketMs: 3_600_000))
        }
    }

    @Test("dirty marks are cleared, marks newer than the snapshot survive, and job runs are recorded")
    func bookkeeping() async throws {
        try await withStore { store in
            let events = EventFactory.events(500, seed: 4, days: 2)
            _ = try await store.ingest(events)
            try await store.flush()
            #expect(!(try RollupStore(store.index).dirtyHours()).isEmpty)
            // Hours that start at or after --now stay dirty.
            let cut = EventFactory.base + 86_400_000
            let partial = try await engine(store).run(now: cut)
            let left = try RollupStore(store.index).dirtyHours()
            #expect(!left.isEmpty && left.allSatisfy { $0.hourStart >= cut })
            #expect(partial.days == Set(events.filter { $0.timestampMs < cut }.map { $0.timestampMs / 86_400_000 }).count)
            let full = try await engine(store).run(now: farFuture)
            #expect(full.hours == left.count)
            #expect(try RollupStore(store.index).dirtyHours().isEmpty)
            let last = try #require(try store.index.lastSuccessfulJobRun(job: RollupEngine.jobName))
            #expect(last.id == full.jobRunID && last.events == Int64(full.eventsScanned) && last.succeeded)
            #expect(last.buckets == Int64(full.hours + full.days))
            #expect(try store.index.jobRuns(job: RollupEngine.jobName).count == 2)
        }
    }

    @Test("a mark set again after the run's snapshot is kept for the next run")
    func markSetDuringRunSurvives() throws {
        let index = try IndexDatabase()
        let hour = EventFactory.base / 3_600_000 * 3_600_000
        let day = IndexDatabase.dayString(hour)
        func segment(_ name: String) -> SegmentRecord {
            SegmentRecord(orgID: "org_a", day: day, file: name, rows: 1, bytes: 1, minTs: hour, maxTs: hour, unpricedRows: 0, createdAt: 0,
                          eventHours: 1 << UInt32((hour - EventFactory.base / 86_400_000 * 86_400_000) / 3_600_000), unrolledHours: 0)
        }
        _ = try index.commitSeal(segments: [segment("a")], dirty: [DirtyHour(orgID: "org_a", hourStart: hour)], sealedThrough: 0, now: 10)
        let snapshot = try RollupStore(index).snapshot()
        // A seal lands while the run computes (same marked_at: the segment id tells them apart).
        _ = try index.commitSeal(segments: [segment("b")], dirty: [DirtyHour(orgID: "org_a", hourStart: hour)], sealedThrough: 0, now: 10)
        try RollupStore(index).commit([], marks: snapshot.dirty, maxSegmentID: snapshot.maxSegmentID, jobRun: nil)
        #expect(try RollupStore(index).dirtyHours().count == 1)
        let next = try RollupStore(index).snapshot()
        try RollupStore(index).commit([], marks: next.dirty, maxSegmentID: next.maxSegmentID, jobRun: nil)
        #expect(try RollupStore(index).dirtyHours().isEmpty)
    }

    @Test("sums beyond 64 bits stay exact (Int128 in the blob; the SQL column is NULL)")
    func hugeSums() async throws {
        var rng = SeededRandom(seed: 5)
        let events = (0..<3).map { i -> UsageEvent in
            var e = EventFactory.event(i, rng: &rng)
            e.timestampMs = EventFactory.base / 3_600_000 * 3_600_000 + Int64(i)
            e.inputCost = Money(units: 5_000_000_000_000_000_000)
            e.outputCost = .zero
            e.cachedCost = .zero
            e.totalCost = e.inputCost
            e.inputTokens = Int64.max / 2
            return e
        }
        try await withStore { store in
            _ = try await store.ingest(events)
            try await engine(store).run(now: farFuture)
            for g in RollupGranularity.allCases {
                let row = try #require(try RollupStore(store.index).rows(g).first)
                #expect(row.totalCost == nil && row.inputTokens == nil && row.requestCount == 3)
                let b = try RollupRowCodec.bucket(row)
                #expect(b.total.totalCost == 15_000_000_000_000_000_000)
                #expect(b.total.inputTokens == Int128(Int64.max / 2) * 3)
                #expect(RollupExport.money(b.total.totalCost) == "1500000000")
                for d in RollupDimension.allCases {
                    #expect(b.slices(d).reduce(Int128(0)) { $0 + $1.measures.totalCost } == b.total.totalCost)
                }
            }
        }
    }

    @Test("stored rows decode and re-encode to the same bytes")
    func codecRoundTrip() async throws {
        try await withStore { store in
            _ = try await store.ingest(sampleEvents())
            try await engine(store).run(now: farFuture)
            for g in RollupGranularity.allCases {
                for row in try RollupStore(store.index).rows(g) {
                    let bucket = try RollupRowCodec.bucket(row)
                    #expect(RollupRowCodec.row(bucket, computedAt: row.computedAt) == row)
                    #expect(row.latencyDigest.count <= 2048)
                }
            }
        }
    }
}
