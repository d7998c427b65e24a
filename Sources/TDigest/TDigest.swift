/// A merging t-digest (Dunning & Ertl, "Computing Extremely Accurate Quantiles Using t-Digests")
/// that summarizes a stream of `Double` values in at most 2 KB and answers quantile and CDF
/// queries with small *rank* error, most accurately in the upper tail (p90 … p99.9).
///
/// How it works (details and measurements in `schema/tdigest.md`):
/// - Values are appended to a buffer (`5 × compression` entries). When the buffer is full it is
///   sorted and merged with the existing centroids in one linear pass (``flush()``).
/// - While the digest holds at most ``exactCapacity`` values it is in **exact mode**: every
///   distinct value is kept exactly with its multiplicity, so quantiles and CDF are exact.
/// - Above that it is in **sketch mode**: the merge pass packs neighbouring values into
///   centroids whose weight is bounded by a k2 scale function (`weight ≤ n·f(q)` at both
///   edges, `f(q) ∝ q(1 − q)`, normalized by `Z(n) = 4 ln(n/δ) + 24`), tilted so the upper tail
///   gets 4× smaller centroids and capped in the middle. Single values stay exact.
/// - If a merge pass would serialize to more than ``maximumSerializedSize`` bytes it is redone
///   at a lower effective compression (``effectiveCompression``).
/// - The total count is an exact integer; the minimum, the maximum and every single-value
///   centroid are exact `Double`s; the sum is a `Double` accumulated in insertion order.
///
/// Everything is deterministic: the same values added in the same order (and the same
/// ``flush()`` calls) give the same digest and byte-identical ``serialized()`` output, on every
/// IEEE-754 platform. ``merged(_:compression:)`` is additionally independent of the order of its
/// inputs.
///
/// Equality (`==`) compares the digests as if both were flushed: two digests are equal when
/// they have the same compression, count, minimum, maximum, sum (bit for bit) and centroids.
public struct TDigest: Sendable {
    // MARK: Tunables

    /// The compression (δ) used when none is given: 500.
    ///
    /// The nominal resolution: with the 2 KB size budget it is the effective compression up to
    /// a few thousand values, after which the budget lowers it gradually (to about 300–400).
    /// See `schema/tdigest.md` for the accuracy and size measurements behind the choice.
    public static let defaultCompression: Double = 500

    /// The smallest compression accepted by ``init(compression:)`` and by the decoder.
    public static let minimumCompression: Double = 20

    /// The largest compression accepted by ``init(compression:)`` and by the decoder.
    public static let maximumCompression: Double = 10_000

    /// The largest number of values (total weight) for which the digest stays in exact mode and
    /// keeps every value exactly: 200.
    public static let exactCapacity: Int = 200

    /// The largest size of ``serialized()`` output: 2048 bytes, whatever the count and the
    /// values. When a merge pass would produce a larger digest it is redone with a lower
    /// effective compression (see ``effectiveCompression``). Exact-mode digests take at most
    /// 2040 bytes (200 values of at most 10 bytes, plus the header).
    public static let maximumSerializedSize: Int = 2048

    /// The largest total weight a digest may hold: 2⁵³, the largest range in which every
    /// integer is exactly representable as a `Double` (rank arithmetic stays exact).
    public static let maximumCount: Int = 1 << 53

    // MARK: Stored state

    /// The compression parameter δ of this digest. Larger values keep more centroids.
    public let compression: Double

    /// Centroids sorted by mean. Excludes the buffers.
    @usableFromInline internal var storage: [Centroid] = []

    /// Values added with weight 1 since the last flush.
    @usableFromInline internal var buffer: [Double] = []

    /// Values added with a weight above 1 since the last flush.
    @usableFromInline internal var weightedBuffer: [Centroid] = []

    /// Total weight in ``buffer`` and ``weightedBuffer``.
    @usableFromInline internal var bufferedWeight: Int = 0

    /// Total weight (centroids + buffer).
    @usableFromInline internal var totalWeight: Int = 0

