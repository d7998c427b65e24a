import TokentraCore

/// Builds the bytes of one immutable segment file from the events of one (org, UTC day).
///
/// Rows are written in the order given (the store sorts them by timestamp, then request id).
/// Each column is encoded to fit its data and zstd-compressed on its own; the footer records
/// offsets, lengths and CRC32C checksums (schema/segment-format.md).
public enum SegmentWriter {
    /// Encodes `events` (all of `orgID`, all on `day`) into a complete segment file image.
    /// - Parameter rates: the per-1K rates used to predict each (provider, model)'s costs; costs are
    ///   stored as the exact difference from that prediction, so a wrong or missing rate costs bytes, never exactness.
    public static func encode(
        events: [UsageEvent], orgID: String, day: String,
        rates: (_ provider: String, _ model: String) -> SegmentFormat.Rates?
    ) -> [UInt8] {
        events.withUnsafeBufferPointer { buffer in
            encode(rows: RowAccess(buffer: buffer, order: Array(buffer.indices)), orgID: orgID, day: day, rates: rates)
        }
    }

    /// Reads events in a given row order through pointers, so no event is copied.
    struct RowAccess {
        let buffer: UnsafeBufferPointer<UsageEvent>
        let order: [Int]
        var count: Int { order.count }
        var indices: Range<Int> { 0..<order.count }
        @inline(__always) subscript(_ i: Int) -> UnsafePointer<UsageEvent> { buffer.baseAddress! + order[i] }
    }

