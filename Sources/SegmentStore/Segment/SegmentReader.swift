import TokentraCore

/// Reads a segment file: footer first, then any column on demand, each checked against its CRC32C.
///
/// ```swift
/// let reader = try SegmentReader(path: path)
/// let events = try reader.events()
/// ```
public struct SegmentReader: Sendable {
    public let path: String
    public let footer: SegmentFormat.Footer
    let bytes: [UInt8]

    /// Reads and parses the file's trailer and footer.
    /// - Throws: ``SegmentError`` naming the file when the magic, footer checksum or directory is wrong.
    public init(path: String) throws {
        try self.init(path: path, bytes: try FileIO.readFile(path))
    }

    /// Reads a segment image held in memory (`path` only names it in errors).
    public init(path: String, bytes: [UInt8]) throws {
        self.path = path
        self.bytes = bytes
        self.footer = try Self.parseFooter(path: path, bytes: bytes)
    }

    static func parseFooter(path: String, bytes: [UInt8]) throws -> SegmentFormat.Footer {
        let n = bytes.count
        let name = Array(SegmentFormat.magic[0..<7])
        guard n >= SegmentFormat.headerSize + SegmentFormat.trailerSize,
              Array(bytes[0..<7]) == name, Array(bytes[(n - 8)..<(n - 1)]) == name
        else { throw SegmentError(.corrupt, "\(path): not a tokentra segment (bad magic or truncated)") }
        let version = bytes[7]
        guard version == SegmentFormat.version, bytes[n - 1] == version else {
            throw SegmentError(.unsupportedVersion,
                               "\(path): segment format version \(version) is not supported by this tokentra (it reads version \(SegmentFormat.version)); upgrade tokentra to read it")
        }
        var t = ByteReader(bytes, offset: n - SegmentFormat.trailerSize)
        let footerLength = Int(try t.u32())
        let footerCRC = try t.u32()
        let footerStart = n - SegmentFormat.trailerSize - footerLength
        guard footerStart >= SegmentFormat.headerSize else {
            throw SegmentError(.corrupt, "\(path): footer length \(footerLength) out of range")
        }
        let footerBytes = bytes[footerStart..<(n - SegmentFormat.trailerSize)]
        let actual = CRC32C.checksum(footerBytes)
        guard actual == footerCRC else {
            throw SegmentError(.corrupt, "\(path): footer checksum \(WriteAheadLog.hex(actual)), expected \(WriteAheadLog.hex(footerCRC))")
        }
        var r = ByteReader(bytes, offset: footerStart)
        let rows = Int(try r.u32())
        let minTs = try r.i64()
        let maxTs = try r.i64()
        let org = try r.string()
        let day = try r.string()
        let count = Int(try r.u16())
        var columns: [SegmentFormat.ColumnEntry] = []
        for _ in 0..<count {
            let c = SegmentFormat.ColumnEntry(id: try r.u16(), encoding: try r.u8(), offset: try r.u64(),
                                              compressedLength: try r.u32(), rawLength: try r.u32(), checksum: try r.u32())
            guard c.offset >= UInt64(SegmentFormat.headerSize),
                  c.offset + UInt64(c.compressedLength) <= UInt64(footerStart)
            else { throw SegmentError(.corrupt, "\(path): column \(Self.columnName(c.id)) lies outside the data area") }
            columns.append(c)
        }
        return SegmentFormat.Footer(rowCount: rows, minTimestampMs: minTs, maxTimestampMs: maxTs,
                                      orgID: org, day: day, columns: columns)
    }

    static func columnName(_ id: UInt16) -> String { SegmentFormat.Column(rawValue: id)?.name ?? "#\(id)" }

