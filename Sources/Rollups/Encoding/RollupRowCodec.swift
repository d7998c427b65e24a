import TDigest
import UsageIndex

/// Converts between ``RollupBucket`` and the stored ``UsageIndex/RollupRow`` (schema/rollups.md).
///
/// `slices` blob, version 2 (varint = unsigned LEB128; zigzag = signed 128-bit zigzag LEB128):
/// ```
/// u8      version = 2
/// varint  n, then n strings (varint byte length + UTF-8): the row's string table, in order of
///         first reference below
/// varint  number of dimension sections
/// per section (dimensions in increasing id order, only those with slices):
///   u8      dimension id (RollupDimension)
///   varint  byte length of the rest of the section (lets a reader skip it)
///   varint  slice count, then the slices in key order:
///     key       model: varint provider string ref, varint model string ref;
///               others: varint (string ref + 1), 0 = no value
///     varint    requests, errors, cache_hits, unpriced, ttft_count, latency_count
///     zigzag    input_tokens, output_tokens, cached_tokens, total_tokens,
///               input_cost, output_cost, cached_cost, total_cost (1e-10 USD), latency_sum_ms, ttft_sum_ms
///     varint    latency digest length, then the digest (RollupDigestCodec)
///     varint    time-to-first-token digest length, then the digest
///     model only, for feature, team, environment:
///               varint n, then n × (varint (string ref + 1) or 0, varint requests, zigzag cost)
/// ```
/// Version 1 (still read) has no latency_count (every event had a latency: it is the request
/// count) and no time-to-first-token digests (read as empty).
public enum RollupRowCodec {
    static let version: UInt8 = 2
    /// An empty digest, as stored.
    static let emptyDigest = RollupDigestCodec.encode(TDigest())

    /// Encodes a bucket as a row (`computedAt` in wall-clock ms).
    public static func row(_ b: RollupBucket, computedAt: Int64) -> RollupRow {
        var table = StringTable()
        var sections = BlobWriter(capacity: 4096)
        let present = RollupDimension.allCases.filter { !(b.dimensions[$0] ?? []).isEmpty }
        sections.uvarint(UInt64(present.count))
        var s = BlobWriter(capacity: 4096)
        for d in present {
            let slices = b.dimensions[d]!
            s.bytes.removeAll(keepingCapacity: true)
            s.uvarint(UInt64(slices.count))
            for slice in slices {
                if d == .model {
                    s.uvarint(UInt64(table.ref(slice.key.provider)))
                    s.uvarint(UInt64(table.ref(slice.key.value ?? "")))
                } else {
                    s.uvarint(slice.key.value.map { UInt64(table.ref($0)) + 1 } ?? 0)
                }
                writeMeasures(slice.measures, into: &s)
                for d in [slice.latency, slice.ttft] {
                    var digest = BlobWriter(capacity: 32)
                    RollupDigestCodec.encode(d, into: &digest)
                    s.uvarint(UInt64(digest.bytes.count))
                    s.append(digest.bytes)
                }
                if d == .model {
                    for bd in RollupDimension.breakdownDimensions {
                        let entries = slice.breakdowns[bd] ?? []
                        s.uvarint(UInt64(entries.count))
                        for e in entries {
                            s.uvarint(e.value.map { UInt64(table.ref($0)) + 1 } ?? 0)
                            s.uvarint(e.requests)
                            s.zigzag(e.cost)
                        }
                    }
                }
            }
            sections.bytes.append(d.rawValue)
            sections.uvarint(UInt64(s.bytes.count))
            sections.append(s.bytes)
        }
        return makeRow(orgID: b.orgID, bucketStart: b.bucketStart, total: b.total,
                       latencyDigest: RollupDigestCodec.encode(b.latency), ttftDigest: RollupDigestCodec.encode(b.ttft),
                       strings: table.strings,
                       sections: sections.bytes, computedAt: computedAt)
    }