    static func encode(
        rows events: RowAccess, orgID: String, day: String,
        rates: (_ provider: String, _ model: String) -> SegmentFormat.Rates?
    ) -> [UInt8] {
        precondition(events.count > 0, "a segment holds at least one event")
        var columns: [(SegmentFormat.Column, SegmentFormat.Encoding, [UInt8])] = []
        let n = events.count

        // request ids: when every id is a v4 UUID (version nibble 4, variant 10), the 6 fixed bits
        // are dropped: 14 bytes per row plus a stream of 10-bit remainders. Otherwise 16 raw bytes.
        var idTexts = ByteWriter()
        var anyText = false
        var allV4 = true
        for i in events.indices {
            let id = events[i].pointee.requestID
            if id.text != nil { anyText = true }
            if (id.high >> 12) & 0xF != 4 || (id.low >> 62) != 0b10 { allV4 = false }
            idTexts.optionalString(id.text)
        }
        var ids = ByteWriter(capacity: n * 16 + 1)
        if allV4 {
            ids.u8(1)
            var bits = BitWriter()
            for i in events.indices {
                let id = events[i].pointee.requestID
                let bytes = id.bytes
                for b in 0..<16 where b != 6 && b != 8 { ids.u8(bytes[b]) }
                bits.write(UInt64(bytes[6] & 0x0F) << 6 | UInt64(bytes[8] & 0x3F), width: 10)
            }
            ids.append(bits.finish())
        } else {
            ids.u8(0)
            for i in events.indices {
                ids.append(events[i].pointee.requestID.bytes)
            }
        }
        columns.append((.requestID, .raw16, ids.bytes))
        if anyText { columns.append((.requestIDText, .nullableString, idTexts.bytes)) }

        var ts = ByteWriter(capacity: n * 2)
        var prev: Int64 = 0
        for i in events.indices {
            ts.varint(events[i].pointee.timestampMs &- prev)
            prev = events[i].pointee.timestampMs
        }
        columns.append((.timestamp, .deltaVarint, ts.bytes))

        let providerDict = DictionaryEncoder.encode(events.indices.map { events[$0].pointee.provider })
        let modelDict = DictionaryEncoder.encode(events.indices.map { events[$0].pointee.model })
        columns.append((.provider, .providerByModel, DictionaryEncoder.encodeGiven(
            providerDict, modelIndices: modelDict.indices, modelCount: modelDict.entryCount)))
        columns.append((.model, .dictionary, modelDict.bytes))

        // Price hints: one entry per distinct (provider, model) pair, in order of first appearance.
        var pairIndex: [PairKey: Int] = [:]
        var pairRates: [SegmentFormat.Rates] = []
        var hints = ByteWriter()
        var pairOfRow = [Int](repeating: 0, count: n)
        var hintEntries: [(Int, Int, SegmentFormat.Rates)] = []
        for i in events.indices {
            let key = PairKey(provider: providerDict.indices[i], model: modelDict.indices[i])
            if let p = pairIndex[key] {
                pairOfRow[i] = p
            } else {
                let r = rates(events[i].pointee.provider, events[i].pointee.model) ?? .zero
                pairIndex[key] = pairRates.count
                pairOfRow[i] = pairRates.count
                pairRates.append(r)
                hintEntries.append((providerDict.indices[i], modelDict.indices[i], r))
            }
        }
        hints.uvarint(UInt64(hintEntries.count))
        for (p, m, r) in hintEntries {
            hints.uvarint(UInt64(p))
            hints.uvarint(UInt64(m))
            hints.varint(r.inputPer1K)
            hints.varint(r.outputPer1K)
            hints.varint(r.cachedPer1K)
        }
        columns.append((.priceHints, .priceHints, hints.bytes))

        var input = ByteWriter(capacity: n * 2), output = ByteWriter(capacity: n * 2)
        var cached = ByteWriter(capacity: n), total = ByteWriter(capacity: n)
        var inCost = ByteWriter(capacity: n), outCost = ByteWriter(capacity: n)
        var cachedCost = ByteWriter(capacity: n), totalCost = ByteWriter(capacity: n)
        var source = ByteWriter(capacity: n), latency = ByteWriter(capacity: n * 2)
        var ttft = ByteWriter(capacity: n * 2), flags = ByteWriter(capacity: n)
        for i in events.indices {
            let e = Row(events[i])
            input.uvarint(UInt64(e.inputTokens))
            output.uvarint(UInt64(e.outputTokens))
            cached.uvarint(UInt64(e.cachedTokens))
            total.varint(e.totalTokens &- (e.inputTokens &+ e.outputTokens &+ e.cachedTokens))
            // A gateway cache hit did not call the provider: predict 0 for its costs.
            let r = e.wasCached ? SegmentFormat.Rates.zero : pairRates[pairOfRow[i]]
            inCost.varint(e.inputCost.units &- SegmentFormat.predict(tokens: e.inputTokens, ratePer1K: r.inputPer1K))
            outCost.varint(e.outputCost.units &- SegmentFormat.predict(tokens: e.outputTokens, ratePer1K: r.outputPer1K))
            cachedCost.varint(e.cachedCost.units &- SegmentFormat.predict(tokens: e.cachedTokens, ratePer1K: r.cachedPer1K))
            totalCost.varint(e.totalCost.units &- (e.inputCost.units &+ e.outputCost.units &+ e.cachedCost.units))
            source.uvarint(UInt64(e.costSource.code))
            latency.uvarint(UInt64(e.latencyMs))
            ttft.uvarint(e.timeToFirstTokenMs.map { UInt64($0) + 1 } ?? 0)
            flags.u8((e.wasCached ? 1 : 0) | (e.isError ? 2 : 0))
        }
        columns.append((.inputTokens, .uvarint, input.bytes))
        columns.append((.outputTokens, .uvarint, output.bytes))
        columns.append((.cachedTokens, .uvarint, cached.bytes))
        columns.append((.totalTokens, .residualVarint, total.bytes))
        columns.append((.inputCost, .residualVarint, inCost.bytes))
        columns.append((.outputCost, .residualVarint, outCost.bytes))
        columns.append((.cachedCost, .residualVarint, cachedCost.bytes))
        columns.append((.totalCost, .residualVarint, totalCost.bytes))
        columns.append((.costSource, .uvarint, source.bytes))
        columns.append((.latencyMs, .uvarint, latency.bytes))
        columns.append((.timeToFirstTokenMs, .uvarint, ttft.bytes))
        columns.append((.flags, .byte, flags.bytes))

        for (column, field) in Self.stringColumns {
            var values = [String?]()
            values.reserveCapacity(n)
            var any = false
            for i in events.indices {
                let v = field(events[i])
                if v != nil { any = true }
                values.append(v)
            }
            if !any { continue }  // absent column = all null
            columns.append((column, .dictionary, DictionaryEncoder.encodeOptional(values)))
        }

        var tags = ByteWriter(capacity: n)
        var raws = ByteWriter(capacity: n * 16)
        var texts = ByteWriter()
        var anyHash = false
        for i in events.indices {
            guard let h = events[i].pointee.promptHash else { tags.u8(0); continue }
            anyHash = true
            if let raw = HexCodec.decode32(h) {
                tags.u8(1)
                raws.append(raw)
            } else {
                tags.u8(2)
                texts.string(h)
            }
        }
        if anyHash { columns.append((.promptHash, .hash32, tags.bytes + raws.bytes + texts.bytes)) }

        // Assemble: header, compressed columns, footer, trailer.
        var file = ByteWriter(capacity: n * 48)
        file.append(SegmentFormat.magic)
        var entries: [SegmentFormat.ColumnEntry] = []
        for (column, encoding, raw) in columns {
            let compressed = Zstd.compress(raw, level: SegmentFormat.zstdLevel)
            entries.append(SegmentFormat.ColumnEntry(
                id: column.rawValue, encoding: encoding.rawValue, offset: UInt64(file.bytes.count),
                compressedLength: UInt32(compressed.count), rawLength: UInt32(raw.count),
                checksum: CRC32C.checksum(compressed)))
            file.append(compressed)
        }
        var footer = ByteWriter()
        footer.u32(UInt32(n))
        footer.i64(events.indices.reduce(Int64.max) { min($0, events[$1].pointee.timestampMs) })
        footer.i64(events.indices.reduce(Int64.min) { max($0, events[$1].pointee.timestampMs) })
        footer.string(orgID)
        footer.string(day)
        footer.u16(UInt16(entries.count))
        for c in entries {
            footer.u16(c.id)
            footer.u8(c.encoding)
            footer.u64(c.offset)
            footer.u32(c.compressedLength)
            footer.u32(c.rawLength)
            footer.u32(c.checksum)
        }
        file.append(footer.bytes)
        file.u32(UInt32(footer.bytes.count))
        file.u32(CRC32C.checksum(footer.bytes))
        file.append(SegmentFormat.magic)
        return file.bytes
    }
}