    /// The decompressed bytes of a column, or `nil` when the segment does not have it (all null).
    /// - Throws: ``SegmentError`` naming the file and column when its checksum or compression is wrong.
    public func rawColumn(_ column: SegmentFormat.Column) throws -> [UInt8]? {
        guard let entry = footer.columns.first(where: { $0.id == column.rawValue }) else { return nil }
        let start = Int(entry.offset)
        let end = start + Int(entry.compressedLength)
        let crc = CRC32C.checksum(bytes[start..<end])
        guard crc == entry.checksum else {
            throw SegmentError(.corrupt, "\(path): column \(column.name) checksum \(WriteAheadLog.hex(crc)), expected \(WriteAheadLog.hex(entry.checksum))")
        }
        do {
            return try bytes.withUnsafeBytes { all in
                try Zstd.decompress(UnsafeRawBufferPointer(rebasing: all[start..<end]), size: Int(entry.rawLength))
            }
        } catch let e as SegmentError {
            throw SegmentError(.corrupt, "\(path): column \(column.name): \(e.message)")
        }
    }

    func require(_ column: SegmentFormat.Column) throws -> [UInt8] {
        guard let raw = try rawColumn(column) else {
            throw SegmentError(.corrupt, "\(path): required column \(column.name) is missing")
        }
        return raw
    }

    func wrap<T>(_ column: SegmentFormat.Column, _ body: () throws(SegmentError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw SegmentError(.corrupt, "\(path): column \(column.name): \(error.message)")
        }
    }

    /// The request ids of every row (texts included for non-UUID ids).
    public func requestIDs() throws -> [RequestID] {
        let raw = try require(.requestID)
        let n = footer.rowCount
        var out = [RequestID]()
        out.reserveCapacity(n)
        switch raw.first {
        case 0 where raw.count == 1 + n * 16:
            for i in 0..<n {
                var h: UInt64 = 0, l: UInt64 = 0
                for k in 0..<8 {
                    h = h << 8 | UInt64(raw[1 + i * 16 + k])
                    l = l << 8 | UInt64(raw[1 + i * 16 + 8 + k])
                }
                out.append(RequestID(high: h, low: l))
            }
        case 1 where raw.count == 1 + n * 14 + (n * 10 + 7) / 8:
            let bitsStart = 1 + n * 14
            var bitPos = 0
            for i in 0..<n {
                var bytes = [UInt8](repeating: 0, count: 16)
                var k = 1 + i * 14
                for b in 0..<16 where b != 6 && b != 8 {
                    bytes[b] = raw[k]
                    k += 1
                }
                var v = 0
                for bit in 0..<10 {
                    let p = bitPos + bit
                    v |= Int((raw[bitsStart + p / 8] >> UInt8(p % 8)) & 1) << bit
                }
                bitPos += 10
                bytes[6] = 0x40 | UInt8(v >> 6)
                bytes[8] = 0x80 | UInt8(v & 0x3F)
                var h: UInt64 = 0, l: UInt64 = 0
                for b in 0..<8 {
                    h = h << 8 | UInt64(bytes[b])
                    l = l << 8 | UInt64(bytes[8 + b])
                }
                out.append(RequestID(high: h, low: l))
            }
        default:
            throw SegmentError(.corrupt, "\(path): column request_id has \(raw.count) bytes (mode \(raw.first.map(String.init) ?? "none")) for \(n) rows")
        }
        if let texts = try rawColumn(.requestIDText) {
            try wrap(.requestIDText) { () throws(SegmentError) in
                var r = ByteReader(texts)
                for i in 0..<n { out[i].text = try r.optionalString() }
            }
        }
        return out
    }

    /// The timestamps (ms) of every row.
    public func timestamps() throws -> [Int64] {
        let raw = try require(.timestamp)
        return try wrap(.timestamp) { () throws(SegmentError) in
            var r = ByteReader(raw)
            var out = [Int64]()
            out.reserveCapacity(footer.rowCount)
            var prev: Int64 = 0
            for _ in 0..<footer.rowCount {
                prev = prev &+ (try r.varint())
                out.append(prev)
            }
            return out
        }
    }

