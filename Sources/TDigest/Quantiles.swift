// Quantile and CDF estimation.
//
// Both are read off one piecewise-linear function P that maps a rank position t ∈ [0, n] to a
// value, t counting values from the bottom. P runs through "anchors" (t, value):
//
// - A value known exactly (a single-value centroid, or in exact mode a value with its
//   multiplicity w) occupies the rank interval [L, L + w] (L = weight before it): P is flat
//   there, equal to the value. Between two such neighbours P jumps at the shared boundary.
// - A centroid of several distinct values (sketch mode) is one anchor at its centre L + w/2.
// - In sketch mode (0, min) and (n, max) are anchors too.
//
// quantile(q) = P(q·n), taking the middle of the jump where P jumps exactly at q·n.
// In exact mode this is the inverse of the empirical CDF, averaged at its discontinuities
// (type 2 in Hyndman & Fan): x₍⌈qn⌉₎, or (x₍qn₎ + x₍qn+1₎)/2 when q·n is an integer. So
// the result is always a data value or the midpoint of two neighbours, which is what makes
// the rank error zero there.
// cdf(x) = t/n where P(t) = x; where P equals x over a range of t (a value occurring w times
// spans [L, L + w]) the middle of that range is used: cdf(x) = (#values < x + ½ #values = x)/n
// at data values, and the empirical CDF #values ≤ x / n between them (exact mode).

extension TDigest {
    /// One point of the piecewise-linear quantile function.
    struct Anchor {
        /// Rank position, in values from the bottom.
        var t: Double
        /// Value at that rank.
        var value: Double
    }

    /// The anchors of the quantile function, by non-decreasing `t` and `value`. Requires a
    /// flushed, non-empty digest.
    func anchors() -> [Anchor] {
        var result: [Anchor] = []
        result.reserveCapacity(storage.count * 2 + 2)
        let exact = isExact
        if !exact { result.append(Anchor(t: 0, value: minimum)) }
        var left = 0
        for c in storage {
            if exact || c.weight == 1 {
                result.append(Anchor(t: Double(left), value: c.mean))
                result.append(Anchor(t: Double(left + c.weight), value: c.mean))
            } else {
                result.append(Anchor(t: Double(left) + Double(c.weight) * 0.5, value: c.mean))
            }
            left += c.weight
        }
        if !exact { result.append(Anchor(t: Double(totalWeight), value: maximum)) }
        return result
    }

    /// The estimated value at quantile `q`.
    ///
    /// Definition: with `n` values, the i-th smallest value (1-based) occupies the rank
    /// interval `[i − 1, i]` and `quantile(q)` is the value at rank position `t = q·n`; where
    /// `t` falls exactly between two values, their midpoint. So in exact mode:
    /// - `quantile(q)` is the ⌈q·n⌉-th smallest value, or the mean of the (q·n)-th and
    ///   (q·n + 1)-th when `q·n` is an integer (the inverse empirical CDF, Hyndman & Fan type 2);
    /// - `n = 1`: every `q` gives the value;
    /// - `n = 2` (values a ≤ b): `q < 0.5` → a, `q > 0.5` → b, `q = 0.5` → (a + b)/2;
    /// - `quantile(0)` is the exact minimum and `quantile(1)` the exact maximum.
    ///
    /// In sketch mode single-value centroids are exact steps exactly as above, and a centroid
    /// of several values is placed at the centre of its rank interval, with linear
    /// interpolation between neighbouring centres (and from min / to max at the ends).
    ///
    /// The result is always within `[min, max]` and is non-decreasing in `q`.
    ///
    /// - Parameter q: The quantile, in `0...1`.
    /// - Returns: The estimate, or `nil` if the digest is empty or `q` is not in `0...1`.
    public func quantile(_ q: Double) -> Double? {
        guard totalWeight > 0, q >= 0, q <= 1 else { return nil }
        let digest = flushedIfNeeded()
        return digest.quantile(q, anchors: digest.anchors())
    }