extension SegmentWriter {
    struct PairKey: Hashable {
        var provider: Int
        var model: Int
    }

    /// The numeric fields of one event, copied without touching its strings.
    struct Row {
        var inputTokens, outputTokens, cachedTokens, totalTokens: Int64
        var inputCost, outputCost, cachedCost, totalCost: Money
        var costSource: CostSource
        var latencyMs: Int64
        var timeToFirstTokenMs: Int64?
        var wasCached, isError: Bool
        init(_ p: UnsafePointer<UsageEvent>) {
            let e = p
            inputTokens = e.pointee.inputTokens
            outputTokens = e.pointee.outputTokens
            cachedTokens = e.pointee.cachedTokens
            totalTokens = e.pointee.totalTokens
            inputCost = e.pointee.inputCost
            outputCost = e.pointee.outputCost
            cachedCost = e.pointee.cachedCost
            totalCost = e.pointee.totalCost
            costSource = e.pointee.costSource
            latencyMs = e.pointee.latencyMs
            timeToFirstTokenMs = e.pointee.timeToFirstTokenMs
            wasCached = e.pointee.wasCached
            isError = e.pointee.isError
        }
    }

    /// The optional string columns and how to read each from an event (closures borrow the event;
    /// key paths would copy it).
    static let stringColumns: [(SegmentFormat.Column, @Sendable (UnsafePointer<UsageEvent>) -> String?)] = [
        (.feature, { $0.pointee.feature }), (.team, { $0.pointee.team }), (.project, { $0.pointee.project }),
        (.costCenter, { $0.pointee.costCenter }), (.userID, { $0.pointee.userID }), (.environment, { $0.pointee.environment }),
        (.metadata, { $0.pointee.metadata }), (.cacheHitType, { $0.pointee.cacheHitType }), (.originalModel, { $0.pointee.originalModel }),
        (.routedByRule, { $0.pointee.routedByRule }), (.errorCode, { $0.pointee.errorCode }), (.errorType, { $0.pointee.errorType }),
        (.errorMessage, { $0.pointee.errorMessage }), (.sdkVersion, { $0.pointee.sdkVersion }), (.sdkLanguage, { $0.pointee.sdkLanguage }),
        (.hostname, { $0.pointee.hostname }), (.cloudProvider, { $0.pointee.cloudProvider }), (.instanceID, { $0.pointee.instanceID }),
        (.k8sPod, { $0.pointee.k8sPod }), (.k8sNamespace, { $0.pointee.k8sNamespace }), (.k8sNode, { $0.pointee.k8sNode }),
    ]
}

/// Dictionary encoding of string columns.
enum DictionaryEncoder {
    struct Result {
        var bytes: [UInt8]
        /// Entry index of each row (non-optional columns only).
        var indices: [Int]
        var entries: [String]
        var entryCount: Int { entries.count }
    }

