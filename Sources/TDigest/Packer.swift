/// An input of the merge pass: a centroid, or a buffered value, in sorted order.
@usableFromInline
internal struct PackItem {
    var mean: Double
    var weight: Int
    /// Whether all of the item's weight sits exactly at `mean` (a buffered value, or a centroid
    /// of an exact-mode digest), so the item may be split across centroids without loss.
    var splittable: Bool

    init(mean: Double, weight: Int, splittable: Bool) {
        self.mean = mean
        self.weight = weight
        self.splittable = splittable
    }

    init(_ centroid: TDigest.Centroid, splittable: Bool) {
        self.mean = centroid.mean
        self.weight = centroid.weight
        self.splittable = splittable
    }

    /// Total order: by mean, then weight, then splittable (so sorting is canonical).
    @inline(__always)
    static func precedes(_ a: PackItem, _ b: PackItem) -> Bool {
        if a.mean != b.mean { return a.mean < b.mean }
        if a.weight != b.weight { return a.weight < b.weight }
        return !a.splittable && b.splittable
    }
}

/// The scale function: Dunning & Ertl's normalized k2, tilted towards the upper tail and
/// capped in the middle, in its size-bound ("weight limit") form.
///
/// A centroid covering the quantile range `[q₀, q₁]` of a digest of `n` values is accepted
/// when its weight is at most `n · f(q)` at *both* ends (`q₀` and `q₁`), with
///
///     f(q) = min( Z(n)/δ · q(1 − q) · (1 + β(1 − q)) / (1 + βq),  C/δ )
///     Z(n) = 4 ln(n/δ) + 24,   β = 3,   C = 4.
///
/// - `Z(n)/δ · q(1 − q)` is the derivative form of k2 (`k₂(q) = δ/Z · ln(q/(1 − q))`):
///   centroids are tiny near q = 0 and q = 1, and their number stays bounded as n grows.
/// - The tilt `(1 + β(1 − q))/(1 + βq)` runs smoothly from 4 at q = 0 through 1 at q = ½ to ¼
///   at q = 1: the upper tail (p90 … p99.9, what latency, token and cost dashboards read) gets
///   4× smaller centroids than plain k2, the lower tail 4× larger ones.
/// - The cap `C/δ` (0.8 % of the values at δ = 500) keeps middle centroids small enough for
///   p50 to stay accurate after merging many digests.
///
/// `f` is log-concave (a minimum of log-concave functions), so checking both ends bounds the
/// whole centroid, whatever the direction of the merge pass.
internal struct K2Scale {
    /// The scale function identifier written in the serialized format.
    static let identifier: UInt8 = 2

    /// The tilt β.
    static let tilt: Double = 3

    /// The middle cap C: no centroid holds more than `C/δ` of the values.
    static let capNumerator: Double = 4

    /// `Z(n) / δ`.
    let factor: Double
    /// `C / δ`.
    let cap: Double
    /// `n` as a `Double`.
    let n: Double

    init(compression: Double, count: Int) {
        n = Double(count)
        let z = Swift.max(4 * DeterministicMath.log(n / compression) + 24, 1)
        factor = z / compression
        cap = Self.capNumerator / compression
    }

    /// The largest weight allowed for a centroid that starts or ends `weightBefore` values
    /// into the digest: `n · f(q)` with `q = weightBefore / n`.
    @inline(__always)
    func limit(at weightBefore: Int) -> Double {
        let q = Double(weightBefore) / n
        let tilt = (1 + Self.tilt * (1 - q)) / (1 + Self.tilt * q)
        return n * Swift.min(factor * (q * (1 - q)) * tilt, cap)
    }

    /// Whether a centroid of `weight` starting after `left` values satisfies the size bound.
    /// Single values always do.
    @inline(__always)
    func accepts(weight: Int, left: Int) -> Bool {
        weight == 1 || Double(weight) <= Swift.min(limit(at: left), limit(at: left + weight))
    }
}

/// The merge pass: turns a sorted sequence of items into centroids.
internal enum Packer {
    /// Reduction of the effective compression per size-budget level.
    static let levelFactor: Double = 0.9

