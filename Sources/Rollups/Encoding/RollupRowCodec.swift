import TDigest
import UsageIndex

/// Converts between ``RollupBucket`` and the stored ``UsageIndex/RollupRow`` (schema/rollups.md).
///
/// `slices` blob, version 1:
/// ```
/// u8      version = 1
/// varint  number of dimension sections
/// per section (dimensions in increasing id order, only those with slices):
///   u8      dimension id (RollupDimension)
///   varint  byte length of the rest of the section (lets a reader skip it)
///   varint  slice count, then the slices in key order:
///     key       model: provider string, model string; others: optional string (varint len+1, 0 = none)
///     varint    requests, errors, cache_hits, unpriced, ttft_count
///     zigzag    input_tokens, output_tokens, cached_tokens, total_tokens,
///               input_cost, output_cost, cached_cost, total_cost (1e-10 USD), latency_sum_ms, ttft_sum_ms
///     varint    digest length, then the digest (RollupDigestCodec)
///     model only, for feature, team, environment: varint n, then n × (optional string, varint requests, zigzag cost)
/// ```
/// Strings are varint length + UTF-8; zigzag values are signed 128-bit LEB128.
public enum RollupRowCodec {
    static let version: UInt8 = 1

    /// Encodes a bucket as a row (`computedAt` in wall-clock ms).
    public static func row(_ b: RollupBucket, computedAt: Int64) -> RollupRow {
        let t = b.total
        return RollupRow(
            orgID: b.orgID, bucketStart: b.bucketStart, requestCount: t.requests, errorCount: t.errors,
            cacheHitCount: t.cacheHits, unpricedCount: t.unpriced, inputTokens: int64(t.inputTokens),
            outputTokens: int64(t.outputTokens), cachedTokens: int64(t.cachedTokens), totalTokens: int64(t.totalTokens),
            inputCost: int64(t.inputCost), outputCost: int64(t.outputCost), cachedCost: int64(t.cachedCost),
            totalCost: int64(t.totalCost), latencySumMs: int64(t.latencySumMs), ttftCount: t.ttftCount,
            ttftSumMs: int64(t.ttftSumMs), latencyDigest: RollupDigestCodec.encode(b.latency),
            slices: encodeSlices(b), computedAt: computedAt)
    }

    @inline(__always)
    static func int64(_ v: Int128) -> Int64? { Int64(exactly: v) }

    static func encodeSlices(_ b: RollupBucket) -> [UInt8] {
        var w = BlobWriter(capacity: 4096)
        w.bytes.append(version)
        let present = RollupDimension.allCases.filter { !(b.dimensions[$0] ?? []).isEmpty }
        w.uvarint(UInt64(present.count))
        for d in present {
            let slices = b.dimensions[d]!
            var s = BlobWriter(capacity: 64 * slices.count)
            s.uvarint(UInt64(slices.count))
            for slice in slices { encode(slice, dimension: d, into: &s) }
            w.bytes.append(d.rawValue)
            w.uvarint(UInt64(s.bytes.count))
            w.append(s.bytes)
        }
        return w.bytes
    }

    static func encode(_ slice: RollupSlice, dimension d: RollupDimension, into w: inout BlobWriter) {
        if d == .model {
            w.string(slice.key.provider)
            w.string(slice.key.value ?? "")
        } else {
            w.optionalString(slice.key.value)
        }
        let m = slice.measures
        w.uvarint(m.requests)
        w.uvarint(m.errors)
        w.uvarint(m.cacheHits)
        w.uvarint(m.unpriced)
        w.uvarint(m.ttftCount)
        w.zigzag(m.inputTokens)
        w.zigzag(m.outputTokens)
        w.zigzag(m.cachedTokens)
        w.zigzag(m.totalTokens)
        w.zigzag(m.inputCost)
        w.zigzag(m.outputCost)
        w.zigzag(m.cachedCost)
        w.zigzag(m.totalCost)
        w.zigzag(m.latencySumMs)
        w.zigzag(m.ttftSumMs)
        var digest = BlobWriter(capacity: 32)
        RollupDigestCodec.encode(slice.latency, into: &digest)
        w.uvarint(UInt64(digest.bytes.count))
        w.append(digest.bytes)
        if d == .model {
            for bd in RollupDimension.breakdownDimensions {
                let entries = slice.breakdowns[bd] ?? []
                w.uvarint(UInt64(entries.count))
                for e in entries {
                    w.optionalString(e.value)
                    w.uvarint(e.requests)
                    w.zigzag(e.cost)
                }
            }
        }
    }