    /// Encodes a dictionary column that is predicted by another one (provider given model): the
    /// entries, then for each model entry its most frequent provider entry, then per row 0 when
    /// the row has its model's usual provider, else entry + 1.
    static func encodeGiven(_ column: Result, modelIndices: [Int], modelCount: Int) -> [UInt8] {
        var counts = [[Int: Int]](repeating: [:], count: modelCount)
        for (i, m) in modelIndices.enumerated() { counts[m][column.indices[i], default: 0] += 1 }
        let usual = counts.map { c in c.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? 0 }
        var w = ByteWriter(capacity: modelIndices.count + 64)
        w.uvarint(UInt64(column.entries.count))
        for e in column.entries { w.string(e) }
        w.uvarint(UInt64(usual.count))
        for u in usual { w.uvarint(UInt64(u)) }
        for (i, m) in modelIndices.enumerated() {
            let p = column.indices[i]
            w.uvarint(p == usual[m] ? 0 : UInt64(p + 1))
        }
        return w.bytes
    }

    static func encode(_ values: [String]) -> Result {
        let (entries, codes) = rank(values.map { Optional($0) })
        var w = ByteWriter(capacity: values.count + 64)
        w.uvarint(UInt64(entries.count))
        for e in entries { w.string(e) }
        for c in codes { w.uvarint(UInt64(c)) }
        return Result(bytes: w.bytes, indices: codes.map { $0 - 1 }, entries: entries)
    }

    static func encodeOptional(_ values: [String?]) -> [UInt8] {
        let (entries, codes) = rank(values)
        var w = ByteWriter(capacity: values.count + 64)
        w.uvarint(UInt64(entries.count))
        for e in entries { w.string(e) }
        for c in codes { w.uvarint(UInt64(c)) }
        return w.bytes
    }

    /// Entries ordered by descending frequency (ties: first appearance), so frequent values get
    /// the smallest codes (one-byte varints, skewed bytes that zstd's entropy coder likes).
    /// Codes: 0 = null, i + 1 = entry i.
    static func rank(_ values: [String?]) -> (entries: [String], codes: [Int]) {
        var first: [String: Int] = [:]
        var distinct: [String] = []
        var counts: [Int] = []
        var provisional = [Int]()
        provisional.reserveCapacity(values.count)
        for v in values {
            guard let v else { provisional.append(-1); continue }
            if let i = first[v] {
                counts[i] += 1
                provisional.append(i)
            } else {
                first[v] = distinct.count
                provisional.append(distinct.count)
                distinct.append(v)
                counts.append(1)
            }
        }
        // Few values: by frequency, so frequent values get small codes. Many values (user ids):
        // sorted text, which zstd compresses far better than a frequency order.
        let order = distinct.count > 256
            ? distinct.indices.sorted { distinct[$0] < distinct[$1] }
            : distinct.indices.sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1 }
        var rankOf = [Int](repeating: 0, count: distinct.count)
        for (rank, i) in order.enumerated() { rankOf[i] = rank }
        return (order.map { distinct[$0] }, provisional.map { $0 < 0 ? 0 : rankOf[$0] + 1 })
    }
}

/// Packs fixed-width values into a little-endian bit stream.
struct BitWriter {
    var bytes: [UInt8] = []
    var buffer: UInt64 = 0
    var count: UInt64 = 0

    mutating func write(_ value: UInt64, width: UInt64) {
        buffer |= value << count
        count += width
        while count >= 8 {
            bytes.append(UInt8(truncatingIfNeeded: buffer))
            buffer >>= 8
            count -= 8
        }
    }

    mutating func finish() -> [UInt8] {
        if count > 0 { bytes.append(UInt8(truncatingIfNeeded: buffer)) }
        count = 0
        buffer = 0
        return bytes
    }
}

/// Lowercase hex of 32-byte hashes, so prompt hashes take 32 bytes instead of 64.
enum HexCodec {
    static func decode32(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count == 64 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 {
            guard let hi = nibble(u[2 * i]), let lo = nibble(u[2 * i + 1]) else { return nil }
            out[i] = hi << 4 | lo
        }
        return out
    }

    @inline(__always) static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        default: return nil  // uppercase hex is stored as text so it round-trips exactly
        }
    }

    static func encode(_ bytes: ArraySlice<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