    /// A dictionary column: its entries and, per row, the entry index + 1 (0 = null).
    public func dictionary(_ column: SegmentFormat.Column) throws -> (entries: [String], codes: [Int32]) {
        if let entry = footer.columns.first(where: { $0.id == column.rawValue }),
           entry.encoding == SegmentFormat.Encoding.providerByModel.rawValue {
            return try providerByModel(column)
        }
        guard let raw = try rawColumn(column) else {
            return ([], [Int32](repeating: 0, count: footer.rowCount))
        }
        return try wrap(column) { () throws(SegmentError) in
            var r = ByteReader(raw)
            let count = try r.int(footer.rowCount)
            var entries: [String] = []
            entries.reserveCapacity(count)
            for _ in 0..<count { entries.append(try r.string()) }
            var codes = [Int32]()
            codes.reserveCapacity(footer.rowCount)
            for _ in 0..<footer.rowCount {
                let c = try r.int(count)
                codes.append(Int32(c))
            }
            return (entries, codes)
        }
    }

    func providerByModel(_ column: SegmentFormat.Column) throws -> (entries: [String], codes: [Int32]) {
        let raw = try require(column)
        let model = try dictionary(.model)
        return try wrap(column) { () throws(SegmentError) in
            var r = ByteReader(raw)
            let count = try r.int(footer.rowCount)
            var entries: [String] = []
            for _ in 0..<count { entries.append(try r.string()) }
            let models = try r.int(footer.rowCount)
            guard models == model.entries.count else { throw SegmentError(.corrupt, "usual-provider table has \(models) models, expected \(model.entries.count)") }
            var usual: [Int32] = []
            for _ in 0..<models { usual.append(Int32(try r.int(max(0, count - 1)))) }
            var codes = [Int32]()
            codes.reserveCapacity(footer.rowCount)
            for i in 0..<footer.rowCount {
                let c = try r.int(count)
                let m = Int(model.codes[i]) - 1
                guard m >= 0 else { throw SegmentError(.corrupt, "row \(i) has no model") }
                codes.append(c == 0 ? usual[m] + 1 : Int32(c))
            }
            return (entries, codes)
        }
    }

    /// An unsigned varint column.
    public func unsignedColumn(_ column: SegmentFormat.Column) throws -> [Int64] {
        let raw = try require(column)
        return try wrap(column) { () throws(SegmentError) in
            var r = ByteReader(raw)
            var out = [Int64]()
            out.reserveCapacity(footer.rowCount)
            for _ in 0..<footer.rowCount { out.append(Int64(try r.int(Int.max))) }
            return out
        }
    }

    /// A signed (zigzag) varint column.
    public func signedColumn(_ column: SegmentFormat.Column) throws -> [Int64] {
        let raw = try require(column)
        return try wrap(column) { () throws(SegmentError) in
            var r = ByteReader(raw)
            var out = [Int64]()
            out.reserveCapacity(footer.rowCount)
            for _ in 0..<footer.rowCount { out.append(try r.varint()) }
            return out
        }
    }

    /// The price hints: rates per (provider entry, model entry).
    func priceHints() throws -> [PairKey: SegmentFormat.Rates] {
        let raw = try require(.priceHints)
        return try wrap(.priceHints) { () throws(SegmentError) in
            var r = ByteReader(raw)
            let count = try r.int(footer.rowCount)
            var out: [PairKey: SegmentFormat.Rates] = [:]
            for _ in 0..<count {
                let p = try r.int()
                let m = try r.int()
                out[PairKey(provider: Int32(p), model: Int32(m))] = SegmentFormat.Rates(
                    inputPer1K: try r.varint(), outputPer1K: try r.varint(), cachedPer1K: try r.varint())
            }
            return out
        }
    }

    struct PairKey: Hashable {
        var provider: Int32
        var model: Int32
    }