    /// Decodes a stored row.
    /// - Parameter dimensions: Only decode these dimensions (others are skipped); all by default.
    /// - Throws: ``RollupDecodingError`` when a blob is malformed.
    public static func bucket(_ row: RollupRow, dimensions: Set<RollupDimension> = Set(RollupDimension.allCases)) throws -> RollupBucket {
        var total = RollupMeasures()
        total.requests = row.requestCount
        total.errors = row.errorCount
        total.cacheHits = row.cacheHitCount
        total.unpriced = row.unpricedCount
        total.ttftCount = row.ttftCount
        let latency = try RollupDigestCodec.decode(row.latencyDigest)
        var bucket = RollupBucket(orgID: row.orgID, bucketStart: row.bucketStart, total: total, latency: latency, dimensions: [:])
        var r = BlobReader(row.slices)
        let v = try r.byte()
        guard v == version else { throw RollupDecodingError("unsupported rollup slices version \(v)") }
        let sections = try r.uvarint()
        for _ in 0..<sections {
            let id = try r.byte()
            let length = try r.uvarint()
            guard length <= UInt64(r.remaining) else { throw RollupDecodingError("rollup slices section is truncated") }
            let end = r.position + Int(length)
            guard let d = RollupDimension(rawValue: id), dimensions.contains(d) || d == .model else {
                r.position = end
                continue
            }
            var s = BlobReader(row.slices, from: r.position, to: end)
            let n = try s.uvarint()
            guard n <= UInt64(s.remaining) else { throw RollupDecodingError("rollup slice count out of range") }
            var slices: [RollupSlice] = []
            slices.reserveCapacity(Int(n))
            for _ in 0..<n { slices.append(try decodeSlice(&s, dimension: d)) }
            guard s.isAtEnd else { throw RollupDecodingError("rollup slices section has trailing bytes") }
            if d == .model {
                // The exact totals are the sum of any dimension's slices (the SQL columns may be NULL when beyond 64 bits).
                var sum = RollupMeasures()
                for sl in slices { sum.add(sl.measures) }
                bucket.total = sum
            }
            if dimensions.contains(d) { bucket.dimensions[d] = slices }
            r.position = end
        }
        guard r.isAtEnd else { throw RollupDecodingError("rollup slices blob has trailing bytes") }
        return bucket
    }

    static func decodeSlice(_ r: inout BlobReader, dimension d: RollupDimension) throws(RollupDecodingError) -> RollupSlice {
        let key: SliceKey
        if d == .model {
            key = SliceKey(provider: try r.string(), value: try r.string())
        } else {
            key = SliceKey(value: try r.optionalString())
        }
        var m = RollupMeasures()
        m.requests = try r.int64()
        m.errors = try r.int64()
        m.cacheHits = try r.int64()
        m.unpriced = try r.int64()
        m.ttftCount = try r.int64()
        m.inputTokens = try r.zigzag()
        m.outputTokens = try r.zigzag()
        m.cachedTokens = try r.zigzag()
        m.totalTokens = try r.zigzag()
        m.inputCost = try r.zigzag()
        m.outputCost = try r.zigzag()
        m.cachedCost = try r.zigzag()
        m.totalCost = try r.zigzag()
        m.latencySumMs = try r.zigzag()
        m.ttftSumMs = try r.zigzag()
        let length = try r.uvarint()
        guard length <= UInt64(r.remaining) else { throw RollupDecodingError("rollup digest is truncated") }
        var dr = BlobReader(r.bytes, from: r.position, to: r.position + Int(length))
        let digest = try RollupDigestCodec.decode(&dr)
        guard dr.isAtEnd else { throw RollupDecodingError("rollup digest has trailing bytes") }
        r.position += Int(length)
        var breakdowns: [RollupDimension: [BreakdownEntry]] = [:]
        if d == .model {
            for bd in RollupDimension.breakdownDimensions {
                let n = try r.uvarint()
                guard n <= UInt64(r.remaining) else { throw RollupDecodingError("rollup breakdown count out of range") }
                var entries: [BreakdownEntry] = []
                entries.reserveCapacity(Int(n))
                for _ in 0..<n {
                    entries.append(BreakdownEntry(value: try r.optionalString(), requests: try r.int64(), cost: try r.zigzag()))
                }
                if !entries.isEmpty { breakdowns[bd] = entries }
            }
        }
        return RollupSlice(key: key, measures: m, latency: digest, breakdowns: breakdowns)
    }
}