    /// Assembles a row from an encoded string table and sections.
    static func makeRow(orgID: String, bucketStart: Int64, total t: RollupMeasures, latencyDigest: [UInt8], ttftDigest: [UInt8],
                        strings: [String], sections: [UInt8], computedAt: Int64) -> RollupRow {
        var w = BlobWriter(capacity: sections.count + 16 * strings.count + 8)
        w.bytes.append(version)
        w.uvarint(UInt64(strings.count))
        for s in strings { w.string(s) }
        w.append(sections)
        return RollupRow(
            orgID: orgID, bucketStart: bucketStart, requestCount: t.requests, errorCount: t.errors,
            cacheHitCount: t.cacheHits, unpricedCount: t.unpriced, inputTokens: Int64(exactly: t.inputTokens),
            outputTokens: Int64(exactly: t.outputTokens), cachedTokens: Int64(exactly: t.cachedTokens),
            totalTokens: Int64(exactly: t.totalTokens), inputCost: Int64(exactly: t.inputCost),
            outputCost: Int64(exactly: t.outputCost), cachedCost: Int64(exactly: t.cachedCost),
            totalCost: Int64(exactly: t.totalCost), latencySumMs: Int64(exactly: t.latencySumMs), ttftCount: t.ttftCount,
            ttftSumMs: Int64(exactly: t.ttftSumMs), latencyDigest: latencyDigest, slices: w.bytes, computedAt: computedAt,
            latencyCount: t.latencyCount, ttftDigest: ttftDigest)
    }

    @inline(__always)
    static func writeMeasures(_ m: RollupMeasures, into w: inout BlobWriter) {
        w.uvarint(m.requests)
        w.uvarint(m.errors)
        w.uvarint(m.cacheHits)
        w.uvarint(m.unpriced)
        w.uvarint(m.ttftCount)
        w.uvarint(m.latencyCount)
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
    }

    /// The strings of a row, numbered in order of first reference.
    struct StringTable {
        var strings: [String] = []
        var index: [String: Int] = [:]
        mutating func ref(_ s: String) -> Int {
            if let i = index[s] { return i }
            index[s] = strings.count
            strings.append(s)
            return strings.count - 1
        }
    }

    /// Decodes a stored row.
    /// - Parameter dimensions: Only decode these dimensions (the others are skipped); all by default.
    ///   The exact totals come from the model slices, which are always read.
    /// - Throws: ``RollupDecodingError`` when a blob is malformed.
    public static func bucket(_ row: RollupRow, dimensions: Set<RollupDimension> = Set(RollupDimension.allCases)) throws -> RollupBucket {
        let d = try decode(row, dimensions: dimensions) { r throws(RollupDecodingError) in try RollupDigestCodec.decode(&r) }
        var bucket = RollupBucket(orgID: row.orgID, bucketStart: row.bucketStart, total: d.total, latency: d.latency, ttft: d.ttft,
                                  dimensions: [:])
        for (dimension, slices) in d.dimensions {
            bucket.dimensions[dimension] = slices.map {
                RollupSlice(key: $0.key, measures: $0.measures, latency: $0.latency, ttft: $0.ttft, breakdowns: $0.breakdowns)
            }
        }
        return bucket
    }

    /// A decoded slice with its digest in the representation `D`.
    struct DecodedSlice<D> {
        var key: SliceKey
        var measures: RollupMeasures
        var latency: D
        var ttft: D
        var breakdowns: [RollupDimension: [BreakdownEntry]]
    }

