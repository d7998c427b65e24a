import Testing
import TDigest

@Suite("Basics and small inputs")
struct BasicTests {
    @Test("empty digest answers nil, zero counts")
    func empty() {
        let d = TDigest()
        #expect(d.count == 0)
        #expect(d.isEmpty)
        #expect(d.min == nil)
        #expect(d.max == nil)
        #expect(d.mean == nil)
        #expect(d.sum == 0)
        #expect(d.quantile(0.5) == nil)
        #expect(d.quantiles([0.5, 0.9]) == nil)
        #expect(d.cdf(1) == nil)
        #expect(d.centroids.isEmpty)
        #expect(d.compression == TDigest.defaultCompression)
        #expect(d.effectiveCompression == TDigest.defaultCompression)
        #expect(d == TDigest())
        d._checkInvariants()
    }

    @Test("one value: every quantile is the value, cdf is ½ at the value")
    func single() {
        var d = TDigest()
        d.add(42.5)
        for q in [0, 0.01, 0.25, 0.5, 0.99, 1] { #expect(d.quantile(q) == 42.5) }
        #expect(d.cdf(42.5) == 0.5)
        #expect(d.cdf(42.4) == 0)
        #expect(d.cdf(42.6) == 1)
        #expect(d.min == 42.5 && d.max == 42.5 && d.sum == 42.5 && d.mean == 42.5)
        #expect(d.count == 1 && d.isExact)
        d._checkInvariants()
    }

    @Test("two values: lower below ½, midpoint at ½, upper above ½")
    func two() {
        var d = TDigest()
        d.add(10)
        d.add(2)
        #expect(d.quantile(0) == 2)
        #expect(d.quantile(0.25) == 2)
        #expect(d.quantile(0.4999) == 2)
        #expect(d.quantile(0.5) == 6)
        #expect(d.quantile(0.5001) == 10)
        #expect(d.quantile(1) == 10)
        #expect(d.cdf(2) == 0.25)
        #expect(d.cdf(10) == 0.75)
        #expect(d.cdf(5) == 0.5)
        d._checkInvariants()
    }

    @Test("exact mode gives the exact type-2 quantiles and midpoint CDF")
    func exactMode() {
        var rng = SplitMix64(seed: 7)
        for n in [3, 4, 10, 57, 100, TDigest.exactCapacity] {
            var values: [Double] = []
            var d = TDigest()
            for _ in 0..<n {
                // Integers in a small range, so there are many ties.
                let x = Double(rng.int(in: 0...30)) * 0.5
                values.append(x)
                d.add(x)
            }
            #expect(d.isExact)
            let exact = Exact(values)
            for i in 0...200 {
                let q = Double(i) / 200
                #expect(d.quantile(q) == exact.quantile(q), "n=\(n) q=\(q)")
                #expect(exact.rankError(d.quantile(q)!, q) == 0)
            }
            for x in Set(values) { #expect(d.cdf(x) == exact.midpointCDF(x), "n=\(n) x=\(x)") }
            // Between data values the CDF is the empirical one.
            #expect(d.cdf(0.25) == exact.midpointCDF(0.25))
            #expect(d.centroids.count == Set(values).count)
            d._checkInvariants()
        }
    }

    @Test("constant input stays exact at any count", arguments: [1, 150, 10_000, 200_000])
    func constant(n: Int) {
        var d = TDigest()
        for _ in 0..<n { d.add(0.1) }
        for q in [0, 0.001, 0.5, 0.99, 1] { #expect(d.quantile(q) == 0.1) }
        #expect(d.cdf(0.1) == 0.5)
        #expect(d.min == 0.1 && d.max == 0.1)
        #expect(d.count == n)
        d._checkInvariants()
        let decoded = try? TDigest(serialized: d.serialized())
        #expect(decoded?.quantile(0.5) == 0.1)
    }

    @Test("two distinct repeated values keep both exact")
    func twoValues() {
        var d = TDigest()
        for i in 0..<50_000 { d.add(i % 4 == 0 ? 0.3 : 7.7) }
        #expect(d.quantile(0.1) == 0.3)
        #expect(d.quantile(0.5) == 7.7)
        #expect(d.quantile(0.99) == 7.7)
        #expect(d.cdf(0.3)! > 0.1 && d.cdf(0.3)! < 0.25)
        d._checkInvariants()
    }

    @Test("non-finite values and weights below 1 are rejected; -0.0 is recorded as 0.0")
    func rejection() {
        var d = TDigest()
        for value in [Double.nan, .infinity, -.infinity] {
            let accepted = d.add(value)
            #expect(!accepted)
        }
        for weight in [0, -3] {
            let accepted = d.add(1, weight: weight)
            #expect(!accepted)
        }
        #expect(d.isEmpty)
        let accepted = d.add(-0.0)
        #expect(accepted)
        #expect(d.min!.sign == .plus)
        #expect(d.serialized() == { var e = TDigest(); e.add(0.0); return e.serialized() }())
        d._checkInvariants()
    }

    @Test("weights count as repeated values")
    func weights() {
        var weighted = TDigest()
        weighted.add(1, weight: 3)
        weighted.add(5, weight: 1)
        weighted.add(9, weight: 4)
        var repeated = TDigest()
        for x in [1.0, 1, 1, 5, 9, 9, 9, 9] { repeated.add(x) }
        #expect(weighted.count == 8)
        #expect(weighted.sum == 1 * 3 + 5 + 9 * 4)
        #expect(weighted == repeated)
        #expect(weighted.serialized() == repeated.serialized())
        for i in 0...20 {
            let q = Double(i) / 20
            #expect(weighted.quantile(q) == repeated.quantile(q))
        }
        weighted._checkInvariants()
    }

    @Test("a huge single weight is split so the size bound holds")
    func hugeWeight() {
        var d = TDigest()
        d.add(3, weight: 1_000_000)
        d.add(4, weight: 1_000_000)
        d.add(1)
        d.flush()
        #expect(d.count == 2_000_001)
        #expect(d.quantile(0.25) == 3)
        #expect(d.quantile(0.75) == 4)
        #expect(d.quantile(0) == 1)
        d._checkInvariants()
    }

    @Test("negative and mixed-sign values")
    func negatives() {
        let (d, values) = makeSample(count: 5_000, seed: 3) { $0.normal() * 1e-3 }
        let exact = Exact(values)
        for q in [0.01, 0.5, 0.99] { #expect(exact.rankError(d.quantile(q)!, q) <= 0.001) }
        #expect(d.min == exact.sorted.first && d.max == exact.sorted.last)
        d._checkInvariants()
    }

    @Test("extreme magnitudes do not overflow")
    func extremes() {
        var d = TDigest()
        let big = Double.greatestFiniteMagnitude
        for i in 0..<1_000 { d.add(i % 2 == 0 ? big : -big) }
        d.add(Double.leastNonzeroMagnitude)
        for q in [0, 0.25, 0.5, 0.75, 1] {
            let v = d.quantile(q)!
            #expect(v.isFinite)
        }
        #expect(d.quantile(0) == -big && d.quantile(1) == big)
        #expect(d.cdf(0)! > 0.3 && d.cdf(0)! < 0.7)
        d._checkInvariants()
        #expect((try? TDigest(serialized: d.serialized())) == d)
    }

    @Test("invalid quantile and cdf arguments give nil")
    func invalidArguments() {
        let d = TDigest([1, 2, 3])
        #expect(d.quantile(-0.01) == nil)
        #expect(d.quantile(1.01) == nil)
        #expect(d.quantile(.nan) == nil)
        #expect(d.quantiles([0.5, 2]) == nil)
        #expect(d.cdf(.nan) == nil)
        #expect(d.cdf(-.infinity) == 0)
        #expect(d.cdf(.infinity) == 1)
    }

    @Test("quantile is non-decreasing and within [min, max]; cdf is non-decreasing")
    func monotone() {
        for n in [150, 5_000, 60_000] {
            let (d, _) = makeSample(count: n, seed: UInt64(n)) { $0.latency() }
            var previous = -Double.infinity
            for i in 0...2_000 {
                let v = d.quantile(Double(i) / 2_000)!
                #expect(v >= previous)
                #expect(v >= d.min! && v <= d.max!)
                previous = v
            }
            var previousCDF = 0.0
            var x = d.min! / 2
            while x < d.max! * 2 {
                let c = d.cdf(x)!
                #expect(c >= previousCDF && c >= 0 && c <= 1)
                previousCDF = c
                x *= 1.01
            }
        }
    }

    @Test("quantile and cdf are near-inverses")
    func inverse() {
        let (d, _) = makeSample(count: 100_000, seed: 11) { $0.latency() }
        for q in stride(from: 0.01, through: 0.99, by: 0.01) {
            let c = d.cdf(d.quantile(q)!)!
            #expect(abs(c - q) < 1e-3, "q=\(q) cdf=\(c)")
        }
    }

    @Test("quantiles(_:) matches quantile(_:)")
    func batch() {
        let (d, _) = makeSample(count: 30_000, seed: 5) { $0.latency() }
        let qs = [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1]
        #expect(d.quantiles(qs) == qs.map { d.quantile($0)! })
    }

    @Test("flush and queries do not change count, min, max or sum")
    func flushKeepsTotals() {
        var d = TDigest()
        var rng = SplitMix64(seed: 1)
        var sum = 0.0
        for _ in 0..<12_345 {
            let x = rng.latency()
            sum += x
            d.add(x)
        }
        let before = (d.count, d.min, d.max, d.sum)
        _ = d.quantile(0.5)
        d.flush()
        #expect(before.0 == d.count && before.1 == d.min && before.2 == d.max && before.3 == d.sum)
        #expect(d.sum == sum)
        #expect(d.mean == sum / 12_345)
        #expect(!d.isExact)
        d._checkInvariants()
    }

    @Test("equality compares flushed state")
    func equality() {
        var a = TDigest()
        var b = TDigest()
        for i in 0..<1_000 {
            a.add(Double(i))
            b.add(Double(i))
        }
        b.flush()
        #expect(a == b)
        b.add(1)
        #expect(a != b)
        #expect(TDigest(compression: 100) != TDigest(compression: 200))
        #expect(a.description.contains("count: 1000"))
    }

    @Test("compression is validated")
    func compressionRange() {
        _ = TDigest(compression: TDigest.minimumCompression)
        _ = TDigest(compression: TDigest.maximumCompression)
        #expect(TDigest(compression: 100).compression == 100)
    }
}

@Suite struct ExactSortedInitTests {
    @Test func equalsAddingAndFlushing() {
        var rng = SystemRandomNumberGenerator()
        for n in [1, 2, 7, 50, 200] {
            var values = Set<Int>()
            while values.count < n { values.insert(Int.random(in: 0...5000, using: &rng)) }
            var weightLeft = 200
            var points: [(value: Double, weight: Int)] = []
            for v in values.sorted() {
                let w = max(1, min(weightLeft - (n - points.count - 1), Int.random(in: 1...3, using: &rng)))
                weightLeft -= w
                points.append((Double(v), w))
            }
            var built = TDigest()
            for p in points { built.add(p.value, weight: p.weight) }
            built.flush()
            #expect(TDigest(exactSorted: points) == built, "n=\(n)")
        }
        #expect(TDigest(exactSorted: [(2, 1), (1, 1)]) == nil)
        #expect(TDigest(exactSorted: [(1, 201)]) == nil)
        #expect(TDigest(exactSorted: []) == nil)
    }
}