    /// Exact minimum, `+infinity` when empty.
    @usableFromInline internal var minimum: Double = .infinity

    /// Exact maximum, `-infinity` when empty.
    @usableFromInline internal var maximum: Double = -.infinity

    /// Sum of `value × weight`, in insertion order.
    @usableFromInline internal var total: Double = 0

    /// Size-budget level: centroids were packed at compression `compression · 0.9^level` so the
    /// digest fits ``maximumSerializedSize``. Never decreases (see `Packer.pack`).
    @usableFromInline internal var level: UInt8 = 0

    /// Number of buffered entries that triggers a flush.
    @usableFromInline internal let bufferCapacity: Int

    // MARK: Creating

    /// Creates an empty digest.
    ///
    /// - Parameter compression: The compression δ, between ``minimumCompression`` and
    ///   ``maximumCompression``. Larger values are more accurate and larger. The default,
    ///   ``defaultCompression``, keeps serialized digests under 2 KB.
    /// - Precondition: `compression` is finite and within the accepted range.
    public init(compression: Double = TDigest.defaultCompression) {
        precondition(
            compression.isFinite && compression >= Self.minimumCompression
                && compression <= Self.maximumCompression,
            "TDigest compression must be within \(Self.minimumCompression)...\(Self.maximumCompression), got \(compression)"
        )
        self.compression = compression
        self.bufferCapacity = Int((5 * compression).rounded(.up))
    }

    /// Creates a digest holding `values`, each with weight 1 (non-finite values are skipped).
    ///
    /// - Parameters:
    ///   - values: The values to add, in order.
    ///   - compression: The compression δ; see ``init(compression:)``.
    public init(_ values: some Sequence<Double>, compression: Double = TDigest.defaultCompression) {
        self.init(compression: compression)
        add(contentsOf: values)
    }

    /// Creates an exact-mode digest from distinct finite values in increasing order with their
    /// weights (at most ``exactCapacity`` in all): the same digest as adding them in this order
    /// and flushing, without the sort. Decoders of stored exact digests use it.
    ///
    /// - Returns: `nil` when the values are not strictly increasing and finite, a weight is
    ///   below 1, or the total weight is 0 or above ``exactCapacity``.
    public init?(exactSorted points: [(value: Double, weight: Int)], compression: Double = TDigest.defaultCompression) {
        self.init(compression: compression)
        var previous = -Double.infinity
        var weight = 0
        var sum = 0.0
        var centroids: [Centroid] = []
        centroids.reserveCapacity(points.count)
        for p in points {
            guard p.value.isFinite, p.value > previous, p.weight >= 1, weight <= Self.exactCapacity - p.weight else { return nil }
            let value = p.value + 0.0
            previous = value
            weight += p.weight
            sum += p.weight == 1 ? value : value * Double(p.weight)
            centroids.append(Centroid(mean: value, weight: p.weight))
        }
        guard weight >= 1 else { return nil }
        storage = centroids
        totalWeight = weight
        total = sum
        minimum = centroids[0].mean
        maximum = centroids[centroids.count - 1].mean
    }

    // MARK: Properties

    /// The exact number of values added (the sum of all weights).
    public var count: Int { totalWeight }

    /// Whether no value has been added.
    public var isEmpty: Bool { totalWeight == 0 }

    /// The exact smallest value added, or `nil` when the digest is empty.
    public var min: Double? { totalWeight == 0 ? nil : minimum }

    /// The exact largest value added, or `nil` when the digest is empty.
    public var max: Double? { totalWeight == 0 ? nil : maximum }

    /// The sum of all values added (each multiplied by its weight), accumulated as a `Double`
    /// in insertion order; `0` when empty. May overflow to infinity for huge values.
    public var sum: Double { total }

    /// The mean of all values added (`sum / count`), or `nil` when empty.
    public var mean: Double? { totalWeight == 0 ? nil : total / Double(totalWeight) }