    /// Decodes a row, turning every digest into `D` with `digest`.
    static func decode<D>(
        _ row: RollupRow, dimensions: Set<RollupDimension>, digest: (inout BlobReader) throws(RollupDecodingError) -> D
    ) throws(RollupDecodingError) -> (total: RollupMeasures, latency: D, ttft: D, dimensions: [RollupDimension: [DecodedSlice<D>]]) {
        var total = RollupMeasures()
        total.requests = row.requestCount
        total.errors = row.errorCount
        total.cacheHits = row.cacheHitCount
        total.unpriced = row.unpricedCount
        total.ttftCount = row.ttftCount
        total.latencyCount = row.latencyCount ?? row.requestCount
        var lr = BlobReader(row.latencyDigest)
        let latency = try digest(&lr)
        guard lr.isAtEnd else { throw RollupDecodingError("latency digest has trailing bytes") }
        var tr = BlobReader(row.ttftDigest.isEmpty ? emptyDigest : row.ttftDigest)
        let ttft = try digest(&tr)
        guard tr.isAtEnd else { throw RollupDecodingError("time-to-first-token digest has trailing bytes") }
        var out: [RollupDimension: [DecodedSlice<D>]] = [:]
        var r = BlobReader(row.slices)
        let v = try r.byte()
        guard v == 1 || v == version else { throw RollupDecodingError("unsupported rollup slices version \(v)") }
        let nStrings = try r.uvarint()
        guard nStrings <= UInt64(r.remaining) else { throw RollupDecodingError("rollup string table out of range") }
        var strings: [String] = []
        strings.reserveCapacity(Int(nStrings))
        for _ in 0..<nStrings { strings.append(try r.string()) }
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
            var slices: [DecodedSlice<D>] = []
            slices.reserveCapacity(Int(n))
            for _ in 0..<n { slices.append(try decodeSlice(&s, version: v, dimension: d, strings: strings, digest: digest)) }
            guard s.isAtEnd else { throw RollupDecodingError("rollup slices section has trailing bytes") }
            if d == .model {
                // The exact totals are the sum of any dimension's slices (the SQL columns are NULL beyond 64 bits).
                var sum = RollupMeasures()
                for sl in slices { sum.add(sl.measures) }
                total = sum
            }
            if dimensions.contains(d) { out[d] = slices }
            r.position = end
        }
        guard r.isAtEnd else { throw RollupDecodingError("rollup slices blob has trailing bytes") }
        return (total, latency, ttft, out)
    }

    static func string(_ strings: [String], _ ref: UInt64) throws(RollupDecodingError) -> String {
        guard ref < UInt64(strings.count) else { throw RollupDecodingError("rollup string reference out of range") }
        return strings[Int(ref)]
    }

    static func optionalString(_ strings: [String], _ ref: UInt64) throws(RollupDecodingError) -> String? {
        ref == 0 ? nil : try string(strings, ref - 1)
    }

    static func decodeSlice<D>(
        _ r: inout BlobReader, version: UInt8, dimension d: RollupDimension, strings: [String],
        digest decodeDigest: (inout BlobReader) throws(RollupDecodingError) -> D
    ) throws(RollupDecodingError) -> DecodedSlice<D> {
        let key: SliceKey
        if d == .model {
            key = SliceKey(provider: try string(strings, try r.uvarint()), value: try string(strings, try r.uvarint()))
        } else {
            key = SliceKey(value: try optionalString(strings, try r.uvarint()))
        }
        var m = RollupMeasures()
        m.requests = try r.int64()
        m.errors = try r.int64()
        m.cacheHits = try r.int64()
        m.unpriced = try r.int64()
        m.ttftCount = try r.int64()
        m.latencyCount = version >= 2 ? try r.int64() : m.requests
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
        func nextDigest() throws(RollupDecodingError) -> D {
            let length = try r.uvarint()
            guard length <= UInt64(r.remaining) else { throw RollupDecodingError("rollup digest is truncated") }
            var dr = BlobReader(r.bytes, from: r.position, to: r.position + Int(length))
            let digest = try decodeDigest(&dr)
            guard dr.isAtEnd else { throw RollupDecodingError("rollup digest has trailing bytes") }
            r.position += Int(length)
            return digest
        }
        let digest = try nextDigest()
        let ttft: D
        if version >= 2 {
            ttft = try nextDigest()
        } else {
            var er = BlobReader(emptyDigest)
            ttft = try decodeDigest(&er)
        }
        var breakdowns: [RollupDimension: [BreakdownEntry]] = [:]
        if d == .model {
            for bd in RollupDimension.breakdownDimensions {
                let n = try r.uvarint()
                guard n <= UInt64(r.remaining) else { throw RollupDecodingError("rollup breakdown count out of range") }
                var entries: [BreakdownEntry] = []
                entries.reserveCapacity(Int(n))
                for _ in 0..<n {
                    entries.append(BreakdownEntry(value: try optionalString(strings, try r.uvarint()),
                                                  requests: try r.int64(), cost: try r.zigzag()))
                }
                if !entries.isEmpty { breakdowns[bd] = entries }
            }
        }
        return DecodedSlice(key: key, measures: m, latency: digest, ttft: ttft, breakdowns: breakdowns)
    }
}