    /// The numeric columns most jobs need, decoded at once (costs exact).
    public struct Measures: Sendable {
        public var timestamps: [Int64]
        public var inputTokens: [Int64]
        public var outputTokens: [Int64]
        public var cachedTokens: [Int64]
        public var totalTokens: [Int64]
        public var inputCost: [Int64]
        public var outputCost: [Int64]
        public var cachedCost: [Int64]
        public var totalCost: [Int64]
        public var costSource: [Int64]
        /// -1 = not reported.
        public var latencyMs: [Int64]
        /// 0 = null, else value + 1.
        public var timeToFirstTokenMs: [Int64]
        /// bit 0 was_cached, bit 1 is_error.
        public var flags: [UInt8]
        public var provider: (entries: [String], codes: [Int32])
        public var model: (entries: [String], codes: [Int32])
    }

    /// Decodes timestamps, tokens, costs (prediction + residual), latency and flags.
    public func measures() throws -> Measures {
        let n = footer.rowCount
        let provider = try dictionary(.provider)
        let model = try dictionary(.model)
        let hints = try priceHints()
        let input = try unsignedColumn(.inputTokens)
        let output = try unsignedColumn(.outputTokens)
        let cached = try unsignedColumn(.cachedTokens)
        var total = try signedColumn(.totalTokens)
        var inCost = try signedColumn(.inputCost)
        var outCost = try signedColumn(.outputCost)
        var cachedCost = try signedColumn(.cachedCost)
        var totalCost = try signedColumn(.totalCost)
        guard let flagsRaw = try rawColumn(.flags), flagsRaw.count == n else {
            throw SegmentError(.corrupt, "\(path): column flags is missing or has the wrong length")
        }
        for i in 0..<n {
            total[i] = total[i] &+ input[i] &+ output[i] &+ cached[i]
            let rates = flagsRaw[i] & 1 != 0
                ? SegmentFormat.Rates.zero
                : hints[PairKey(provider: provider.codes[i] - 1, model: model.codes[i] - 1)] ?? .zero
            inCost[i] = inCost[i] &+ SegmentFormat.predict(tokens: input[i], ratePer1K: rates.inputPer1K)
            outCost[i] = outCost[i] &+ SegmentFormat.predict(tokens: output[i], ratePer1K: rates.outputPer1K)
            cachedCost[i] = cachedCost[i] &+ SegmentFormat.predict(tokens: cached[i], ratePer1K: rates.cachedPer1K)
            totalCost[i] = totalCost[i] &+ inCost[i] &+ outCost[i] &+ cachedCost[i]
        }
        return Measures(
            timestamps: try timestamps(), inputTokens: input, outputTokens: output, cachedTokens: cached,
            totalTokens: total, inputCost: inCost, outputCost: outCost, cachedCost: cachedCost, totalCost: totalCost,
            costSource: try unsignedColumn(.costSource), latencyMs: try latencies(),
            timeToFirstTokenMs: try unsignedColumn(.timeToFirstTokenMs), flags: flagsRaw,
            provider: provider, model: model)
    }

    /// Latencies, -1 where not reported: the `latency_ms_plus_one` column, or in older segments
    /// `latency_ms` (every latency known).
    func latencies() throws -> [Int64] {
        guard footer.columns.contains(where: { $0.id == SegmentFormat.Column.latencyPlusOne.rawValue }) else {
            return try unsignedColumn(.latencyMs)
        }
        var out = try unsignedColumn(.latencyPlusOne)
        for i in out.indices { out[i] -= 1 }
        return out
    }

    /// The prompt hash of every row.
    public func promptHashes() throws -> [String?] {
        guard let raw = try rawColumn(.promptHash) else { return [String?](repeating: nil, count: footer.rowCount) }
        return try wrap(.promptHash) { () throws(SegmentError) in
            let n = footer.rowCount
            guard raw.count >= n else { throw SegmentError(.corrupt, "tag stream truncated") }
            var payload = ByteReader(raw, offset: n)
            var out = [String?]()
            out.reserveCapacity(n)
            for i in 0..<n {
                switch raw[i] {
                case 0: out.append(nil)
                case 1: out.append(Hex32.encode(try payload.raw(32)))
                case 2: out.append(nil)  // filled below, after the fixed-size payloads
                case let t: throw SegmentError(.corrupt, "unknown prompt hash tag \(t)")
                }
            }
            for i in 0..<n where raw[i] == 2 { out[i] = try payload.string() }
            guard payload.isAtEnd else { throw SegmentError(.corrupt, "trailing bytes after prompt hashes") }
            return out
        }
    }

