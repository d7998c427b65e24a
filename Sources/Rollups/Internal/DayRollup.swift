import SegmentStore
import TDigest
import TokentraCore
import UsageIndex

/// Computes the hourly buckets of one (org, UTC day) from its segments, and the day from its
/// hourly buckets, writing the rows directly (schema/rollups.md).
///
/// Segment columns are read directly (timestamps, measures, dictionary codes), strings are
/// interned once per day, and every accumulator is a flat array indexed by
/// `slot = valueID * 24 + hour`. Latencies are sorted once per day and distributed to their slots
/// with a counting sort, so every slice's values arrive sorted: an exact-mode digest (≤ 200
/// values, most hourly slices) is written straight from them, and larger ones are built from
/// sorted input.
///
/// The day is the merge of its hourly buckets: sums and counts added, and per slice
/// ``TDigest/merged(_:compression:)`` of the hourly digests, exactly as a merge of the stored rows
/// would give (when the day's slice has at most 200 values, that merge is the exact digest of its
/// values, which is written directly).
struct DayRollup {
    /// Requests and cost of a (model, attribute value, bucket) cell of a breakdown map.
    struct Cell {
        var requests: Int64 = 0
        var cost: Int128 = 0
    }

    /// Attribute columns in dimension order (feature, team, project, environment, cost_center).
    static let attributeColumns: [SegmentFormat.Column] = [.feature, .team, .project, .environment, .costCenter]
    static let attributeDimensions: [RollupDimension] = [.feature, .team, .project, .environment, .costCenter]
    /// Attributes of the model slices' breakdown maps (feature, team, environment).
    static let breakdownAttributes = [0, 1, 3]
    static let dimensionCount = 7

    let orgID: String
    let dayStart: Int64
    private(set) var hoursMask: UInt32
    let compression: Double
    /// The compression as an integer when exact digests can be written directly.
    let directCompression: UInt64?

    // Interned strings.
    var strings: [String] = []
    var stringIDs: [String: Int32] = [:]
    /// Model pairs as (provider, model) string ids.
    var pairs: [(provider: Int32, model: Int32)] = []
    var pairIndex: [Int64: Int32] = [:]
    /// Per attribute: value id → string id (id 0 = no value, string id -1).
    var valueSIDs: [[Int32]] = Array(repeating: [-1], count: 5)
    var valueIndex: [[Int32: Int32]] = Array(repeating: [:], count: 5)

    /// Sums per dimension (0 total, 1 model, 2 + a attribute a) and slot, computed by ``rows(stored:computedAt:)``.
    var sums: [[RollupMeasures]] = []

    // One entry per event of the selected hours.
    var evHour: [UInt8] = []
    /// Per metric (0 latency, 1 time to first token): the event's value, -1 when not reported.
    var evValues: [[Int64]] = [[], []]
    var evPair: [Int32] = []
    var evAttr: [[Int32]] = Array(repeating: [], count: 5)
    var evMeasures: [EventMeasures] = []

    var events: Int { evHour.count }

    init(orgID: String, dayStart: Int64, hoursMask: UInt32, compression: Double) {
        self.orgID = orgID
        self.dayStart = dayStart
        self.hoursMask = hoursMask
        self.compression = compression
        directCompression = compression.rounded(.towardZero) == compression ? UInt64(compression) : nil
    }

    // MARK: Interning

    mutating func stringID(_ s: String) -> Int32 {
        if let id = stringIDs[s] { return id }
        let id = Int32(strings.count)
        strings.append(s)
        stringIDs[s] = id
        return id
    }

    mutating func pairID(provider: String, model: String) -> Int32 {
        let key = Int64(stringID(provider)) << 32 | Int64(stringID(model))
        if let id = pairIndex[key] { return id }
        let id = Int32(pairs.count)
        pairs.append((Int32(truncatingIfNeeded: key >> 32), Int32(truncatingIfNeeded: key)))
        pairIndex[key] = id
        return id
    }

    mutating func valueID(_ a: Int, _ s: String?) -> Int32 {
        guard let s else { return 0 }
        let sid = stringID(s)
        if let id = valueIndex[a][sid] { return id }
        let id = Int32(valueSIDs[a].count)
        valueSIDs[a].append(sid)
        valueIndex[a][sid] = id
        return id
    }

