// Binary format, version 1 (all multi-byte fixed-width fields little-endian; "varint" is
// unsigned LEB128, 7 bits per byte, least significant group first, minimal length):
//
//   format version   u8        = 1
//   scale function   u8        = 2 (tilted, capped, normalized k2; see K2Scale)
//   compression      f64
//   level            u8        size-budget level: centroids were packed at compression·0.9^level
//   count            varint    exact number of values; the digest ends here when 0
//   min              f64       exact
//   max              f64       exact
//   sum              f64
//   centroid count   varint    k, 1 ≤ k ≤ count
//   k × centroid:
//     weight·2 + c   varint    c = 1 when the mean has at most 24 significant bits
//     mean delta     varint    distance from the previous mean (the first: from min), as the
//                              difference of order-preserving 64-bit keys, or of those keys
//                              shifted right by 29 bits when both means have c = 1.
//
// See schema/tdigest.md for the full description and the rationale.

extension TDigest {
    /// The current serialization format version, written as the first byte.
    public static let formatVersion: UInt8 = 1

    /// The identifier of the scale function (normalized k2), written as the second byte.
    public static let scaleFunctionIdentifier: UInt8 = K2Scale.identifier

    /// Why bytes could not be decoded as a digest.
    public enum SerializationError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The input ended before the digest did.
        case truncated
        /// The first byte names a format version this code does not read.
        case unsupportedFormatVersion(UInt8)
        /// The second byte names a scale function this code does not implement.
        case unsupportedScaleFunction(UInt8)
        /// The compression is not finite or outside
        /// ``TDigest/minimumCompression``...``TDigest/maximumCompression``.
        case invalidCompression(Double)
        /// The count exceeds ``TDigest/maximumCount``.
        case countTooLarge(UInt64)
        /// The content is inconsistent; the reason says how.
        case malformed(MalformedReason)
        /// Bytes follow the end of the digest.
        case trailingBytes(Int)
        /// The input is longer than any digest (``TDigest/maximumSerializedSize``).
        case tooLarge(Int)

        /// The ways in which a digest's content can be inconsistent.
        public enum MalformedReason: String, Sendable {
            /// A varint is longer than needed or does not fit in 64 bits.
            case invalidVarint = "invalid or non-minimal varint"
            /// min or max is NaN or infinite.
            case nonFiniteBound = "min or max is not finite"
            /// min is greater than max.
            case minAboveMax = "min is greater than max"
            /// A value is stored as -0.0, which this format never writes.
            case negativeZero = "value stored as -0.0"
            /// The centroid count is 0, above the count, or above what the input can hold.
            case invalidCentroidCount = "centroid count out of range"
            /// A centroid has weight 0.
            case zeroWeight = "centroid with weight 0"
            /// The centroid weights do not add up to the count.
            case weightSumMismatch = "centroid weights do not add up to the count"
            /// A mean is not finite, or beyond max.
            case meanOutOfRange = "centroid mean out of range"
            /// A mean is encoded in a form this format never writes.
            case nonCanonicalMean = "non-canonical mean encoding"
            /// The size-budget level is above the maximum, or non-zero in exact mode.
            case invalidLevel = "invalid size-budget level"
            /// An exact-mode digest does not list distinct values from min to max.
            case invalidExactDigest = "exact-mode centroids are not the distinct values from min to max"
        }