    /// How to store each optional string column into an event.
    static let stringSetters: [(SegmentFormat.Column, @Sendable (inout UsageEvent, String) -> Void)] = [
        (.feature, { $0.feature = $1 }), (.team, { $0.team = $1 }), (.project, { $0.project = $1 }),
        (.costCenter, { $0.costCenter = $1 }), (.userID, { $0.userID = $1 }), (.environment, { $0.environment = $1 }),
        (.metadata, { $0.metadata = $1 }), (.cacheHitType, { $0.cacheHitType = $1 }),
        (.originalModel, { $0.originalModel = $1 }), (.routedByRule, { $0.routedByRule = $1 }),
        (.errorCode, { $0.errorCode = $1 }), (.errorType, { $0.errorType = $1 }),
        (.errorMessage, { $0.errorMessage = $1 }), (.sdkVersion, { $0.sdkVersion = $1 }),
        (.sdkLanguage, { $0.sdkLanguage = $1 }), (.hostname, { $0.hostname = $1 }),
        (.cloudProvider, { $0.cloudProvider = $1 }), (.instanceID, { $0.instanceID = $1 }),
        (.k8sPod, { $0.k8sPod = $1 }), (.k8sNamespace, { $0.k8sNamespace = $1 }), (.k8sNode, { $0.k8sNode = $1 }),
    ]

    /// Every row, column by column, in file order (no per-row strings are built).
    public func batch() throws -> EventBatch {
        let n = footer.rowCount
        let ids = try requestIDs()
        let m = try measures()
        for i in 0..<n where m.provider.codes[i] <= 0 || m.model.codes[i] <= 0 {
            throw SegmentError(.corrupt, "\(path): row \(i) has a null provider or model")
        }
        func column(_ d: (entries: [String], codes: [Int32])) throws -> StringColumn {
            guard let c = StringColumn(values: d.entries, codes: d.codes.map { UInt32(bitPattern: $0) }) else {
                throw SegmentError(.corrupt, "\(path): dictionary code out of range")
            }
            return c
        }
        var attributes: [StringColumn] = []
        for column in SegmentWriter.attributeColumns { attributes.append(try SegmentReader.stringColumn(self, column)) }
        let providers = try column(m.provider), models = try column(m.model)
        let orgs = StringColumn(values: [footer.orgID], codes: [UInt32](repeating: 1, count: n))!
        var hashRef = [Int32](repeating: -1, count: n)
        var hashRaw: [UInt8] = []
        var hashTexts: [String] = []
        if let raw = try rawColumn(.promptHash) {
            try wrap(.promptHash) { () throws(SegmentError) in
                guard raw.count >= n else { throw SegmentError(.corrupt, "tag stream truncated") }
                var payload = ByteReader(raw, offset: n)
                var raws: Int32 = 0
                for i in 0..<n {
                    switch raw[i] {
                    case 0: break
                    case 1:
                        hashRaw.append(contentsOf: try payload.raw(32))
                        hashRef[i] = raws
                        raws += 1
                    case 2: break
                    case let t: throw SegmentError(.corrupt, "unknown prompt hash tag \(t)")
                    }
                }
                for i in 0..<n where raw[i] == 2 {
                    hashRef[i] = -2 - Int32(hashTexts.count)
                    hashTexts.append(try payload.string())
                }
                guard payload.isAtEnd else { throw SegmentError(.corrupt, "trailing bytes after prompt hashes") }
            }
        }
        var texts: [Int32: String] = [:]
        for (i, id) in ids.enumerated() where id.text != nil { texts[Int32(i)] = id.text }
        let built = EventBatch.assemble({ b in
            b.orgs = orgs
            b.idHigh = ids.map(\.high)
            b.idLow = ids.map(\.low)
            b.idTexts = texts
            b.timestamps = m.timestamps
            b.providers = providers
            b.models = models
            b.inputTokens = m.inputTokens
            b.outputTokens = m.outputTokens
            b.cachedTokens = m.cachedTokens
            b.totalTokens = m.totalTokens
            b.inputCost = m.inputCost
            b.outputCost = m.outputCost
            b.cachedCost = m.cachedCost
            b.totalCost = m.totalCost
            b.costSource = m.costSource
            b.latencyMs = m.latencyMs
            b.ttftPlusOne = m.timeToFirstTokenMs
            b.flags = m.flags
            b.attributes = attributes
            b.hashRef = hashRef
            b.hashRaw = hashRaw
            b.hashTexts = hashTexts
        }, count: n)
        guard let batch = built else { throw SegmentError(.corrupt, "\(path): columns disagree on their row count") }
        return batch
    }