    // MARK: Reading segments

    /// Collects the rows of one segment of this (org, day) that fall in the selected hours.
    mutating func add(segment reader: SegmentReader) throws {
        let m = try reader.measures()
        let n = reader.footer.rowCount
        var attributeCodes: [[Int32]] = []
        var remaps: [[Int32]] = []
        for (a, column) in Self.attributeColumns.enumerated() {
            let (entries, codes) = try reader.dictionary(column)
            var remap = [Int32](repeating: 0, count: entries.count + 1)
            for (i, s) in entries.enumerated() { remap[i + 1] = valueID(a, s) }
            remaps.append(remap)
            attributeCodes.append(codes)
        }
        let modelStride = m.model.entries.count + 1
        var pairRemap = [Int32](repeating: -1, count: (m.provider.entries.count + 1) * modelStride)
        // Which rows are in the selected hours, and their (provider, model) pairs.
        var rows: [Int32] = []
        rows.reserveCapacity(n)
        var rowPairs: [Int32] = []
        rowPairs.reserveCapacity(n)
        for i in 0..<n {
            let offset = m.timestamps[i] - dayStart
            guard offset >= 0, offset < UTC.msPerDay, hoursMask & (1 << UInt32(offset / UTC.msPerHour)) != 0 else { continue }
            let pc = Int(m.provider.codes[i])
            let mc = Int(m.model.codes[i])
            guard pc > 0, mc > 0 else {
                throw SegmentError(.corrupt, "\(reader.path): row \(i) has a null provider or model")
            }
            var pair = pairRemap[pc * modelStride + mc]
            if pair < 0 {
                pair = pairID(provider: m.provider.entries[pc - 1], model: m.model.entries[mc - 1])
                pairRemap[pc * modelStride + mc] = pair
            }
            rows.append(Int32(i))
            rowPairs.append(pair)
        }
        let k = rows.count
        evHour.reserveCapacity(evHour.count + k)
        for v in 0..<2 { evValues[v].reserveCapacity(evValues[v].count + k) }
        evMeasures.reserveCapacity(evMeasures.count + k)
        evPair.append(contentsOf: rowPairs)
        for a in 0..<5 {
            evAttr[a].reserveCapacity(evAttr[a].count + k)
            let codes = attributeCodes[a], remap = remaps[a]
            for r in rows { evAttr[a].append(remap[Int(codes[Int(r)])]) }
        }
        for r in rows {
            let i = Int(r)
            let flags = m.flags[i]
            let latency = m.latencyMs[i]  // -1: not reported
            let ttft = m.timeToFirstTokenMs[i]  // 0: not reported, else value + 1
            evMeasures.append(EventMeasures(
                inputTokens: m.inputTokens[i], outputTokens: m.outputTokens[i], cachedTokens: m.cachedTokens[i],
                totalTokens: m.totalTokens[i], inputCost: m.inputCost[i], outputCost: m.outputCost[i],
                cachedCost: m.cachedCost[i], totalCost: m.totalCost[i], latencyMs: max(0, latency),
                latencyCount: latency < 0 ? 0 : 1, ttftMs: ttft == 0 ? 0 : ttft - 1,
                errors: Int64((flags >> 1) & 1), cacheHits: Int64(flags & 1), unpriced: m.costSource[i] == 1 ? 1 : 0,
                ttftCount: ttft == 0 ? 0 : 1))
            evHour.append(UInt8((m.timestamps[i] - dayStart) / UTC.msPerHour))
            evValues[0].append(latency)
            evValues[1].append(ttft - 1)
        }
    }

    /// The same day's collected events of hour `h` only (interned strings shared), for folding
    /// each hour without reading its segments again.
    func restricted(toHour h: Int) -> DayRollup {
        var r = self
        r.hoursMask = hoursMask & (1 << UInt32(h))
        let keep = (0..<events).filter { evHour[$0] == UInt8(h) }
        r.evHour = keep.map { evHour[$0] }
        r.evValues = evValues.map { v in keep.map { v[$0] } }
        r.evPair = keep.map { evPair[$0] }
        r.evAttr = evAttr.map { v in keep.map { v[$0] } }
        r.evMeasures = keep.map { evMeasures[$0] }
        return r
    }

