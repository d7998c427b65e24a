import Foundation
import Logging
import Query
import Rollups
import SegmentStore
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex

/// An event without `latency_ms` (or without TTFT) has an unknown value: it is stored as absent
/// and left out of averages and percentiles, in the rollups and in raw-segment answers alike.
@Suite("Absent latencies and TTFT") struct AbsentLatencyTests {
    @Test func absentValuesAreLeftOutEverywhere() async throws {
        let dir = TemporaryDirectory("absent")
        defer { dir.remove() }
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        var rng = SeededRandom(seed: 9)
        let latencies: [Int64?] = [850, 1200, nil, nil]
        let ttfts: [Int64?] = [nil, 300, 100, nil]
        var events: [UsageEvent] = []
        for i in 0..<4 {
            var e = EventFactory.event(i, org: "org_a", rng: &rng)
            e.timestampMs = EventFactory.base / dayMs * dayMs + 3_600_000 + Int64(i) * 1000
            e.latencyMs = latencies[i]
            e.timeToFirstTokenMs = ttfts[i]
            e.team = "platform"
            events.append(e)
        }
        _ = try await store.ingest(events)
        // Stored as absent, not as 0.
        let snapshot = try await store.readSnapshot(orgID: "org_a")
        #expect(snapshot.unsealed.events.map(\.latencyMs).sorted { ($0 ?? -1) < ($1 ?? -1) } == [nil, nil, 850, 1200])
        snapshot.release()
        _ = try await RollupEngine(store: store, logger: logger).run(now: farFuture)
        var read: [UsageEvent] = []
        try await store.forEachDay(orgID: "org_a") { _, _, day in read += day }
        #expect(read.map(\.latencyMs).filter { $0 == nil }.count == 2)

        let engine = QueryEngine(index: store.index, dataDirectory: dir.path)
        let day = IndexDatabase.dayString(events[0].timestampMs)
        let next = IndexDatabase.dayString(events[0].timestampMs + dayMs)
        let fromRollups = try engine.usage(query(["start_date": day, "end_date": next]))
        // Raw segments: a filter on two dimensions.
        let fromSegments = try engine.usage(query(["start_date": day, "end_date": next, "team_id": "platform", "environment": "(none)"]))
        #expect(fromRollups.meta.source == "rollups")
        #expect(fromSegments.meta.source == "segments")
        let envNone = events.filter { $0.environment == nil }
        for (r, subset, note) in [(fromRollups, events, "rollups"), (fromSegments, envNone, "segments")] {
            let known = subset.compactMap(\.latencyMs).sorted()
            let knownTTFT = subset.compactMap(\.timeToFirstTokenMs).sorted()
            #expect(r.totals.requests == Int64(subset.count), "\(note)")
            #expect(r.totals.latencyCount == Int64(known.count), "\(note)")
            #expect(r.totals.ttftCount == Int64(knownTTFT.count), "\(note)")
            #expect(r.totals.averageLatencyMs == (known.isEmpty ? nil : Double(known.reduce(0, +)) / Double(known.count)), "\(note)")
            let p = r.points[0]
            #expect(p.latency.p50 == Self.reference(known, 0.5), "\(note) p50")
            #expect(p.ttft.p50 == Self.reference(knownTTFT, 0.5), "\(note) ttft p50")
            let json = try StrictJSON.parse(QueryOutput.json(r))
            let point = try #require(json["data"]?["breakdown"]?[0])
            #expect(point["latency_count"]?.intValue == known.count, "\(note)")
            #expect(point["ttft_count"]?.intValue == knownTTFT.count, "\(note)")
        }
        // The example: 850, 1200 and two absent give p50 1025 ms (not 425).
        #expect(fromRollups.points[0].latency.p50 == 1025)
        #expect(fromRollups.totals.averageLatencyMs == 1025)
        #expect(fromRollups.points[0].ttft.p50 == 200)

        // The rollup export says the same.
        let rows = try RollupStore(store.index).rows(.hour, orgID: "org_a")
        var text = ""
        for row in rows { RollupExport.ndjson(try RollupRowCodec.bucket(row), granularity: .hour, into: &text) }
        let lines = try StrictJSON.parseLines(text)
        #expect(lines.reduce(0) { $0 + ($1["latency_count"]?.intValue ?? 0) } == 2)
        #expect(lines.reduce(0) { $0 + ($1["ttft_count"]?.intValue ?? 0) } == 2)
        await store.close()
    }

    /// The digests' definition: the value at rank ⌈q·n⌉, the midpoint of two values when q·n is
    /// an integer (exact for ≤ 200 values).
    static func reference(_ sorted: [Int64], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let x = q * Double(sorted.count)
        let r = Int(x.rounded(.up))
        if Double(r) == x, r < sorted.count { return Double(sorted[r - 1] + sorted[r]) / 2 }
        return Double(sorted[max(0, r - 1)])
    }
}
