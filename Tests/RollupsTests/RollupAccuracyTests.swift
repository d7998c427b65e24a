import Foundation
import Rollups
import SegmentStore
import TDigest
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex

/// Hazen quantile (the digest's definition) of sorted values.
func exactQuantile(_ sorted: [Double], _ q: Double) -> Double {
    let n = Double(sorted.count)
    let t = q * n
    if t <= 0.5 { return sorted[0] }
    if t >= n - 0.5 { return sorted[sorted.count - 1] }
    let i = Int((t - 0.5).rounded(.down))
    let f = t - 0.5 - Double(i)
    return sorted[i] + (sorted[i + 1] - sorted[i]) * f
}

/// Rank error of `x` as an estimate of quantile `q`: the distance from `q` to the range of ranks `x`
/// occupies, [#values < x, #values ≤ x] / n (values repeat: latencies are integer ms).
func rankError(_ sorted: [Double], _ x: Double, _ q: Double) -> Double {
    var below = 0, equal = 0
    for v in sorted {
        if v < x { below += 1 } else if v == x { equal += 1 }
    }
    let lo = Double(below) / Double(sorted.count), hi = Double(below + equal) / Double(sorted.count)
    return q < lo ? lo - q : (q > hi ? q - hi : 0)
}

/// Heavy-tailed latencies: lognormal body, 3% Pareto tail, integer ms.
func latencyEvents(org: String, hours: Int, perHour: (Int) -> Int, seed: UInt64) -> [UsageEvent] {
    var rng = SeededRandom(seed: seed)
    var out: [UsageEvent] = []
    let start = EventFactory.base / 86_400_000 * 86_400_000
    for h in 0..<hours {
        for i in 0..<perHour(h) {
            var e = EventFactory.event(i, org: org, rng: &rng)
            e.timestampMs = start + Int64(h) * 3_600_000 + Int64(rng.next() % 3_600_000)
            let u1 = Double(rng.next() % 1_000_000 + 1) / 1_000_001, u2 = Double(rng.next() % 1_000_000) / 1_000_000
            let normal = (-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            var latency = 900 * exp(0.55 * normal)
            if rng.next() % 100 < 3 { latency *= 1 + 1 / pow(Double(rng.next() % 1_000_000 + 1) / 1_000_001, 1 / 1.6) }
            e.latencyMs = Int64(min(600_000, max(3, latency.rounded())))
            out.append(e)
        }
    }
    return out
}

@Suite("Rollup accuracy")
struct RollupAccuracyTests {
    @Test("hourly p99 rank error ≤ 0.01% for buckets of ≥ 100 events; daily p99 within 1% of exact")
    func percentiles() async throws {
        let events = latencyEvents(org: "org_p", hours: 24, perHour: { [100, 150, 250, 600, 1500, 4000][$0 % 6] }, seed: 11)
        try await withStore { store in
            _ = try await store.ingest(events)
            try await engine(store).run(now: farFuture)
            var worstHourly = 0.0
            for row in try RollupStore(store.index).rows(.hour) {
                let b = try RollupRowCodec.bucket(row)
                let inHour = events.filter { $0.timestampMs / 3_600_000 * 3_600_000 == b.bucketStart }
                var groups: [(TDigest, [Double])] = [(b.latency, inHour.compactMap { $0.latencyMs.map(Double.init) }.sorted())]
                for s in b.slices(.model) {
                    groups.append((s.latency, inHour.filter { $0.provider == s.key.provider && $0.model == s.key.value }
                        .compactMap { $0.latencyMs.map(Double.init) }.sorted()))
                }
                for (digest, sorted) in groups where sorted.count >= 100 {
                    #expect(digest.count == sorted.count)
                    let error = rankError(sorted, try #require(digest.quantile(0.99)), 0.99)
                    worstHourly = max(worstHourly, error)
                    #expect(error <= 0.0001, "hour \(b.bucketStart) n=\(sorted.count)")
                }
            }
            let day = try RollupRowCodec.bucket(try #require(try RollupStore(store.index).rows(.day).first))
            let all = events.compactMap { $0.latencyMs.map(Double.init) }.sorted()
            for q in [0.5, 0.95, 0.99] {
                let exact = exactQuantile(all, q)
                let estimate = try #require(day.latency.quantile(q))
                #expect(abs(estimate - exact) / exact <= 0.01, "q=\(q) exact \(exact) estimate \(estimate)")
            }
            for s in day.slices(.model) + day.slices(.feature) {
                let values: [Double] = events.filter {
                    s.key.provider.isEmpty ? $0.feature == s.key.value : ($0.provider == s.key.provider && $0.model == s.key.value)
                }.compactMap { $0.latencyMs.map(Double.init) }.sorted()
                let exact = exactQuantile(values, 0.99)
                let estimate = try #require(s.latency.quantile(0.99))
                #expect(abs(estimate - exact) / exact <= 0.01, "\(s.key) p99 exact \(exact) estimate \(estimate)")
                #expect(RollupDigestCodec.encode(s.latency).count <= 2048)
            }
            #expect(RollupDigestCodec.encode(day.latency).count <= 2048)
        }
    }

    @Test("exact integer digests round-trip through the compact encoding", arguments: [1, 2, 17, 200])
    func exactDigestCodec(count: Int) throws {
        var rng = SeededRandom(seed: UInt64(count))
        var d = TDigest()
        for _ in 0..<count { d.add(Double(rng.next() % 50)) }
        d.flush()
        let bytes = RollupDigestCodec.encode(d)
        #expect(bytes.first == 1)
        #expect(try RollupDigestCodec.decode(bytes) == d)
        #expect(bytes.count < d.serialized().count)
    }

    @Test("sketch and non-integer digests use the digest's own format")
    func canonicalDigestCodec() throws {
        var big = TDigest()
        for i in 0..<5000 { big.add(Double(i % 977) * 1.5) }
        big.flush()
        var fractional = TDigest()
        fractional.add(1.25)
        for d in [big, fractional] {
            let bytes = RollupDigestCodec.encode(d)
            #expect(bytes.first == 0)
            #expect(try RollupDigestCodec.decode(bytes) == d)
        }
        #expect(throws: RollupDecodingError.self) { try RollupDigestCodec.decode([7, 1, 2]) }
        #expect(throws: RollupDecodingError.self) { try RollupDigestCodec.decode([1, 0xF4, 0x03, 2, 10]) }
    }
}

@Suite("Rollup dense buckets")
struct RollupDenseTests {
    /// Hours of up to 3000 events (sketch-mode digests) in two orgs over two days.
    static let events: [UsageEvent] =
        latencyEvents(org: "org_d", hours: 30, perHour: { [40, 180, 230, 900, 3000][$0 % 5] }, seed: 21)
        + latencyEvents(org: "org_e", hours: 26, perHour: { $0 % 2 == 0 ? 210 : 60 }, seed: 22)

    @Test("the daily row equals the merge of its stored hourly rows, sketch-mode hours included")
    func dailyIsMergeOfHourly() async throws {
        try await withStore { store in
            _ = try await store.ingest(Self.events)
            try await engine(store).run(now: farFuture)
            let hourly = try RollupStore(store.index).rows(.hour).map { try RollupRowCodec.bucket($0) }
            #expect(hourly.contains { !$0.latency.isExact })
            for row in try RollupStore(store.index).rows(.day) {
                let day = try RollupRowCodec.bucket(row)
                let hours = hourly.filter { $0.orgID == row.orgID && $0.bucketStart / 86_400_000 * 86_400_000 == row.bucketStart }
                #expect(RollupBucket.combining(hours, orgID: row.orgID, bucketStart: row.bucketStart) == day)
            }
        }
    }

    @Test("late data in sketch-mode hours folded in: two halves with a run between give the sums of one run")
    func lateData() async throws {
        let first = Self.events.enumerated().filter { $0.offset % 3 != 0 }.map(\.element)
        let second = Self.events.enumerated().filter { $0.offset % 3 == 0 }.map(\.element)
        let incremental = try await withStore("dense-a") { store in
            _ = try await store.ingest(first)
            try await engine(store).run(now: farFuture)
            _ = try await store.ingest(second)
            try await engine(store).run(now: farFuture)
            return (try RollupStore(store.index).rows(.hour), try RollupStore(store.index).rows(.day))
        }
        let once = try await withStore("dense-b") { store in
            _ = try await store.ingest(Self.events)
            try await engine(store).run(now: farFuture)
            return (try RollupStore(store.index).rows(.hour), try RollupStore(store.index).rows(.day))
        }
        // Folded: the same sums, digests merged (close to, not bit-equal with, digests built at once).
        #expect(try foldDifferences(incremental.0, once.0) == [])
        #expect(try foldDifferences(incremental.1, once.1) == [])
    }
}