    /// The compression the merge passes actually use: ``compression``, or less once the digest
    /// had to be packed more coarsely to fit ``maximumSerializedSize`` (from a few thousand
    /// values on, or earlier for values whose bit patterns do not delta-encode well). It only
    /// ever decreases, by factors of 0.9.
    public var effectiveCompression: Double {
        Packer.effectiveCompression(compression, level: flushedIfNeeded().level)
    }

    /// Whether the digest is in exact mode: it holds at most ``exactCapacity`` values and keeps
    /// every one of them exactly, so quantiles and CDF values are exact.
    public var isExact: Bool { totalWeight <= Self.exactCapacity }

    /// The centroids of the digest after merging the buffer, sorted by mean.
    ///
    /// In exact mode each centroid is one distinct value with its multiplicity.
    public var centroids: [Centroid] {
        if !hasBuffered { return storage }
        var copy = self
        copy.flush()
        return copy.storage
    }

    // MARK: Adding

    /// Adds a value with a weight (the number of times it occurred).
    ///
    /// The value is buffered; the buffer is merged into the centroids when it holds
    /// `5 × compression` entries, so adds cost about 0.1 µs amortized.
    ///
    /// - Parameters:
    ///   - x: The value. NaN and infinities are rejected. `-0.0` is recorded as `0.0`.
    ///   - weight: How many times `x` occurred; must be ≥ 1 (smaller weights are rejected).
    /// - Returns: `false` if the value was rejected (non-finite value or weight < 1), `true`
    ///   otherwise.
    /// - Precondition: the total count stays ≤ ``maximumCount``.
    @inlinable
    @discardableResult
    public mutating func add(_ x: Double, weight: Int = 1) -> Bool {
        guard x.isFinite, weight >= 1 else { return false }
        let value = x + 0.0  // canonicalizes -0.0 to +0.0
        precondition(weight <= Self.maximumCount - totalWeight, "TDigest count would exceed 2^53")
        totalWeight += weight
        bufferedWeight += weight
        if value < minimum { minimum = value }
        if value > maximum { maximum = value }
        if weight == 1 {
            total += value
            buffer.append(value)
        } else {
            total += value * Double(weight)
            weightedBuffer.append(Centroid(mean: value, weight: weight))
        }
        if buffer.count + weightedBuffer.count >= bufferCapacity { flush() }
        return true
    }

    /// Adds every value of `values` with weight 1; non-finite values are skipped.
    ///
    /// - Parameter values: The values, in order.
    @inlinable
    public mutating func add(contentsOf values: some Sequence<Double>) {
        for x in values { add(x) }
    }

    /// Merges the buffered values into the centroids (one sort and one linear pass).
    ///
    /// Queries on a digest with buffered values work on a flushed copy; call this first when
    /// running many queries. Flushing never changes ``count``, ``min``, ``max`` or ``sum``.
    public mutating func flush() {
        guard hasBuffered else { return }
        let centroidWeight = totalWeight - bufferedWeight
        let oldAreExact = centroidWeight <= Self.exactCapacity
        var items: [PackItem] = []
        items.reserveCapacity(storage.count + buffer.count + weightedBuffer.count)
        if weightedBuffer.isEmpty {
            // Common case: merge the sorted centroids with the sorted unit values.
            RadixSort.sort(&buffer)
            var i = 0
            var j = 0
            while i < storage.count || j < buffer.count {
                if j < buffer.count {
                    let value = PackItem(mean: buffer[j], weight: 1, splittable: true)
                    if i == storage.count || PackItem.precedes(value, PackItem(storage[i], splittable: oldAreExact)) {
                        items.append(value)
                        j += 1
                        continue
                    }
                }
                items.append(PackItem(storage[i], splittable: oldAreExact))
                i += 1
            }
        } else {
            for c in storage { items.append(PackItem(c, splittable: oldAreExact)) }
            for x in buffer { items.append(PackItem(mean: x, weight: 1, splittable: true)) }
            for c in weightedBuffer { items.append(PackItem(c, splittable: true)) }
            items.sort(by: PackItem.precedes)
        }
        (storage, level) = Packer.pack(
            items, count: totalWeight, compression: compression, minimum: minimum, maximum: maximum,
            startLevel: level)
        buffer.removeAll()
        weightedBuffer.removeAll()
        bufferedWeight = 0
    }