    /// Estimates several quantiles, flushing and preparing the digest only once.
    ///
    /// - Parameter qs: The quantiles, each in `0...1`.
    /// - Returns: One estimate per element of `qs`, or `nil` if the digest is empty or any `q`
    ///   is outside `0...1`.
    public func quantiles(_ qs: some Collection<Double>) -> [Double]? {
        guard totalWeight > 0, qs.allSatisfy({ $0 >= 0 && $0 <= 1 }) else { return nil }
        let digest = flushedIfNeeded()
        let anchors = digest.anchors()
        return qs.map { digest.quantile($0, anchors: anchors) }
    }

    /// The estimated fraction of values below `x`, counting values equal to `x` by half.
    ///
    /// - `x < min` → 0, `x > max` → 1; a digest holding one value `v`: `cdf(v) = 0.5`.
    /// - Exact mode: at a data value `v`, `(#values < v + ½ · #values = v) / n`; between data
    ///   values, the fraction of values ≤ `x` (the empirical CDF).
    /// - Sketch mode: the inverse of the interpolated quantile function (exact single values
    ///   behave as in exact mode).
    ///
    /// - Parameter x: The value.
    /// - Returns: A fraction in `0...1`, or `nil` if the digest is empty or `x` is NaN.
    public func cdf(_ x: Double) -> Double? {
        guard totalWeight > 0, !x.isNaN else { return nil }
        if x < minimum { return 0 }
        if x > maximum { return 1 }
        let digest = flushedIfNeeded()
        return digest.cdf(x, anchors: digest.anchors())
    }

    // MARK: Internals

    /// Self, or a flushed copy if values are buffered.
    func flushedIfNeeded() -> TDigest {
        if !hasBuffered { return self }
        var copy = self
        copy.flush()
        return copy
    }

    /// `quantile(q)` on a flushed, non-empty digest.
    func quantile(_ q: Double, anchors a: [Anchor]) -> Double {
        let t = q * Double(totalWeight)
        if t <= a[0].t { return minimum }
        if t >= a[a.count - 1].t { return maximum }
        // [first, end) = anchors at exactly t; a[0].t < t < a.last.t.
        let first = partitionPoint(a) { $0.t >= t }
        let v: Double
        if a[first].t == t {
            let end = partitionPoint(a) { $0.t > t }
            v = interpolate(a[first].value, a[end - 1].value, 0.5)
        } else {
            let left = a[first - 1]
            let right = a[first]
            v = interpolate(left.value, right.value, (t - left.t) / (right.t - left.t))
        }
        return Swift.min(Swift.max(v, minimum), maximum)
    }

    /// `cdf(x)` on a flushed, non-empty digest, for `min ≤ x ≤ max`.
    func cdf(_ x: Double, anchors a: [Anchor]) -> Double {
        let n = Double(totalWeight)
        // [first, end) = anchors whose value equals x.
        let first = partitionPoint(a) { $0.value >= x }
        let end = partitionPoint(a) { $0.value > x }
        let t: Double
        if first < end {
            t = (a[first].t + a[end - 1].t) * 0.5
        } else if first == 0 {
            t = 0  // unreachable: a[0].value == min ≤ x
        } else if first == a.count {
            t = n  // unreachable: a.last.value == max ≥ x
        } else {
            let left = a[first - 1]
            let right = a[first]
            let span = right.value - left.value
            var f = span.isFinite
                ? (x - left.value) / span
                : (x * 0.5 - left.value * 0.5) / (right.value * 0.5 - left.value * 0.5)
            f = Swift.min(Swift.max(f, 0), 1)
            t = left.t + (right.t - left.t) * f
        }
        return Swift.min(Swift.max(t / n, 0), 1)
    }

    /// Index of the first anchor satisfying `predicate` (which must be monotone: false…true).
    private func partitionPoint(_ a: [Anchor], _ predicate: (Anchor) -> Bool) -> Int {
        var lo = 0
        var hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if predicate(a[mid]) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// Linear interpolation from `a` (f = 0) to `b` (f = 1), exact when `a == b`, without
    /// intermediate overflow, and kept within `[a, b]`.
    private func interpolate(_ a: Double, _ b: Double, _ f: Double) -> Double {
        if a == b { return a }
        return Packer.weightedMean(a, b, fraction: Swift.min(Swift.max(f, 0), 1))
    }
}