    // MARK: Building rows

    /// The value count of each dimension.
    var valueCounts: [Int] { [1, pairs.count] + valueSIDs.map(\.count) }

    /// The slot (`value * 24 + hour`) of every event in dimension `d`.
    func slots(_ d: Int) -> [Int32] {
        var out = [Int32](repeating: 0, count: events)
        out.withUnsafeMutableBufferPointer { o in
            evHour.withUnsafeBufferPointer { hours in
                switch d {
                case 0:
                    for e in 0..<hours.count { o[e] = Int32(hours[e]) }
                case 1:
                    evPair.withUnsafeBufferPointer { p in
                        for e in 0..<hours.count { o[e] = p[e] &* 24 &+ Int32(hours[e]) }
                    }
                default:
                    evAttr[d - 2].withUnsafeBufferPointer { v in
                        for e in 0..<hours.count { o[e] = v[e] &* 24 &+ Int32(hours[e]) }
                    }
                }
            }
        }
        return out
    }

    /// Sums per slot of one dimension: 64-bit accumulation with overflow detection, redone in
    /// 128 bits when anything overflowed.
    func sums(slots: [Int32], count: Int) -> [RollupMeasures] {
        var acc = [Sums64](repeating: Sums64(), count: count)
        var overflow = false
        acc.withUnsafeMutableBufferPointer { o in
            slots.withUnsafeBufferPointer { s in
                evMeasures.withUnsafeBufferPointer { m in
                    for e in 0..<s.count { overflow = o[Int(s[e])].add(m[e]) || overflow }
                }
            }
        }
        if !overflow { return acc.map(\.measures) }
        var wide = [RollupMeasures](repeating: RollupMeasures(), count: count)
        for e in 0..<slots.count { wide[Int(slots[e])].add(evMeasures[e].measures) }
        return wide
    }

