import TokentraCore

/// Builds the bytes of one immutable segment file from the events of one (org, UTC day).
///
/// Rows are written in the order given (the store sorts them by timestamp, then request id).
/// Each column is encoded to fit its data and zstd-compressed on its own; the footer records
/// offsets, lengths and CRC32C checksums (schema/segment-format.md).
public enum SegmentWriter {
    /// Encodes `events` (all of `orgID`, all on `day`) into a complete segment file image, rows in the order given.
    /// - Parameter rates: the per-1K rates used to predict each (provider, model)'s costs; costs are
    ///   stored as the exact difference from that prediction, so a wrong or missing rate costs bytes, never exactness.
    public static func encode(
        events: [UsageEvent], orgID: String, day: String,
        rates: (_ provider: String, _ model: String) -> SegmentFormat.Rates?
    ) -> [UInt8] {
        let batch = EventBatch(events)
        return encode(batch: batch, order: Array(0..<batch.count), orgID: orgID, day: day, rates: rates)
    }

    /// Encodes the rows `order` of `batch` (all of `orgID`, all on `day`), in that order.
    public static func encode(
        batch b: EventBatch, order: [Int], orgID: String, day: String,
        rates: (_ provider: String, _ model: String) -> SegmentFormat.Rates?, level: Int32 = SegmentFormat.zstdLevel
    ) -> [UInt8] {
        precondition(!order.isEmpty, "a segment holds at least one event")
        var columns: [(SegmentFormat.Column, SegmentFormat.Encoding, [UInt8])] = []
        let n = order.count

        // request ids: when every id is a v4 UUID (version nibble 4, variant 10), the 6 fixed bits
        // are dropped: 14 bytes per row plus a stream of 10-bit remainders. Otherwise 16 raw bytes.
        var anyText = false
        var allV4 = true
        for r in order {
            if (b.idHigh[r] >> 12) & 0xF != 4 || (b.idLow[r] >> 62) != 0b10 { allV4 = false }
        }
        if !b.idTexts.isEmpty { anyText = order.contains { b.idTexts[Int32($0)] != nil } }
        var ids = ByteWriter(capacity: n * 16 + 1)
        if allV4 {
            ids.u8(1)
            var bits = BitWriter()
            bits.bytes.reserveCapacity(n * 10 / 8 + 8)
            for r in order {
                let h = b.idHigh[r], l = b.idLow[r]
                // bytes 0-5 and 7 of the high word, 9-15 of the low word
                for k in [56, 48, 40, 32, 24, 16] as [UInt64] { ids.u8(UInt8(truncatingIfNeeded: h >> k)) }
                ids.u8(UInt8(truncatingIfNeeded: h))
                for k in [48, 40, 32, 24, 16, 8, 0] as [UInt64] { ids.u8(UInt8(truncatingIfNeeded: l >> k)) }
                let b6 = UInt8(truncatingIfNeeded: h >> 8), b8 = UInt8(truncatingIfNeeded: l >> 56)
                bits.write(UInt64(b6 & 0x0F) << 6 | UInt64(b8 & 0x3F), width: 10)
            }
            ids.append(bits.finish())
        } else {
            ids.u8(0)
            for r in order {
                ids.u64be(b.idHigh[r])
                ids.u64be(b.idLow[r])
            }
        }
        columns.append((.requestID, .raw16, ids.bytes))
        if anyText {
            var idTexts = ByteWriter()
            for r in order { idTexts.optionalString(b.idTexts[Int32(r)]) }
            columns.append((.requestIDText, .nullableString, idTexts.bytes))
        }

        var ts = ByteWriter(capacity: n * 2)
        var prev: Int64 = 0
        for r in order {
            ts.varint(b.timestamps[r] &- prev)
            prev = b.timestamps[r]
        }
        columns.append((.timestamp, .deltaVarint, ts.bytes))

        let providerDict = DictionaryEncoder.ranked(b.providers, order: order)
        let modelDict = DictionaryEncoder.ranked(b.models, order: order)
        columns.append((.provider, .providerByModel, DictionaryEncoder.encodeGiven(providerDict, given: modelDict)))
        columns.append((.model, .dictionary, modelDict.bytes()))

        // Price hints: one entry per distinct (provider, model) pair, in order of first appearance.
        var pairIndex: [PairKey: Int] = [:]
        var pairRates: [SegmentFormat.Rates] = []
        var hints = ByteWriter()
        var pairOfRow = [Int](repeating: 0, count: n)
        var hintEntries: [(Int, Int, SegmentFormat.Rates)] = []
        for i in 0..<n {
            let key = PairKey(provider: providerDict.rows[i] - 1, model: modelDict.rows[i] - 1)
            if let p = pairIndex[key] {
                pairOfRow[i] = p
            } else {
                let r = rates(providerDict.entries[key.provider], modelDict.entries[key.model]) ?? .zero
                pairIndex[key] = pairRates.count
                pairOfRow[i] = pairRates.count
                pairRates.append(r)
                hintEntries.append((key.provider, key.model, r))
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
        for (i, r) in order.enumerated() {
            let it = b.inputTokens[r], ot = b.outputTokens[r], ct = b.cachedTokens[r]
            input.uvarint(UInt64(it))
            output.uvarint(UInt64(ot))
            cached.uvarint(UInt64(ct))
            total.varint(b.totalTokens[r] &- (it &+ ot &+ ct))
            // A gateway cache hit did not call the provider: predict 0 for its costs.
            let f = b.flags[r]
            let rate = f & 1 != 0 ? SegmentFormat.Rates.zero : pairRates[pairOfRow[i]]
            let ic = b.inputCost[r], oc = b.outputCost[r], cc = b.cachedCost[r]
            inCost.varint(ic &- SegmentFormat.predict(tokens: it, ratePer1K: rate.inputPer1K))
            outCost.varint(oc &- SegmentFormat.predict(tokens: ot, ratePer1K: rate.outputPer1K))
            cachedCost.varint(cc &- SegmentFormat.predict(tokens: ct, ratePer1K: rate.cachedPer1K))
            totalCost.varint(b.totalCost[r] &- (ic &+ oc &+ cc))
            source.uvarint(UInt64(b.costSource[r]))
            latency.uvarint(b.latencyMs[r] < 0 ? 0 : UInt64(b.latencyMs[r]) + 1)
            ttft.uvarint(UInt64(b.ttftPlusOne[r]))
            flags.u8(f)
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
        columns.append((.latencyPlusOne, .uvarint, latency.bytes))
        columns.append((.timeToFirstTokenMs, .uvarint, ttft.bytes))
        columns.append((.flags, .byte, flags.bytes))

        for (a, column) in Self.attributeColumns.enumerated() {
            let c = b.attributes[a]
            if c.isAllNull { continue }
            let ranked = DictionaryEncoder.ranked(c, order: order)
            if ranked.entries.isEmpty { continue }  // absent column = all null
            columns.append((column, .dictionary, ranked.bytes()))
        }

        var tags = ByteWriter(capacity: n)
        var raws = ByteWriter(capacity: n * 16)
        var texts = ByteWriter()
        var anyHash = false
        b.hashRaw.withUnsafeBufferPointer { hashRaw in
            for r in order {
                let ref = b.hashRef[r]
                if ref == -1 { tags.u8(0); continue }
                anyHash = true
                if ref >= 0 {
                    tags.u8(1)
                    raws.append(UnsafeBufferPointer(rebasing: hashRaw[(Int(ref) * 32)..<(Int(ref) * 32 + 32)]))
                } else {
                    tags.u8(2)
                    texts.string(b.hashTexts[Int(-2 - ref)])
                }
            }
        }
        if anyHash { columns.append((.promptHash, .hash32, tags.bytes + raws.bytes + texts.bytes)) }

        // Assemble: header, compressed columns, footer, trailer.
        var file = ByteWriter(capacity: n * 48)
        file.append(SegmentFormat.magic)
        var entries: [SegmentFormat.ColumnEntry] = []
        for (column, encoding, raw) in columns {
            let compressed = Zstd.compress(raw, level: level)
            entries.append(SegmentFormat.ColumnEntry(
                id: column.rawValue, encoding: encoding.rawValue, offset: UInt64(file.bytes.count),
                compressedLength: UInt32(compressed.count), rawLength: UInt32(raw.count),
                checksum: CRC32C.checksum(compressed)))
            file.append(compressed)
        }
        var footer = ByteWriter()
        footer.u32(UInt32(n))
        var lo = Int64.max, hi = Int64.min
        for r in order {
            lo = min(lo, b.timestamps[r])
            hi = max(hi, b.timestamps[r])
        }
        footer.i64(lo)
        footer.i64(hi)
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

    /// The segment column of each ``EventBatch/Attribute``, in that order.
    static let attributeColumns: [SegmentFormat.Column] = [
        .feature, .team, .project, .costCenter, .userID, .environment, .metadata, .cacheHitType, .originalModel,
        .routedByRule, .errorCode, .errorType, .errorMessage, .sdkVersion, .sdkLanguage, .hostname,
        .cloudProvider, .instanceID, .k8sPod, .k8sNamespace, .k8sNode,
    ]
}

/// Dictionary encoding of string columns.
enum DictionaryEncoder {
    /// A column's values re-coded for one segment: only the values its rows use, ranked.
    struct Ranked {
        /// Entries in storage order.
        var entries: [String]
        /// Per stored row: 0 = null, i + 1 = entries[i].
        var rows: [Int]

        /// Entry count, entries (uvarint length + UTF-8), then one uvarint per row.
        func bytes() -> [UInt8] {
            var w = ByteWriter(capacity: rows.count + entries.count * 12 + 8)
            w.uvarint(UInt64(entries.count))
            for e in entries { w.string(e) }
            for c in rows { w.uvarint(UInt64(c)) }
            return w.bytes
        }
    }

    /// Entries ordered by descending frequency (ties: first appearance in `order`), so frequent values
    /// get the smallest codes (one-byte varints, skewed bytes that zstd's entropy coder likes). Many
    /// values (user ids): sorted text, which zstd compresses far better than a frequency order.
    static func ranked(_ column: StringColumn, order: [Int]) -> Ranked {
        let valueCount = column.values.count
        if column.isAllNull { return Ranked(entries: [], rows: [Int](repeating: 0, count: order.count)) }
        var counts = [Int](repeating: 0, count: valueCount + 1)
        var firstSeen = [Int](repeating: Int.max, count: valueCount + 1)
        let codes = column.codes
        for (i, r) in order.enumerated() {
            let c = Int(codes[r])
            if counts[c] == 0 { firstSeen[c] = i }
            counts[c] += 1
        }
        var used: [Int] = []
        for c in 1...max(valueCount, 1) where c <= valueCount && counts[c] > 0 { used.append(c) }
        let values = column.values
        let sorted = used.count > 256
            ? used.sorted { values[$0 - 1] < values[$1 - 1] }
            : used.sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : firstSeen[$0] < firstSeen[$1] }
        var rankOf = [Int](repeating: 0, count: valueCount + 1)
        for (rank, c) in sorted.enumerated() { rankOf[c] = rank + 1 }
        var rows = [Int](repeating: 0, count: order.count)
        for (i, r) in order.enumerated() { rows[i] = rankOf[Int(codes[r])] }
        return Ranked(entries: sorted.map { values[$0 - 1] }, rows: rows)
    }

    /// Encodes a dictionary column that is predicted by another one (provider given model): the
    /// entries, then for each model entry its most frequent provider entry, then per row 0 when
    /// the row has its model's usual provider, else entry + 1.
    static func encodeGiven(_ column: Ranked, given model: Ranked) -> [UInt8] {
        var counts = [[Int: Int]](repeating: [:], count: model.entries.count)
        for (i, m) in model.rows.enumerated() { counts[m - 1][column.rows[i] - 1, default: 0] += 1 }
        let usual = counts.map { c in c.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? 0 }
        var w = ByteWriter(capacity: model.rows.count + 64)
        w.uvarint(UInt64(column.entries.count))
        for e in column.entries { w.string(e) }
        w.uvarint(UInt64(usual.count))
        for u in usual { w.uvarint(UInt64(u)) }
        for (i, m) in model.rows.enumerated() {
            let p = column.rows[i] - 1
            w.uvarint(p == usual[m - 1] ? 0 : UInt64(p + 1))
        }
        return w.bytes
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