    // MARK: Merging

    /// Merges `other` into this digest, keeping this digest's compression.
    ///
    /// All centroids of both digests (and their buffers) are sorted together and compressed in
    /// one pass. To combine many digests (for example 24 hourly digests into a daily one), use
    /// ``merged(_:compression:)``, which is more accurate than merging them one by one.
    ///
    /// - Parameter other: The digest to merge. Its compression may differ.
    public mutating func merge(_ other: TDigest) {
        guard other.totalWeight > 0 else { return }
        self = Self.merged([self, other], compression: compression)
    }

    /// Merges many digests in a single sort-and-compress pass.
    ///
    /// Merging all centroids at once (rather than pairwise) keeps the result about as accurate
    /// as a digest built from all the values directly when the inputs are smaller than the
    /// result (such as 24 hourly digests merged into a daily one): their centroids are then
    /// smaller than the result's size bound allows, and error does not compound over 23
    /// successive merges. The result does not depend on the order of `digests` (when
    /// `compression` is given or all digests have the same compression).
    ///
    /// - Parameters:
    ///   - digests: The digests to merge; their compressions may differ.
    ///   - compression: The result's compression; by default the first digest's compression
    ///     (or ``defaultCompression`` when `digests` is empty).
    /// - Returns: A flushed digest holding all the values of `digests`.
    /// - Precondition: the total count is ≤ ``maximumCount``.
    public static func merged(_ digests: some Sequence<TDigest>, compression: Double? = nil) -> TDigest {
        var result: TDigest?
        var runs: [[PackItem]] = []
        var sums: [Double] = []
        var count = 0
        var lo = Double.infinity
        var hi = -Double.infinity
        var startLevel: UInt8 = 0
        for digest in digests {
            if result == nil { result = TDigest(compression: compression ?? digest.compression) }
            guard digest.totalWeight > 0 else { continue }
            let (newCount, overflow) = count.addingReportingOverflow(digest.totalWeight)
            precondition(!overflow && newCount <= maximumCount, "TDigest count would exceed 2^53")
            count = newCount
            lo = Swift.min(lo, digest.minimum)
            hi = Swift.max(hi, digest.maximum)
            sums.append(digest.total)
            startLevel = Swift.max(startLevel, digest.level)
            let exact = digest.totalWeight - digest.bufferedWeight <= exactCapacity
            var run: [PackItem] = []
            run.reserveCapacity(digest.storage.count + digest.buffer.count + digest.weightedBuffer.count)
            for c in digest.storage { run.append(PackItem(c, splittable: exact)) }
            for x in digest.buffer { run.append(PackItem(mean: x, weight: 1, splittable: true)) }
            for c in digest.weightedBuffer { run.append(PackItem(c, splittable: true)) }
            // Centroids are sorted by mean already; only buffers (or equal means) need a sort.
            if !zip(run, run.dropFirst()).allSatisfy({ !PackItem.precedes($1, $0) }) { run.sort(by: PackItem.precedes) }
            runs.append(run)
        }
        var digest = result ?? TDigest(compression: compression ?? defaultCompression)
        guard count > 0 else { return digest }
        // A k-way merge of the sorted runs (pairwise, log k passes) instead of sorting them all:
        // `precedes` is a total order on the items' contents, so the result equals the full sort.
        let items = Self.mergeRuns(runs)
        // Sum in a canonical order so the result is independent of the input order.
        sums.sort { orderedKey($0) < orderedKey($1) }
        digest.total = sums.reduce(0, +)
        digest.totalWeight = count
        digest.minimum = lo
        digest.maximum = hi
        (digest.storage, digest.level) = Packer.pack(
            items, count: count, compression: digest.compression, minimum: lo, maximum: hi,
            startLevel: startLevel)
        return digest
    }