        /// A human-readable explanation.
        public var description: String {
            switch self {
            case .truncated: "t-digest bytes are truncated"
            case .unsupportedFormatVersion(let v):
                "unsupported t-digest format version \(v) (this code reads version \(TDigest.formatVersion))"
            case .unsupportedScaleFunction(let s):
                "unsupported t-digest scale function \(s) (this code implements \(TDigest.scaleFunctionIdentifier), k2)"
            case .invalidCompression(let c): "invalid t-digest compression \(c)"
            case .countTooLarge(let n): "t-digest count \(n) exceeds 2^53"
            case .malformed(let reason): "malformed t-digest: \(reason.rawValue)"
            case .trailingBytes(let n): "\(n) unexpected byte(s) after the t-digest"
            case .tooLarge(let n):
                "\(n) bytes is longer than any t-digest (at most \(TDigest.maximumSerializedSize))"
            }
        }
    }

    /// The digest in the compact, versioned binary format (flushing a copy first if values are
    /// buffered).
    ///
    /// The encoding is lossless and canonical: decoding and re-encoding gives the same bytes,
    /// and equal digests give equal bytes. It is at most ``maximumSerializedSize`` (2048)
    /// bytes whatever the count and the values; see `schema/tdigest.md` for the layout.
    ///
    /// - Returns: The encoded bytes.
    public func serialized() -> [UInt8] {
        let digest = flushedIfNeeded()
        var out: [UInt8] = []
        out.reserveCapacity(44 + digest.storage.count * 6)
        out.append(Self.formatVersion)
        out.append(Self.scaleFunctionIdentifier)
        appendFloat64(compression, to: &out)
        out.append(digest.level)
        appendVarint(UInt64(digest.totalWeight), to: &out)
        guard digest.totalWeight > 0 else { return out }
        appendFloat64(digest.minimum, to: &out)
        appendFloat64(digest.maximum, to: &out)
        appendFloat64(digest.total, to: &out)
        appendVarint(UInt64(digest.storage.count), to: &out)
        var previous = digest.minimum
        for c in digest.storage {
            let compact = hasAtMost24Bits(c.mean)
            appendVarint(UInt64(c.weight) << 1 | (compact ? 1 : 0), to: &out)
            let delta: UInt64
            if compact && hasAtMost24Bits(previous) {
                delta = (orderedKey(c.mean) >> meanRoundingShift) &- (orderedKey(previous) >> meanRoundingShift)
            } else {
                delta = orderedKey(c.mean) &- orderedKey(previous)
            }
            appendVarint(delta, to: &out)
            previous = c.mean
        }
        return out
    }

    /// Decodes a digest written by ``serialized()``.
    ///
    /// Every field is validated; anything that ``serialized()`` would not have produced
    /// (another format version or scale function, truncation, trailing bytes, non-minimal
    /// varints, unsorted or out-of-range means, weights not adding up to the count, …) is
    /// rejected with a ``SerializationError``. Arbitrary input never crashes, and memory use is
    /// bounded by the input size.
    ///
    /// - Parameter bytes: The encoded digest.
    /// - Throws: ``SerializationError`` describing the first problem found.
    public init(serialized bytes: some Collection<UInt8>) throws(SerializationError) {
        guard bytes.count <= Self.maximumSerializedSize else { throw .tooLarge(bytes.count) }
        var reader = ByteReader(Array(bytes))
        let version = try reader.byte()
        guard version == Self.formatVersion else { throw .unsupportedFormatVersion(version) }
        let scale = try reader.byte()
        guard scale == Self.scaleFunctionIdentifier else { throw .unsupportedScaleFunction(scale) }
        let compression = try reader.float64()
        guard compression.isFinite, compression >= Self.minimumCompression,
            compression <= Self.maximumCompression
        else { throw .invalidCompression(compression) }
        self.init(compression: compression)
        let level = try reader.byte()
        guard level <= Packer.maximumLevel else { throw .malformed(.invalidLevel) }

        let rawCount = try reader.varint()
        guard rawCount <= UInt64(Self.maximumCount) else { throw .countTooLarge(rawCount) }
        let count = Int(rawCount)
        guard count > Self.exactCapacity || level == 0 else { throw .malformed(.invalidLevel) }
        if count == 0 {
            guard reader.remaining == 0 else { throw .trailingBytes(reader.remaining) }
            return
        }
        let minimum = try reader.float64()
        let maximum = try reader.float64()
        let sum = try reader.float64()
        guard minimum.isFinite, maximum.isFinite else { throw .malformed(.nonFiniteBound) }
        guard minimum <= maximum else { throw .malformed(.minAboveMax) }
        let negativeZero = (-0.0 as Double).bitPattern
        guard minimum.bitPattern != negativeZero, maximum.bitPattern != negativeZero else {
            throw .malformed(.negativeZero)
        }
        let k = try reader.varint()
        // Each centroid takes at least 2 bytes, which bounds the allocation by the input size.
        guard k >= 1, k <= rawCount, k <= UInt64(reader.remaining / 2) else {
            throw .malformed(.invalidCentroidCount)
        }

        let exact = count <= Self.exactCapacity
        var centroids: [Centroid] = []
        centroids.reserveCapacity(Int(k))
        var weightSum = 0
        var previous = minimum
        let maxKey = orderedKey(maximum)
        for _ in 0..<Int(k) {
            let tagged = try reader.varint()
            let weight = tagged >> 1
            let compact = tagged & 1 == 1
            guard weight >= 1 else { throw .malformed(.zeroWeight) }
            guard weight <= UInt64(count - weightSum) else { throw .malformed(.weightSumMismatch) }
            weightSum += Int(weight)
            let delta = try reader.varint()
            let key: UInt64
            if compact && hasAtMost24Bits(previous) {
                let base = orderedKey(previous) >> meanRoundingShift
                let (shifted, overflow) = base.addingReportingOverflow(delta)
                guard !overflow, shifted < (1 << (64 - meanRoundingShift)) else {
                    throw .malformed(.meanOutOfRange)
                }
                // Positive keys have the low bits 0, negative keys (bit-inverted) have them 1.
                key = shifted << meanRoundingShift | (shifted >> (63 - meanRoundingShift) == 0 ? meanRoundingMask : 0)
            } else {
                let (sum, overflow) = orderedKey(previous).addingReportingOverflow(delta)
                guard !overflow else { throw .malformed(.meanOutOfRange) }
                key = sum
            }
            guard key <= maxKey else { throw .malformed(.meanOutOfRange) }
            let mean = doubleFromOrderedKey(key)
            guard mean.isFinite else { throw .malformed(.meanOutOfRange) }
            guard mean.bitPattern != negativeZero else { throw .malformed(.negativeZero) }
            guard hasAtMost24Bits(mean) == compact else { throw .malformed(.nonCanonicalMean) }
            if exact {
                let isFirst = centroids.isEmpty
                guard isFirst ? mean == minimum : mean > previous else {
                    throw .malformed(.invalidExactDigest)
                }
            }
            centroids.append(Centroid(mean: mean, weight: Int(weight)))
            previous = mean
        }
        guard weightSum == count else { throw .malformed(.weightSumMismatch) }
        if exact {
            guard previous == maximum else { throw .malformed(.invalidExactDigest) }
        }
        guard reader.remaining == 0 else { throw .trailingBytes(reader.remaining) }

        self.storage = centroids
        self.totalWeight = count
        self.minimum = minimum
        self.maximum = maximum
        self.total = sum
        self.level = level
    }

    /// The exact length of ``serialized()`` for a flushed digest with these centroids.
    static func encodedSize(centroids: [Centroid], count: Int, minimum: Double) -> Int {
        var size = 11 + varintLength(UInt64(count))
        guard count > 0 else { return size }
        size += 24 + varintLength(UInt64(centroids.count))
        var previous = minimum
        for c in centroids {
            let compact = hasAtMost24Bits(c.mean)
            size += varintLength(UInt64(c.weight) << 1)
            if compact && hasAtMost24Bits(previous) {
                size += varintLength(
                    (orderedKey(c.mean) >> meanRoundingShift) &- (orderedKey(previous) >> meanRoundingShift))
            } else {
                size += varintLength(orderedKey(c.mean) &- orderedKey(previous))
            }
            previous = c.mean
        }
        return size
    }
}