    static func stringColumn(_ r: SegmentReader, _ column: SegmentFormat.Column) throws -> StringColumn {
        let d = try r.dictionary(column)
        if d.entries.isEmpty { return StringColumn() }
        guard let c = StringColumn(values: d.entries, codes: d.codes.map { UInt32(bitPattern: $0) }) else {
            throw SegmentError(.corrupt, "\(r.path): column \(column.name): dictionary code out of range")
        }
        return c
    }

    /// Every row as a full event, in file order.
    public func events() throws -> [UsageEvent] {
        let n = footer.rowCount
        let ids = try requestIDs()
        let m = try measures()
        let hashes = try promptHashes()
        var events = [UsageEvent]()
        events.reserveCapacity(n)
        for i in 0..<n {
            guard m.provider.codes[i] > 0, m.model.codes[i] > 0 else {
                throw SegmentError(.corrupt, "\(path): row \(i) has a null provider or model")
            }
            var e = UsageEvent(orgID: footer.orgID, requestID: ids[i], timestampMs: m.timestamps[i],
                               provider: m.provider.entries[Int(m.provider.codes[i]) - 1],
                               model: m.model.entries[Int(m.model.codes[i]) - 1])
            e.inputTokens = m.inputTokens[i]
            e.outputTokens = m.outputTokens[i]
            e.cachedTokens = m.cachedTokens[i]
            e.totalTokens = m.totalTokens[i]
            e.inputCost = Money(units: m.inputCost[i])
            e.outputCost = Money(units: m.outputCost[i])
            e.cachedCost = Money(units: m.cachedCost[i])
            e.totalCost = Money(units: m.totalCost[i])
            e.costSource = CostSource(code: m.costSource[i])
            e.latencyMs = m.latencyMs[i] < 0 ? nil : m.latencyMs[i]
            e.timeToFirstTokenMs = m.timeToFirstTokenMs[i] == 0 ? nil : m.timeToFirstTokenMs[i] - 1
            e.wasCached = m.flags[i] & 1 != 0
            e.isError = m.flags[i] & 2 != 0
            e.promptHash = hashes[i]
            events.append(e)
        }
        for (column, set) in Self.stringSetters {
            let (entries, codes) = try dictionary(column)
            if entries.isEmpty { continue }
            events.withUnsafeMutableBufferPointer { rows in
                for i in 0..<n where codes[i] != 0 { set(&rows[i], entries[Int(codes[i]) - 1]) }
            }
        }
        return events
    }

    /// Checks every column's checksum and decodes every row.
    /// - Returns: the number of rows.
    public func verify() throws -> Int {
        for c in footer.columns {
            if let column = SegmentFormat.Column(rawValue: c.id) { _ = try rawColumn(column) }
        }
        let events = try events()
        guard let first = events.first else { return 0 }
        var lo = first.timestampMs, hi = first.timestampMs
        for e in events {
            lo = min(lo, e.timestampMs)
            hi = max(hi, e.timestampMs)
        }
        guard lo == footer.minTimestampMs, hi == footer.maxTimestampMs else {
            throw SegmentError(.corrupt, "\(path): column timestamp disagrees with the footer's min/max")
        }
        return events.count
    }
}