    /// Merges runs sorted by ``PackItem/precedes`` into one sorted array.
    static func mergeRuns(_ input: [[PackItem]]) -> [PackItem] {
        var runs = input.filter { !$0.isEmpty }
        guard !runs.isEmpty else { return [] }
        while runs.count > 1 {
            var next: [[PackItem]] = []
            next.reserveCapacity((runs.count + 1) / 2)
            var r = 0
            while r + 1 < runs.count {
                let a = runs[r], b = runs[r + 1]
                var out: [PackItem] = []
                out.reserveCapacity(a.count + b.count)
                var i = 0, j = 0
                while i < a.count && j < b.count {
                    if PackItem.precedes(b[j], a[i]) {
                        out.append(b[j])
                        j += 1
                    } else {
                        out.append(a[i])
                        i += 1
                    }
                }
                out.append(contentsOf: a[i...])
                out.append(contentsOf: b[j...])
                next.append(out)
                r += 2
            }
            if r < runs.count { next.append(runs[r]) }
            runs = next
        }
        return runs[0]
    }

    /// The digest with `other` merged in; see ``merge(_:)``.
    ///
    /// - Parameter other: The digest to merge.
    /// - Returns: The merged digest, with this digest's compression.
    public func merging(_ other: TDigest) -> TDigest {
        var copy = self
        copy.merge(other)
        return copy
    }

    /// Whether values are waiting in the buffers.
    @usableFromInline
    internal var hasBuffered: Bool { !buffer.isEmpty || !weightedBuffer.isEmpty }
}

// MARK: - Centroid

extension TDigest {
    /// A group of neighbouring values summarized by their mean and their number.
    public struct Centroid: Sendable, Hashable {
        /// The mean of the values in the centroid. Exact for single values; for centroids of
        /// several distinct values it is rounded to 24 significant bits (Float32 precision).
        public let mean: Double
        /// The number of values in the centroid (≥ 1).
        public let weight: Int

        @usableFromInline
        internal init(mean: Double, weight: Int) {
            self.mean = mean
            self.weight = weight
        }
    }
}

// MARK: - Equatable, description

extension TDigest: Equatable {
    /// Whether two digests hold the same summary: same compression, count, minimum, maximum,
    /// sum (bit for bit) and centroids, comparing both as if flushed.
    public static func == (lhs: TDigest, rhs: TDigest) -> Bool {
        guard lhs.compression == rhs.compression, lhs.totalWeight == rhs.totalWeight,
            lhs.total.bitPattern == rhs.total.bitPattern
        else { return false }
        guard lhs.totalWeight > 0 else { return true }
        guard lhs.minimum == rhs.minimum, lhs.maximum == rhs.maximum else { return false }
        let l = lhs.flushedIfNeeded()
        let r = rhs.flushedIfNeeded()
        return l.level == r.level && l.storage == r.storage
    }
}

extension TDigest: CustomStringConvertible {
    /// A short summary: count, centroid count, min, max and compression.
    public var description: String {
        guard let min, let max else { return "TDigest(empty, compression: \(compression))" }
        return "TDigest(count: \(count), centroids: \(centroids.count), min: \(min), max: \(max), "
            + "compression: \(compression)\(isExact ? ", exact" : ""))"
    }
}

/// Order-preserving map from finite `Double`s to `UInt64` (`x < y ⇔ key(x) < key(y)`, with
/// `-0.0 < +0.0`).
@inlinable
internal func orderedKey(_ x: Double) -> UInt64 {
    let bits = x.bitPattern
    return bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
}

/// Inverse of ``orderedKey(_:)``.
@inlinable
internal func doubleFromOrderedKey(_ key: UInt64) -> Double {
    Double(bitPattern: key & (1 << 63) != 0 ? key & ~(1 << 63) : ~key)
}
