import TokentraCore

/// Columnar encoding of an ``EventBatch`` inside a WAL record of type 2 (schema/wal-format.md):
/// fixed-width columns are copied as little-endian arrays, string columns as their dictionary
/// plus one `u32` code per row (or a 0 flag when all null). No compression: the WAL is written
/// once and read only by recovery, so encoding speed matters more than its size.
enum EventBatchCodec {
    static func encode(_ b: EventBatch, into w: inout ByteWriter) {
        w.u32(UInt32(b.count))
        column(b.orgs, into: &w)
        w.array(b.idHigh)
        w.array(b.idLow)
        w.uvarint(UInt64(b.idTexts.count))
        for (row, text) in b.idTexts.sorted(by: { $0.key < $1.key }) {
            w.uvarint(UInt64(row))
            w.string(text)
        }
        w.array(b.timestamps)
        column(b.providers, into: &w)
        column(b.models, into: &w)
        for a in [b.inputTokens, b.outputTokens, b.cachedTokens, b.totalTokens, b.inputCost, b.outputCost,
                  b.cachedCost, b.totalCost, b.costSource, b.latencyMs, b.ttftPlusOne] {
            w.array(a)
        }
        w.array(b.flags)
        w.uvarint(UInt64(b.attributes.count))
        for c in b.attributes { column(c, into: &w) }
        w.array(b.hashRef)
        w.uvarint(UInt64(b.hashRaw.count))
        w.array(b.hashRaw)
        w.uvarint(UInt64(b.hashTexts.count))
        for t in b.hashTexts { w.string(t) }
    }

    static func column(_ c: StringColumn, into w: inout ByteWriter) {
        w.uvarint(UInt64(c.values.count))
        for v in c.values { w.string(v) }
        w.u8(c.isAllNull ? 0 : 1)
        if !c.isAllNull { w.array(c.codes) }
    }

    static func decode(_ r: inout ByteReader) throws(SegmentError) -> EventBatch {
        let n = Int(try r.u32())
        guard n <= r.remaining / 8 else { throw SegmentError(.corrupt, "batch of \(n) rows is longer than its record") }
        var parts = Parts()
        parts.orgs = try column(&r, rows: n)
        parts.idHigh = try r.array(UInt64.self, count: n)
        parts.idLow = try r.array(UInt64.self, count: n)
        let texts = try r.int(n)
        for _ in 0..<texts {
            let row = try r.int(n - 1)
            parts.idTexts[Int32(row)] = try r.string()
        }
        parts.timestamps = try r.array(Int64.self, count: n)
        parts.providers = try column(&r, rows: n)
        parts.models = try column(&r, rows: n)
        var numeric: [[Int64]] = []
        for _ in 0..<11 { numeric.append(try r.array(Int64.self, count: n)) }
        parts.numeric = numeric
        parts.flags = try r.array(UInt8.self, count: n)
        let attributeCount = try r.int(64)
        guard attributeCount == EventBatch.Attribute.allCases.count else {
            throw SegmentError(.corrupt, "batch has \(attributeCount) attribute columns, expected \(EventBatch.Attribute.allCases.count)")
        }
        for _ in 0..<attributeCount { parts.attributes.append(try column(&r, rows: n)) }
        parts.hashRef = try r.array(Int32.self, count: n)
        let rawCount = try r.int(r.remaining)
        parts.hashRaw = try r.array(UInt8.self, count: rawCount)
        let hashTexts = try r.int(n)
        for _ in 0..<hashTexts { parts.hashTexts.append(try r.string()) }
        let p = parts
        guard let batch = EventBatch.assemble({ b in
            b.orgs = p.orgs
            b.idHigh = p.idHigh
            b.idLow = p.idLow
            b.idTexts = p.idTexts
            b.timestamps = p.timestamps
            b.providers = p.providers
            b.models = p.models
            b.inputTokens = p.numeric[0]
            b.outputTokens = p.numeric[1]
            b.cachedTokens = p.numeric[2]
            b.totalTokens = p.numeric[3]
            b.inputCost = p.numeric[4]
            b.outputCost = p.numeric[5]
            b.cachedCost = p.numeric[6]
            b.totalCost = p.numeric[7]
            b.costSource = p.numeric[8]
            b.latencyMs = p.numeric[9]
            b.ttftPlusOne = p.numeric[10]
            b.flags = p.flags
            b.attributes = p.attributes
            b.hashRef = p.hashRef
            b.hashRaw = p.hashRaw
            b.hashTexts = p.hashTexts
        }, count: n) else { throw SegmentError(.corrupt, "batch columns disagree on their row count") }
        for i in 0..<n where batch.orgs.code(at: i) == 0 || batch.providers.code(at: i) == 0 || batch.models.code(at: i) == 0 {
            throw SegmentError(.corrupt, "row \(i) has no org, provider or model")
        }
        return batch
    }

    private struct Parts {
        var orgs = StringColumn(), providers = StringColumn(), models = StringColumn()
        var idHigh: [UInt64] = [], idLow: [UInt64] = []
        var idTexts: [Int32: String] = [:]
        var timestamps: [Int64] = []
        var numeric: [[Int64]] = []
        var flags: [UInt8] = []
        var attributes: [StringColumn] = []
        var hashRef: [Int32] = []
        var hashRaw: [UInt8] = []
        var hashTexts: [String] = []
    }

    static func column(_ r: inout ByteReader, rows n: Int) throws(SegmentError) -> StringColumn {
        let count = try r.int(r.remaining)
        var values: [String] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try r.string()) }
        let present = try r.u8()
        let codes = present == 0 ? [] : try r.array(UInt32.self, count: n)
        guard let c = StringColumn(values: values, codes: codes) else {
            throw SegmentError(.corrupt, "dictionary code out of range")
        }
        return c
    }
}
