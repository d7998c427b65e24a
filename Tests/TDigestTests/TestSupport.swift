import TDigest

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SplitMix64: a tiny, fast, deterministic generator (Steele, Lea & Flood 2014).
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in (0, 1).
    mutating func uniformOpen() -> Double { (Double(next() >> 11) + 0.5) * 0x1p-53 }

    /// Integer in `range`.
    mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u1 = uniformOpen()
        let u2 = uniform()
        return sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2)
    }

    /// LLM request latency in ms: lognormal (median `median`, σ = 0.55) for 98 % of requests,
    /// and a heavy Pareto tail (α = 1.5, from 2 × median) for 2 %.
    mutating func latency(median: Double = 1000) -> Double {
        if uniform() < 0.02 { return 2 * median * pow(uniformOpen(), -1 / 1.5) }
        return median * exp(0.55 * normal())
    }

    /// Pareto with α = 1.2 (infinite variance) and scale 10.
    mutating func pareto() -> Double { 10 * pow(uniformOpen(), -1 / 1.2) }
}

/// Exact statistics of a sorted sample, as references for the digest's estimates.
struct Exact {
    let sorted: [Double]

    init(_ values: [Double]) { sorted = values.sorted() }

    var n: Int { sorted.count }

    /// Number of values `< x` (or `≤ x` when `inclusive`).
    func rank(_ x: Double, inclusive: Bool) -> Int {
        var lo = 0
        var hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if inclusive ? sorted[mid] <= x : sorted[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Rank error of `estimate` for quantile `q`: the distance from `q` to the interval
    /// `[#values < estimate, #values ≤ estimate] / n` of exact CDF values at `estimate`, i.e.
    /// `|cdf_exact(estimate) − q|` taking the most favourable side of a step of the exact CDF.
    /// Measured in ranks (values) so tests can compare without floating-point noise.
    func rankErrorInValues(_ estimate: Double, _ q: Double) -> Double {
        let target = q * Double(n)
        let below = Double(rank(estimate, inclusive: false))
        let atOrBelow = Double(rank(estimate, inclusive: true))
        if target < below { return below - target }
        if target > atOrBelow { return target - atOrBelow }
        return 0
    }

    /// Rank error as a fraction of `n`.
    func rankError(_ estimate: Double, _ q: Double) -> Double {
        rankErrorInValues(estimate, q) / Double(n)
    }

    /// Exact quantile with the digest's exact-mode definition: the ⌈qn⌉-th value, or the mean
    /// of the (qn)-th and (qn+1)-th when qn is an integer.
    func quantile(_ q: Double) -> Double {
        let t = q * Double(n)
        if t <= 0 { return sorted[0] }
        if t >= Double(n) { return sorted[n - 1] }
        let k = t.rounded(.down)
        if k == t { return (sorted[Int(k) - 1] + sorted[Int(k)]) / 2 }
        return sorted[Int(k)]
    }

    /// `(#values < x + ½ #values = x) / n`.
    func midpointCDF(_ x: Double) -> Double {
        let below = rank(x, inclusive: false)
        let equal = rank(x, inclusive: true) - below
        return (Double(below) + Double(equal) / 2) / Double(n)
    }
}

/// Builds a digest and the list of values from a generator.
func makeSample(
    count: Int, seed: UInt64, compression: Double = TDigest.defaultCompression,
    _ generate: (inout SplitMix64) -> Double
) -> (digest: TDigest, values: [Double]) {
    var rng = SplitMix64(seed: seed)
    var digest = TDigest(compression: compression)
    var values: [Double] = []
    values.reserveCapacity(count)
    for _ in 0..<count {
        let x = generate(&rng)
        values.append(x)
        digest.add(x)
    }
    return (digest, values)
}
