import Testing
import TDigest

@Suite("Merging and determinism")
struct MergeTests {
    @Test("static merge does not depend on input order (byte-identical)")
    func staticMergeOrderIndependent() throws {
        let (hourly, _) = try AccuracyTests.day(seed: 4)
        let forward = TDigest.merged(hourly)
        let backward = TDigest.merged(hourly.reversed())
        var rng = SplitMix64(seed: 9)
        var shuffled = hourly
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
            shuffled.swapAt(i, rng.int(in: 0...i))
        }
        let mixed = TDigest.merged(shuffled)
        #expect(forward == backward)
        #expect(forward == mixed)
        #expect(forward.serialized() == backward.serialized())
        #expect(forward.serialized() == mixed.serialized())
        #expect(forward.sum == mixed.sum)
    }

    @Test("pairwise merges in different orders agree within tolerance")
    func pairwiseOrder() throws {
        let (hourly, values) = try AccuracyTests.day(seed: 5)
        let exact = Exact(values)
        let orders: [[TDigest]] = [hourly, hourly.reversed(), hourly.enumerated().sorted { ($0.offset * 7) % 24 < ($1.offset * 7) % 24 }.map(\.element)]
        var results: [TDigest] = []
        for order in orders {
            var acc = TDigest()
            for d in order { acc.merge(d) }
            // Hours have different medians, so centroids carried over whole from one hour can
            // exceed the size bound at their new rank in the running total (documented).
            acc._checkInvariants(checkSizeBound: false)
            #expect(acc.count == values.count)
            results.append(acc)
        }
        for q in [0.5, 0.95, 0.99] {
            let estimates = results.map { $0.quantile(q)! }
            for e in estimates { #expect(exact.rankError(e, q) <= 1e-3, "q=\(q)") }
            let spread = (estimates.max()! - estimates.min()!) / exact.quantile(q)
            #expect(spread <= 0.01, "q=\(q) spread \(spread)")
        }
    }

    @Test("merging a digest into itself doubles every count")
    func selfMerge() {
        let (d, _) = makeSample(count: 10_000, seed: 8) { $0.latency() }
        let doubled = d.merging(d)
        #expect(doubled.count == 20_000)
        #expect(doubled.sum == 2 * d.sum)
        for q in [0.1, 0.5, 0.9, 0.99] {
            #expect(abs(doubled.quantile(q)! - d.quantile(q)!) / d.quantile(q)! < 0.005)
        }
        doubled._checkInvariants()
    }

    @Test("merging exact-mode digests is lossless")
    func exactMerge() {
        var a = TDigest()
        var b = TDigest()
        var all = TDigest()
        var rng = SplitMix64(seed: 3)
        for i in 0..<180 {
            let x = Double(rng.int(in: 0...1000)) / 8
            if i % 3 == 0 { a.add(x) } else { b.add(x) }
            all.add(x)
        }
        let merged = TDigest.merged([a, b])
        #expect(merged.isExact)
        #expect(merged.centroids == all.centroids)
        for i in 0...100 { #expect(merged.quantile(Double(i) / 100) == all.quantile(Double(i) / 100)) }
    }

    @Test("merging exact-mode digests past the exact capacity matches adding the values")
    func exactToSketchMerge() {
        var parts = [TDigest](repeating: TDigest(), count: 5)
        var values: [Double] = []
        var rng = SplitMix64(seed: 21)
        for i in 0..<900 {
            let x = rng.latency()
            values.append(x)
            parts[i % 5].add(x)
        }
        let merged = TDigest.merged(parts)
        let exact = Exact(values)
        #expect(!merged.isExact)
        for q in [0.5, 0.9, 0.99] { #expect(exact.rankError(merged.quantile(q)!, q) <= 2e-3) }
        merged._checkInvariants()
    }

    @Test("empty digests merge as no-ops; compression comes from the receiver")
    func emptyAndCompression() {
        let values = (1...500).map(Double.init)
        var a = TDigest(values, compression: 300)
        let before = a
        a.merge(TDigest())
        #expect(a == before)
        let b = TDigest(values, compression: 800)
        let ab = a.merging(b)
        #expect(ab.compression == 300)
        #expect(ab.count == 1_000)
        #expect(TDigest.merged([TDigest](), compression: 123).compression == 123)
        #expect(TDigest.merged([TDigest]()).isEmpty)
        #expect(TDigest.merged([b, a]).compression == 800)
        #expect(TDigest.merged([TDigest(), a]).quantile(0.5) == a.quantile(0.5))
    }

    @Test("same values in the same order give byte-identical digests")
    func determinism() {
        let first = makeSample(count: 250_000, seed: 42) { $0.latency() }.digest
        let second = makeSample(count: 250_000, seed: 42) { $0.latency() }.digest
        #expect(first.serialized() == second.serialized())
        #expect(first == second)
        let other = makeSample(count: 250_000, seed: 43) { $0.latency() }.digest
        #expect(first.serialized() != other.serialized())
    }

    @Test("add(contentsOf:) and init(_:) match repeated add")
    func bulkAdd() {
        let values = (0..<20_000).map { Double(($0 * 7_919) % 10_007) }
        var one = TDigest()
        for x in values { one.add(x) }
        var bulk = TDigest()
        bulk.add(contentsOf: values)
        #expect(one == bulk)
        #expect(TDigest(values) == one)
    }
}