// MARK: - Encoding helpers

private func appendFloat64(_ x: Double, to out: inout [UInt8]) {
    var bits = x.bitPattern
    for _ in 0..<8 {
        out.append(UInt8(truncatingIfNeeded: bits))
        bits >>= 8
    }
}

/// Number of bytes of the LEB128 encoding of `value`.
@inline(__always)
private func varintLength(_ value: UInt64) -> Int {
    // 1 byte per started group of 7 significant bits (at least 1).
    let bits = 64 - (value | 1).leadingZeroBitCount
    return (bits + 6) / 7
}

private func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

/// Bounds-checked reader over the input bytes.
private struct ByteReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    mutating func byte() throws(TDigest.SerializationError) -> UInt8 {
        guard position < bytes.count else { throw .truncated }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func float64() throws(TDigest.SerializationError) -> Double {
        guard remaining >= 8 else { throw .truncated }
        var bits: UInt64 = 0
        for i in 0..<8 { bits |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return Double(bitPattern: bits)
    }

    /// Reads a minimal-length unsigned LEB128 value of at most 64 bits.
    mutating func varint() throws(TDigest.SerializationError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            if shift == 63 && b > 1 { throw .malformed(.invalidVarint) }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                // A final 0 byte (other than a lone 0) means the encoding was not minimal.
                if b == 0 && shift > 0 { throw .malformed(.invalidVarint) }
                return result
            }
            shift += 7
        }
    }
}