    /// The largest size-budget level. At this level (δ · 0.9⁶⁴ ≈ 0.001 · δ, under 12) centroid
    /// sizes grow geometrically from both ends, so a digest has a few dozen centroids at most,
    /// far below the budget, whatever the values.
    static let maximumLevel: UInt8 = 64

    /// The compression used at a size-budget level: `compression · 0.9^level`, computed by
    /// repeated multiplication so it is the same on every platform.
    static func effectiveCompression(_ compression: Double, level: UInt8) -> Double {
        var c = compression
        for _ in 0..<level { c *= levelFactor }
        return c
    }

    /// Packs sorted `items` holding `count` values in total, within the size budget.
    ///
    /// - In exact mode (`count ≤ exactCapacity`) equal values are combined; nothing is lost.
    ///   (Exact mode always fits the budget: at most 200 centroids of at most 10 bytes.)
    /// - Otherwise the items are packed at the full compression; if the result would
    ///   serialize to more than ``TDigest/maximumSerializedSize`` bytes, they are packed again
    ///   at 0.9× the compression, and so on (the level is recorded in the digest).
    ///   The search starts at `startLevel`, the coarsest level among the inputs: centroids
    ///   packed at a coarser level cannot be split, so packing finer would leave them above
    ///   the finer bound next to small new centroids (measured: less accurate than staying at
    ///   the coarser level). A digest's level therefore never decreases.
    ///
    /// - Returns: The centroids and the size-budget level used.
    static func pack(
        _ items: [PackItem], count: Int, compression: Double, minimum: Double, maximum: Double,
        startLevel: UInt8
    ) -> (centroids: [TDigest.Centroid], level: UInt8) {
        if count <= TDigest.exactCapacity {
            var out: [TDigest.Centroid] = []
            out.reserveCapacity(items.count)
            for item in items {
                if let last = out.last, last.mean == item.mean {
                    out[out.count - 1] = TDigest.Centroid(mean: last.mean, weight: last.weight + item.weight)
                } else {
                    out.append(TDigest.Centroid(mean: item.mean, weight: item.weight))
                }
            }
            return (out, 0)
        }
        var level = Swift.min(startLevel, maximumLevel)
        while true {
            let scale = K2Scale(compression: effectiveCompression(compression, level: level), count: count)
            let centroids = packSketch(items, scale: scale, minimum: minimum, maximum: maximum)
            if level == maximumLevel
                || TDigest.encodedSize(centroids: centroids, count: count, minimum: minimum)
                    <= TDigest.maximumSerializedSize
            {
                return (centroids, level)
            }
            level += 1
        }
    }

