import Testing
import TDigest

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Accuracy against exact quantiles computed by sorting, on seeded synthetic data.
@Suite("Accuracy")
struct AccuracyTests {
    /// p99 rank error ≤ 0.01 % (|cdf_exact(estimate) − 0.99| ≤ 0.0001) for single digests of
    /// lognormal latency with a heavy tail, at the sizes the daemon's hourly buckets have.
    @Test(
        "single digest: p99 rank error ≤ 0.01 %",
        arguments: [100, 137, 200, 201, 250, 500, 1_000, 2_000, 5_000, 100_000])
    func p99SingleDigest(n: Int) {
        let seeds: [UInt64] = n >= 100_000 ? [1, 2] : [1, 2, 3, 4, 5]
        for seed in seeds {
            let (d, values) = makeSample(count: n, seed: seed &* 7919 &+ UInt64(n)) { $0.latency() }
            let exact = Exact(values)
            let error = exact.rankErrorInValues(d.quantile(0.99)!, 0.99)
            #expect(error <= 1e-4 * Double(n) + 1e-9, "n=\(n) seed=\(seed): \(error) values off")
            #expect(d.serialized().count <= TDigest.maximumSerializedSize)
            d._checkInvariants()
        }
    }

    /// Between about 9 000 and 50 000 values the 2 KB budget leaves centroids of 2–4 values
    /// around p99, so the rank error can reach ~1.6 values (0.016 % at n = 10 000); see
    /// schema/tdigest.md. This pins that bound.
    @Test("single digest, 10 000–50 000 values: p99 rank error ≤ 0.02 %", arguments: [10_000, 20_000, 50_000])
    func p99MidSizes(n: Int) {
        for seed: UInt64 in [1, 2, 3] {
            let (d, values) = makeSample(count: n, seed: seed &* 7919 &+ UInt64(n)) { $0.latency() }
            let exact = Exact(values)
            #expect(exact.rankError(d.quantile(0.99)!, 0.99) <= 2e-4, "n=\(n) seed=\(seed)")
            #expect(exact.rankError(d.quantile(0.5)!, 0.5) <= 1.5e-3)
            #expect(exact.rankError(d.quantile(0.95)!, 0.95) <= 5e-4)
        }
    }

    @Test("single digest of 1 000 000 values: rank errors and size")
    func million() {
        let (d, values) = makeSample(count: 1_000_000, seed: 99) { $0.latency() }
        let exact = Exact(values)
        #expect(exact.rankError(d.quantile(0.5)!, 0.5) <= 5e-4)
        #expect(exact.rankError(d.quantile(0.95)!, 0.95) <= 1e-4)
        #expect(exact.rankError(d.quantile(0.99)!, 0.99) <= 1e-4)
        #expect(exact.rankError(d.quantile(0.999)!, 0.999) <= 2e-5)
        #expect(d.quantile(0) == exact.sorted.first)
        #expect(d.quantile(1) == exact.sorted.last)
        #expect(d.count == 1_000_000)
        #expect(d.serialized().count <= TDigest.maximumSerializedSize)
        d._checkInvariants()
    }

    @Test("Pareto (α = 1.2, infinite variance): tail ranks stay accurate")
    func pareto() {
        for n in [1_000, 100_000] {
            let (d, values) = makeSample(count: n, seed: 1234) { $0.pareto() }
            let exact = Exact(values)
            for (q, bound) in [(0.5, 1.5e-3), (0.9, 5e-4), (0.99, 1e-4), (0.999, 2e-5)] {
                let error = exact.rankError(d.quantile(q)!, q)
                #expect(error <= bound, "n=\(n) q=\(q) error=\(error)")
            }
            #expect(d.max == exact.sorted.last)
            d._checkInvariants()
        }
    }

    /// The daily digest built from 24 hourly digests (100–20 000 values each, read back from
    /// their serialized form as the rollups do) gives p50/p95/p99 within 1 % of the exact
    /// daily values and ≤ 0.05 % rank error.
    @Test("24 merged hourly digests: daily p50/p95/p99 within 1 % value and 0.05 % rank", arguments: [1, 2, 3])
    func mergedDay(seed: UInt64) throws {
        let (hourly, values) = try Self.day(seed: seed)
        let daily = TDigest.merged(hourly)
        let exact = Exact(values)
        #expect(daily.count == values.count)
        for q in [0.5, 0.95, 0.99] {
            let estimate = daily.quantile(q)!
            let truth = exact.quantile(q)
            #expect(abs(estimate - truth) / truth <= 0.01, "q=\(q) estimate=\(estimate) exact=\(truth)")
            #expect(exact.rankError(estimate, q) <= 5e-4, "q=\(q) rank error \(exact.rankError(estimate, q))")
        }
        #expect(daily.min == exact.sorted.first && daily.max == exact.sorted.last)
        #expect(daily.serialized().count <= TDigest.maximumSerializedSize)
        daily._checkInvariants()
    }

    @Test("merging digests of different shapes stays accurate")
    func mergeDifferentShapes() {
        var rng = SplitMix64(seed: 77)
        var parts: [TDigest] = []
        var values: [Double] = []
        for part in 0..<6 {
            var d = TDigest()
            let n = [50, 3_000, 150, 40_000, 1, 9_000][part]
            for _ in 0..<n {
                let x = part % 2 == 0 ? rng.latency(median: 300) : rng.latency(median: 3_000)
                values.append(x)
                d.add(x)
            }
            parts.append(d)
        }
        let merged = TDigest.merged(parts)
        let exact = Exact(values)
        for q in [0.01, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999] {
            #expect(exact.rankError(merged.quantile(q)!, q) <= 1e-3, "q=\(q)")
        }
        merged._checkInvariants(checkSizeBound: false)
        #expect(merged._invariantViolations(checkSizeBound: false).isEmpty)
    }

    /// 24 hourly digests of one synthetic day: hour h has 100–20 000 values around a median
    /// that follows a daily cycle. Returns the decoded digests and all values.
    static func day(seed: UInt64) throws -> ([TDigest], [Double]) {
        var rng = SplitMix64(seed: 1_000 + seed)
        var hourly: [TDigest] = []
        var values: [Double] = []
        for hour in 0..<24 {
            let n = rng.int(in: 100...20_000)
            let median = 1_000 * (1 + 0.3 * sin(Double(hour) / 24 * 2 * Double.pi))
            var d = TDigest()
            for _ in 0..<n {
                let x = rng.latency(median: median)
                values.append(x)
                d.add(x)
            }
            hourly.append(try TDigest(serialized: d.serialized()))
        }
        return (hourly, values)
    }
}
