import TDigest

/// The encoding of latency digests inside rollup rows (schema/rollups.md, "Digest encoding").
///
/// Tag byte, then:
/// - `0`: the digest's own versioned format (``TDigest/serialized()``), as is.
/// - `1`: an exact-mode digest of integer values (latencies in ms), which is most hourly slices:
///   varint compression, varint k (distinct values), then per value in increasing order
///   varint `(delta << 1) | (weight > 1)` and, when the flag is set, varint `weight − 2`; the first
///   delta is from 0. About 1–2 bytes per value instead of ~4, and no 35-byte header.
///
/// Decoding a tag-1 digest re-adds its values to an empty digest of that compression, which gives
/// back an equal digest (same values, counts, min, max and, since the values are integers below
/// 2^31, the same sum).
public enum RollupDigestCodec {
    static let canonicalTag: UInt8 = 0
    static let exactIntegerTag: UInt8 = 1
    /// Exact-integer digests only hold values up to this, so every sum is an exact `Double`.
    static let exactIntegerLimit: Double = 2_147_483_648

    /// Encodes a digest (flushing a copy first if it has buffered values).
    public static func encode(_ digest: TDigest) -> [UInt8] {
        var w = BlobWriter(capacity: 16)
        encode(digest, into: &w)
        return w.bytes
    }

    static func encode(_ digest: TDigest, into w: inout BlobWriter) {
        if let compression = integralCompression(digest), digest.isExact, digest.count > 0 {
            let centroids = digest.centroids
            var ok = true
            for c in centroids where !(c.mean >= 0 && c.mean < exactIntegerLimit && c.mean.rounded(.towardZero) == c.mean) {
                ok = false
                break
            }
            if ok {
                w.bytes.append(exactIntegerTag)
                w.uvarint(UInt64(compression))
                w.uvarint(UInt64(centroids.count))
                var previous: UInt64 = 0
                for c in centroids {
                    let v = UInt64(c.mean)
                    let delta = v - previous
                    previous = v
                    if c.weight > 1 {
                        w.uvarint(delta << 1 | 1)
                        w.uvarint(UInt64(c.weight - 2))
                    } else {
                        w.uvarint(delta << 1)
                    }
                }
                return
            }
        }
        w.bytes.append(canonicalTag)
        w.append(digest.serialized())
    }

    static func integralCompression(_ d: TDigest) -> Int? {
        let c = d.compression
        guard c.rounded(.towardZero) == c, c >= 1, c <= 1_000_000 else { return nil }
        return Int(c)
    }

    /// Decodes an encoded digest.
    /// - Throws: ``RollupDecodingError`` when the bytes are not a digest this code wrote.
    public static func decode(_ bytes: [UInt8]) throws -> TDigest {
        var r = BlobReader(bytes)
        return try decode(&r)
    }

    /// A stored digest as a merge input: the point masses of an exact-mode digest, or the digest.
    enum MergeInput {
        case points([PointMass])
        case digest(TDigest)
    }

    /// Decodes a digest for merging, without rebuilding exact-mode digests.
    static func decodeForMerge(_ r: inout BlobReader) throws(RollupDecodingError) -> MergeInput {
        let start = r.position
        guard try r.byte() == exactIntegerTag else {
            r.position = start
            let d = try decode(&r)
            return d.isExact ? .points(d.centroids.map { PointMass(value: $0.mean, weight: $0.weight) }) : .digest(d)
        }
        let compression = Double(try r.uvarint())
        guard compression >= TDigest.minimumCompression, compression <= TDigest.maximumCompression else {
            throw RollupDecodingError("bad latency digest: compression \(compression) out of range")
        }
        let k = try r.uvarint()
        guard k >= 1, k <= UInt64(TDigest.exactCapacity), k <= UInt64(r.remaining) else {
            throw RollupDecodingError("bad latency digest: \(k) values")
        }
        var points: [PointMass] = []
        points.reserveCapacity(Int(k))
        var value: UInt64 = 0
        var count = 0
        for _ in 0..<Int(k) {
            let tagged = try r.uvarint()
            let (v, overflow) = value.addingReportingOverflow(tagged >> 1)
            guard !overflow, Double(v) < exactIntegerLimit, value == 0 && count == 0 || v > value else {
                throw RollupDecodingError("bad latency digest: values out of order")
            }
            value = v
            var weight = 1
            if tagged & 1 == 1 {
                let extra = try r.uvarint()
                guard extra <= UInt64(TDigest.exactCapacity) else { throw RollupDecodingError("bad latency digest: weight") }
                weight = Int(extra) + 2
            }
            count += weight
            guard count <= TDigest.exactCapacity else { throw RollupDecodingError("bad latency digest: too many values") }
            points.append(PointMass(value: Double(v), weight: weight))
        }
        return .points(points)
    }

    static func decode(_ r: inout BlobReader) throws(RollupDecodingError) -> TDigest {
        switch try r.byte() {
        case canonicalTag:
            let rest = try r.raw(r.remaining)
            do {
                return try TDigest(serialized: rest)
            } catch {
                throw RollupDecodingError("bad latency digest: \(error)")
            }
        case exactIntegerTag:
            let compression = Double(try r.uvarint())
            guard compression >= TDigest.minimumCompression, compression <= TDigest.maximumCompression else {
                throw RollupDecodingError("bad latency digest: compression \(compression) out of range")
            }
            let k = try r.uvarint()
            guard k >= 1, k <= UInt64(TDigest.exactCapacity), k <= UInt64(r.remaining) else {
                throw RollupDecodingError("bad latency digest: \(k) values")
            }
            var points: [(value: Double, weight: Int)] = []
            points.reserveCapacity(Int(k))
            var value: UInt64 = 0
            var count = 0
            for _ in 0..<Int(k) {
                let tagged = try r.uvarint()
                let (v, overflow) = value.addingReportingOverflow(tagged >> 1)
                guard !overflow, Double(v) < exactIntegerLimit, value == 0 && count == 0 || v > value else {
                    throw RollupDecodingError("bad latency digest: values out of order")
                }
                value = v
                var weight = 1
                if tagged & 1 == 1 {
                    let extra = try r.uvarint()
                    guard extra <= UInt64(TDigest.exactCapacity) else { throw RollupDecodingError("bad latency digest: weight") }
                    weight = Int(extra) + 2
                }
                count += weight
                guard count <= TDigest.exactCapacity else { throw RollupDecodingError("bad latency digest: too many values") }
                points.append((Double(v), weight))
            }
            // Strictly increasing, bounded values: the same digest as adding them and flushing.
            guard let digest = TDigest(exactSorted: points, compression: compression) else {
                throw RollupDecodingError("bad latency digest: values out of order")
            }
            return digest
        case let tag:
            throw RollupDecodingError("unknown latency digest tag \(tag)")
        }
    }
}