    /// One greedy merge pass in sketch mode.
    ///
    /// Neighbouring items are combined while the size bound holds. Splittable items (exact
    /// point masses) are split when only part of them fits. Centroids that combine distinct
    /// values get their mean rounded to 24 significant bits when that keeps the means sorted
    /// and within `[minimum, maximum]`; centroids of one repeated value keep it exactly.
    static func packSketch(
        _ items: [PackItem], scale: K2Scale, minimum: Double, maximum: Double
    ) -> [TDigest.Centroid] {
        var out: [TDigest.Centroid] = []
        out.reserveCapacity(Swift.min(items.count, 512))  // 2 KB hold ≤ ~500 centroids

        var done = 0  // weight of the centroids already emitted
        var curMean = 0.0
        var curWeight = 0
        var curPure = true  // all values of the current centroid are equal
        var limitLeft = 0.0  // size limit at the current centroid's left edge
        var lowerBound = minimum  // the previous centroid's mean

        /// Largest `a` in `0...maxA` such that the current centroid plus `a` values fits.
        func largestFitting(_ maxA: Int) -> Int {
            var lo = 0
            var hi = maxA
            while lo < hi {
                let mid = lo + (hi - lo + 1) / 2
                let w = curWeight + mid
                if Double(w) <= Swift.min(limitLeft, scale.limit(at: done + w)) {
                    lo = mid
                } else {
                    hi = mid - 1
                }
            }
            return lo
        }

        func absorb(_ x: Double, _ w: Int) {
            let newWeight = curWeight + w
            if x != curMean {
                curPure = false
                curMean = weightedMean(curMean, x, fraction: Double(w) / Double(newWeight))
            }
            curWeight = newWeight
        }

        func emit(upperBound: Double) {
            var mean = Swift.min(Swift.max(curMean, lowerBound), upperBound)
            if !curPure {
                let rounded = roundTo24Bits(mean)
                if rounded >= lowerBound && rounded <= upperBound { mean = rounded }
            }
            mean += 0.0  // never store -0.0
            out.append(TDigest.Centroid(mean: mean, weight: curWeight))
            lowerBound = mean
            done += curWeight
            curWeight = 0
        }

        for item in items {
            var remaining = item.weight
            while remaining > 0 {
                if curWeight == 0 {
                    limitLeft = scale.limit(at: done)
                    var take = remaining
                    if item.splittable && remaining > 1 {
                        take = Swift.max(1, largestFitting(remaining))
                    }
                    curMean = item.mean
                    curWeight = take
                    curPure = true
                    remaining -= take
                    continue
                }
                let proposed = curWeight + remaining
                if Double(proposed) <= Swift.min(limitLeft, scale.limit(at: done + proposed)) {
                    absorb(item.mean, remaining)
                    remaining = 0
                } else {
                    if item.splittable && remaining > 1 {
                        let part = largestFitting(remaining - 1)
                        if part > 0 {
                            absorb(item.mean, part)
                            remaining -= part
                        }
                    }
                    emit(upperBound: Swift.min(item.mean, maximum))
                }
            }
        }
        if curWeight > 0 { emit(upperBound: maximum) }
        return out
    }

    /// `a + (b − a)·f`, computed without intermediate overflow and kept within `[a, b]`
    /// (requires `a ≤ b`).
    @inline(__always)
    static func weightedMean(_ a: Double, _ b: Double, fraction f: Double) -> Double {
        let d = b - a
        let m = d.isFinite ? a + d * f : a * (1 - f) + b * f
        return Swift.min(Swift.max(m, a), b)
    }
}

/// Rounds `x` to the nearest `Double` with at most 24 significant bits (Float32 precision, but
/// with the full `Double` exponent range), ties to even. Returns `x` if rounding would
/// overflow.
@inline(__always)
internal func roundTo24Bits(_ x: Double) -> Double {
    let bits = x.bitPattern
    let low = bits & meanRoundingMask
    if low == 0 { return x }
    let half: UInt64 = 1 << (meanRoundingShift - 1)
    let odd = (bits >> meanRoundingShift) & 1
    let rounded = (bits &+ (half - 1) &+ odd) & ~meanRoundingMask
    let result = Double(bitPattern: rounded)
    return result.isFinite ? result : x
}

/// Number of low significand bits cleared by ``roundTo24Bits(_:)``: 52 − 23.
internal let meanRoundingShift: UInt64 = 29
/// Mask of the bits cleared by ``roundTo24Bits(_:)``.
internal let meanRoundingMask: UInt64 = (1 << 29) - 1

/// Whether `x` has at most 24 significant bits (its low 29 significand bits are zero).
@inline(__always)
internal func hasAtMost24Bits(_ x: Double) -> Bool {
    x.bitPattern & meanRoundingMask == 0
}

/// Math functions built from IEEE-754 basic operations only, so results are bit-for-bit the
/// same on every platform (the C library's `log` may differ in the last place between systems,
/// which would change where centroids are split and so the serialized bytes).
internal enum DeterministicMath {
    /// Natural logarithm of a positive finite `x`, accurate to about 1 ulp.
    static func log(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite, "log of a non-positive or non-finite value")
        var e = Double(x.exponent)
        var m = x.significand  // in [1, 2), exact
        if m > 1.4142135623730951 {
            m *= 0.5
            e += 1
        }
        // ln(m) = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716.
        let s = (m - 1) / (m + 1)
        let s2 = s * s
        var term = s
        var sum = 0.0
        var k = 1.0
        for _ in 0..<20 {
            sum += term / k
            term *= s2
            k += 2
        }
        return 2 * sum + e * 0.6931471805599453
    }
}