    /// Value ids of each dimension in key order (bytewise; no value first).
    func keyOrders() -> [[Int32]] {
        func bytesLess(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
        var out: [[Int32]] = [[0]]
        out.append((0..<Int32(pairs.count)).sorted { x, y in
            let a = pairs[Int(x)], b = pairs[Int(y)]
            if a.provider != b.provider { return bytesLess(strings[Int(a.provider)], strings[Int(b.provider)]) }
            return bytesLess(strings[Int(a.model)], strings[Int(b.model)])
        })
        for a in 0..<5 {
            let sids = valueSIDs[a]
            out.append((0..<Int32(sids.count)).sorted { x, y in
                if x == 0 || y == 0 { return x == 0 && y != 0 }
                return bytesLess(strings[Int(sids[Int(x)])], strings[Int(sids[Int(y)])])
            })
        }
        return out
    }

    /// Breakdown cells, dense when small enough.
    struct CrossTable {
        let stride: Int
        var dense: [Cell]
        var sparse: [Int: Cell] = [:]
        let isDense: Bool

        init(pairs: Int, values: Int, buckets: Int) {
            stride = values * buckets
            isDense = pairs * stride <= 1 << 22
            dense = isDense ? [Cell](repeating: Cell(), count: pairs * stride) : []
        }

        @inline(__always)
        mutating func add(pair: Int, value: Int, bucket: Int, buckets: Int, requests: Int64, cost: Int128) {
            let i = pair * stride + value * buckets + bucket
            if isDense {
                dense[i].requests += requests
                dense[i].cost += cost
            } else {
                sparse[i, default: Cell()].requests += requests
                sparse[i, default: Cell()].cost += cost
            }
        }

        @inline(__always)
        func cell(pair: Int, value: Int, bucket: Int, buckets: Int) -> Cell {
            let i = pair * stride + value * buckets + bucket
            return isDense ? dense[i] : (sparse[i] ?? Cell())
        }
    }

    /// Contributions of stored hourly rows (hours not recomputed) to the day.
    struct Stored {
        var sums: [[RollupMeasures]]
        /// Per metric (latency, TTFT), dimension and value.
        var digests: [[[[RollupDigestCodec.MergeInput]]]]
        var cross: [[Int: Cell]]
    }

    /// A stored hourly row of the day, decoded for merging.
    typealias StoredBucket = (total: RollupMeasures, latency: RollupDigestCodec.MergeInput, ttft: RollupDigestCodec.MergeInput,
                              dimensions: [RollupDimension: [RollupRowCodec.DecodedSlice<RollupDigestCodec.MergeInput>]])

    /// Decodes a stored hourly row for merging into the day.
    static func stored(_ row: RollupRow) throws(RollupDecodingError) -> StoredBucket {
        try RollupRowCodec.decode(row, dimensions: Set(RollupDimension.allCases)) { r throws(RollupDecodingError) in
            try RollupDigestCodec.decodeForMerge(&r)
        }
    }

    /// What the hourly rows and the merged row share: value counts, per-dimension slots, each
    /// metric's values grouped per slot, key orders and the breakdown cross tables.
    struct Prepared {
        var counts: [Int]
        var slotsByDimension: [[Int32]]
        var orders: [[Int32]]
        var grouped: [[Grouped]]
        var keyOrder: [[Int32]]
        var cross: [CrossTable]
        /// Hourly digests of slices too large for exact mode (reused by the merged row).
        var sketches: [[[Int: TDigest]]]
    }

    /// Interns the stored buckets' keys (so the value counts are final) and groups the events.
    mutating func prepare(stored: [StoredBucket]) -> Prepared {
        // Intern every key of the stored buckets first, so the value counts are final.
        for b in stored {
            for s in b.dimensions[.model] ?? [] {
                _ = pairID(provider: s.key.provider, model: s.key.value ?? "")
                for a in Self.breakdownAttributes {
                    for e in s.breakdowns[Self.attributeDimensions[a]] ?? [] { _ = valueID(a, e.value) }
                }
            }
            for (a, d) in Self.attributeDimensions.enumerated() {
                for s in b.dimensions[d] ?? [] { _ = valueID(a, s.key.value) }
            }
        }
        let counts = valueCounts
        let slotsByDimension = (0..<Self.dimensionCount).map { slots($0) }
        sums = (0..<Self.dimensionCount).map { sums(slots: slotsByDimension[$0], count: counts[$0] * 24) }
        // Per metric (latency, time to first token), the reporting events in value order and
        // their values grouped per slot of every dimension.
        let orders = (0..<2).map { order($0) }
        let grouped = (0..<2).map { m in
            (0..<Self.dimensionCount).map { group(m, slots: slotsByDimension[$0], count: counts[$0] * 24, order: orders[m]) }
        }
        let keyOrder = keyOrders()

        var cross = Self.breakdownAttributes.map { CrossTable(pairs: pairs.count, values: counts[2 + $0], buckets: 24) }
        for e in 0..<events {
            let h = Int(evHour[e])
            let cost = Int128(evMeasures[e].totalCost)
            for (b, a) in Self.breakdownAttributes.enumerated() {
                cross[b].add(pair: Int(evPair[e]), value: Int(evAttr[a][e]), bucket: h, buckets: 24, requests: 1, cost: cost)
            }
        }

        return Prepared(counts: counts, slotsByDimension: slotsByDimension, orders: orders, grouped: grouped,
                        keyOrder: keyOrder, cross: cross,
                        sketches: Array(repeating: Array(repeating: [:], count: Self.dimensionCount), count: 2))
    }

    /// Builds the rows: one per selected hour with events, and the day, merged with the stored
    /// buckets of the day's other hours (`stored`).
    mutating func rows(stored: [StoredBucket], computedAt: Int64) -> (hourly: [RollupRow], daily: RollupRow?) {
        var p = prepare(stored: stored)
        let (counts, grouped, keyOrder, cross) = (p.counts, p.grouped, p.keyOrder, p.cross)
        var hourly: [RollupRow] = []
        var scratch = BlobWriter(capacity: 4096)
        for h in 0..<24 where hoursMask & (1 << UInt32(h)) != 0 && sums[0][h].requests > 0 {
            var table = RowStrings(count: strings.count)
            func writeDigest(_ m: Int, _ d: Int, _ slot: Int, into w: inout BlobWriter) {
                let values = grouped[m][d].values[grouped[m][d].range(slot)]
                if writeExact(values, into: &w) { return }
                let digest = digest(values)
                p.sketches[m][d][slot] = digest
                RollupDigestCodec.encode(digest, into: &w)
            }
            var totalDigest = BlobWriter(capacity: 64), totalTTFT = BlobWriter(capacity: 64)
            writeDigest(0, 0, h, into: &totalDigest)
            writeDigest(1, 0, h, into: &totalTTFT)
            var sections = BlobWriter(capacity: 4096)
            var present = 0
            for d in 1..<Self.dimensionCount {
                scratch.bytes.removeAll(keepingCapacity: true)
                var n = 0
                for v in keyOrder[d] where sums[d][Int(v) * 24 + h].requests > 0 { n += 1 }
                if n == 0 { continue }
                present += 1
                scratch.uvarint(UInt64(n))
                for v in keyOrder[d] {
                    let slot = Int(v) * 24 + h
                    guard sums[d][slot].requests > 0 else { continue }
                    writeKey(d, Int(v), table: &table, into: &scratch)
                    RollupRowCodec.writeMeasures(sums[d][slot], into: &scratch)
                    for m in 0..<2 {
                        var digestBytes = BlobWriter(capacity: 64)
                        writeDigest(m, d, slot, into: &digestBytes)
                        scratch.uvarint(UInt64(digestBytes.bytes.count))
                        scratch.append(digestBytes.bytes)
                    }
                    if d == 1 {
                        writeBreakdowns(pair: Int(v), bucket: h, buckets: 24, cross: cross, keyOrder: keyOrder,
                                        table: &table, into: &scratch)
                    }
                }
                sections.bytes.append(UInt8(d))
                sections.uvarint(UInt64(scratch.bytes.count))
                sections.append(scratch.bytes)
            }
            var head = BlobWriter(capacity: 8)
            head.uvarint(UInt64(present))
            hourly.append(RollupRowCodec.makeRow(
                orgID: orgID, bucketStart: dayStart + Int64(h) * UTC.msPerHour, total: sums[0][h],
                latencyDigest: totalDigest.bytes, ttftDigest: totalTTFT.bytes, strings: table.strings.map { strings[Int($0)] },
                sections: head.bytes + sections.bytes, computedAt: computedAt))
        }

        let daily = mergedRow(p, stored: stored, bucketStart: dayStart, computedAt: computedAt)
        return (hourly, daily)
    }

    /// A row's string table: string ids numbered in order of first reference.
    struct RowStrings {
        var refs: [Int32]
        var strings: [Int32] = []
        init(count: Int) { refs = [Int32](repeating: -1, count: count) }
        @inline(__always)
        mutating func ref(_ sid: Int32) -> UInt64 {
            if refs[Int(sid)] < 0 {
                refs[Int(sid)] = Int32(strings.count)
                strings.append(sid)
            }
            return UInt64(refs[Int(sid)])
        }
    }

    func writeKey(_ d: Int, _ v: Int, table: inout RowStrings, into w: inout BlobWriter) {
        if d == 1 {
            w.uvarint(table.ref(pairs[v].provider))
            w.uvarint(table.ref(pairs[v].model))
        } else {
            let sid = valueSIDs[d - 2][v]
            w.uvarint(sid < 0 ? 0 : table.ref(sid) + 1)
        }
    }

    func writeBreakdowns(pair p: Int, bucket: Int, buckets: Int, cross: [CrossTable],
                         keyOrder: [[Int32]], table: inout RowStrings, into w: inout BlobWriter) {
        for (b, a) in Self.breakdownAttributes.enumerated() {
            let order = keyOrder[2 + a]
            var n = 0
            for v in order where cross[b].cell(pair: p, value: Int(v), bucket: bucket, buckets: buckets).requests > 0 { n += 1 }
            w.uvarint(UInt64(n))
            for v in order {
                let c = cross[b].cell(pair: p, value: Int(v), bucket: bucket, buckets: buckets)
                guard c.requests > 0 else { continue }
                let sid = valueSIDs[a][Int(v)]
                w.uvarint(sid < 0 ? 0 : table.ref(sid) + 1)
                w.uvarint(c.requests)
                w.zigzag(c.cost)
            }
        }
    }
}
