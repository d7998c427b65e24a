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
    let hoursMask: UInt32
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

    /// Sums per dimension (0 total, 1 model, 2 + a attribute a) and slot.
    var sums: [[RollupMeasures]]

    // One entry per event of the selected hours.
    var evHour: [UInt8] = []
    var evLatency: [Int64] = []
    var evPair: [Int32] = []
    var evAttr: [[Int32]] = Array(repeating: [], count: 5)
    var evCost: [Int64] = []

    var events: Int { evHour.count }

    init(orgID: String, dayStart: Int64, hoursMask: UInt32, compression: Double) {
        self.orgID = orgID
        self.dayStart = dayStart
        self.hoursMask = hoursMask
        self.compression = compression
        directCompression = compression.rounded(.towardZero) == compression ? UInt64(compression) : nil
        let empty = [RollupMeasures](repeating: RollupMeasures(), count: 24)
        sums = [empty, []] + Array(repeating: empty, count: 5)
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
        sums[1].append(contentsOf: repeatElement(RollupMeasures(), count: 24))
        return id
    }

    mutating func valueID(_ a: Int, _ s: String?) -> Int32 {
        guard let s else { return 0 }
        let sid = stringID(s)
        if let id = valueIndex[a][sid] { return id }
        let id = Int32(valueSIDs[a].count)
        valueSIDs[a].append(sid)
        valueIndex[a][sid] = id
        sums[2 + a].append(contentsOf: repeatElement(RollupMeasures(), count: 24))
        return id
    }

    // MARK: Reading segments

    /// Aggregates the rows of one segment of this (org, day) that fall in the selected hours.
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
        evHour.reserveCapacity(evHour.count + n)
        evLatency.reserveCapacity(evLatency.count + n)
        evPair.reserveCapacity(evPair.count + n)
        evCost.reserveCapacity(evCost.count + n)
        for a in 0..<5 { evAttr[a].reserveCapacity(evAttr[a].count + n) }
        for i in 0..<n {
            let offset = m.timestamps[i] - dayStart
            guard offset >= 0, offset < UTC.msPerDay else { continue }
            let hour = Int(offset / UTC.msPerHour)
            guard hoursMask & (1 << UInt32(hour)) != 0 else { continue }
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
            let flags = m.flags[i]
            let latency = m.latencyMs[i]
            let ttft = m.timeToFirstTokenMs[i]
            var e = RollupMeasures()
            e.requests = 1
            e.errors = Int64((flags >> 1) & 1)
            e.cacheHits = Int64(flags & 1)
            e.unpriced = m.costSource[i] == 1 ? 1 : 0
            e.inputTokens = Int128(m.inputTokens[i])
            e.outputTokens = Int128(m.outputTokens[i])
            e.cachedTokens = Int128(m.cachedTokens[i])
            e.totalTokens = Int128(m.totalTokens[i])
            e.inputCost = Int128(m.inputCost[i])
            e.outputCost = Int128(m.outputCost[i])
            e.cachedCost = Int128(m.cachedCost[i])
            e.totalCost = Int128(m.totalCost[i])
            e.latencySumMs = Int128(latency)
            if ttft != 0 {
                e.ttftCount = 1
                e.ttftSumMs = Int128(ttft - 1)
            }
            let f = remaps[0][Int(attributeCodes[0][i])]
            let t = remaps[1][Int(attributeCodes[1][i])]
            let p = remaps[2][Int(attributeCodes[2][i])]
            let en = remaps[3][Int(attributeCodes[3][i])]
            let c = remaps[4][Int(attributeCodes[4][i])]
            sums[0][hour].add(e)
            sums[1][Int(pair) * 24 + hour].add(e)
            sums[2][Int(f) * 24 + hour].add(e)
            sums[3][Int(t) * 24 + hour].add(e)
            sums[4][Int(p) * 24 + hour].add(e)
            sums[5][Int(en) * 24 + hour].add(e)
            sums[6][Int(c) * 24 + hour].add(e)
            evHour.append(UInt8(hour))
            evLatency.append(latency)
            evPair.append(pair)
            evAttr[0].append(f)
            evAttr[1].append(t)
            evAttr[2].append(p)
            evAttr[3].append(en)
            evAttr[4].append(c)
            evCost.append(m.totalCost[i])
        }
    }

    // MARK: Building rows

    /// The value count of each dimension.
    var valueCounts: [Int] { [1, pairs.count] + valueSIDs.map(\.count) }

    /// The slot of event `e` in dimension `d` (hourly layout).
    @inline(__always)
    func slot(_ d: Int, _ e: Int) -> Int {
        let h = Int(evHour[e])
        switch d {
        case 0: return h
        case 1: return Int(evPair[e]) * 24 + h
        default: return Int(evAttr[d - 2][e]) * 24 + h
        }
    }

    /// Event indices in increasing (latency, hour) order.
    func latencyOrder() -> [Int32] {
        let n = events
        if n < 1 << 24, evLatency.allSatisfy({ $0 >= 0 && $0 < 1 << 35 }) {
            var keys = [UInt64](repeating: 0, count: n)
            for e in 0..<n { keys[e] = UInt64(evLatency[e]) << 29 | UInt64(evHour[e]) << 24 | UInt64(e) }
            keys.sort()
            return keys.map { Int32(truncatingIfNeeded: $0 & 0xFF_FFFF) }
        }
        return (0..<Int32(n)).sorted {
            let a = Int($0), b = Int($1)
            return (evLatency[a], evHour[a], a) < (evLatency[b], evHour[b], b)
        }
    }

    /// Latencies grouped by slot (each group sorted), with each slot's start offset.
    struct Grouped {
        var starts: [Int32]
        var values: [Int64]
        @inline(__always) func count(_ slot: Int) -> Int { Int(starts[slot + 1] - starts[slot]) }
        @inline(__always) func range(_ slot: Int) -> Range<Int> { Int(starts[slot])..<Int(starts[slot + 1]) }
    }

    func group(_ d: Int, slots: Int, order: [Int32]) -> Grouped {
        var starts = [Int32](repeating: 0, count: slots + 1)
        for e in 0..<events { starts[slot(d, e) + 1] += 1 }
        for s in 0..<slots { starts[s + 1] += starts[s] }
        var fill = starts
        var values = [Int64](repeating: 0, count: events)
        for e in order {
            let s = slot(d, Int(e))
            values[Int(fill[s])] = evLatency[Int(e)]
            fill[s] += 1
        }
        return Grouped(starts: starts, values: values)
    }

    /// For the day: per value, `latency << 5 | hour` of the events of its exact-mode hours (hours
    /// with at most 200 of its events), sorted; the larger hours are merged as digests.
    func groupDay(_ d: Int, values count: Int, hourly: Grouped, order: [Int32]) -> Grouped {
        var starts = [Int32](repeating: 0, count: count + 1)
        for e in 0..<events {
            let s = slot(d, e)
            if hourly.count(s) <= TDigest.exactCapacity { starts[s / 24 + 1] += 1 }
        }
        for v in 0..<count { starts[v + 1] += starts[v] }
        var fill = starts
        var values = [Int64](repeating: 0, count: Int(starts[count]))
        for e in order {
            let s = slot(d, Int(e))
            guard hourly.count(s) <= TDigest.exactCapacity else { continue }
            values[Int(fill[s / 24])] = evLatency[Int(e)] << 5 | Int64(evHour[Int(e)])
            fill[s / 24] += 1
        }
        return Grouped(starts: starts, values: values)
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

    /// Writes a digest straight from sorted integer values when it is exact-mode; returns false
    /// when the general path is needed.
    func writeExact(_ values: ArraySlice<Int64>, into w: inout BlobWriter) -> Bool {
        guard let c = directCompression, values.count <= TDigest.exactCapacity, let first = values.first, let last = values.last,
              first >= 0, Double(last) < RollupDigestCodec.exactIntegerLimit
        else { return false }
        var distinct = 1
        var i = values.startIndex + 1
        while i < values.endIndex {
            if values[i] != values[i - 1] { distinct += 1 }
            i += 1
        }
        w.bytes.append(RollupDigestCodec.exactIntegerTag)
        w.uvarint(c)
        w.uvarint(UInt64(distinct))
        var previous: Int64 = 0
        i = values.startIndex
        while i < values.endIndex {
            let v = values[i]
            var j = i + 1
            while j < values.endIndex && values[j] == v { j += 1 }
            let weight = j - i
            let delta = UInt64(v - previous)
            if weight > 1 {
                w.uvarint(delta << 1 | 1)
                w.uvarint(UInt64(weight - 2))
            } else {
                w.uvarint(delta << 1)
            }
            previous = v
            i = j
        }
        return true
    }

    /// Writes an exact-mode digest from (value, weight) pairs (any order); false when not possible.
    func writeExact(pairs input: [(Double, Int)], into w: inout BlobWriter) -> Bool {
        guard let c = directCompression else { return false }
        var total = 0
        for (v, weight) in input {
            guard v >= 0, v < RollupDigestCodec.exactIntegerLimit, v.rounded(.towardZero) == v else { return false }
            total += weight
        }
        guard total >= 1, total <= TDigest.exactCapacity else { return false }
        let sorted = input.sorted { $0.0 < $1.0 }
        var combined: [(UInt64, Int)] = []
        for (v, weight) in sorted {
            let x = UInt64(v)
            if let last = combined.last, last.0 == x {
                combined[combined.count - 1].1 += weight
            } else {
                combined.append((x, weight))
            }
        }
        w.bytes.append(RollupDigestCodec.exactIntegerTag)
        w.uvarint(c)
        w.uvarint(UInt64(combined.count))
        var previous: UInt64 = 0
        for (x, weight) in combined {
            if weight > 1 {
                w.uvarint((x - previous) << 1 | 1)
                w.uvarint(UInt64(weight - 2))
            } else {
                w.uvarint((x - previous) << 1)
            }
            previous = x
        }
        return true
    }

    /// Largest number of entries given to one digest's buffer (below its flush threshold, 5 × δ).
    var chunk: Int { max(1, Int(4 * compression)) }

    /// The digest of sorted values: run-length (value, count) items merged in one pass.
    func digest(_ values: ArraySlice<Int64>) -> TDigest {
        var items: [(Double, Int)] = []
        items.reserveCapacity(values.count)
        var i = values.startIndex
        while i < values.endIndex {
            let v = values[i]
            var j = i + 1
            while j < values.endIndex && values[j] == v { j += 1 }
            items.append((Double(v), j - i))
            i = j
        }
        return merge(exactItems: items, sorted: true, digests: [])
    }

    /// Merges point masses (value, weight) — the values of exact-mode digests — with other digests.
    ///
    /// The point masses are added, in sorted order, to the buffers of fresh digests (never enough
    /// to trigger a flush), and everything is combined by one ``TDigest/merged(_:compression:)``.
    /// Buffered values and the centroids of exact-mode digests are both splittable point masses
    /// for the merge, so this equals merging the exact-mode digests themselves, while handing the
    /// merge long sorted runs.
    func merge(exactItems: [(Double, Int)], sorted: Bool, digests: [TDigest]) -> TDigest {
        let items = sorted ? exactItems : exactItems.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        var parts = digests
        var start = 0
        while start < items.count {
            let end = min(items.count, start + chunk)
            var b = TDigest(compression: compression)
            for k in start..<end { b.add(items[k].0, weight: items[k].1) }
            parts.append(b)
            start = end
        }
        return TDigest.merged(parts, compression: compression)
    }

    /// Contributions of stored hourly rows (hours not recomputed) to the day.
    struct Stored {
        var sums: [[RollupMeasures]]
        var digests: [[[TDigest]]]
        var cross: [[Int: Cell]]
    }

    /// Builds the rows: one per selected hour with events, and the day (merged with the stored
    /// buckets of the other hours of the day, `stored`).
    mutating func rows(stored: [RollupBucket], computedAt: Int64) -> (hourly: [RollupRow], daily: RollupRow?) {
        // Intern every key of the stored buckets first, so the value counts are final.
        for b in stored {
            for s in b.slices(.model) {
                _ = pairID(provider: s.key.provider, model: s.key.value ?? "")
                for a in Self.breakdownAttributes {
                    for e in s.breakdowns[Self.attributeDimensions[a]] ?? [] { _ = valueID(a, e.value) }
                }
            }
            for (a, d) in Self.attributeDimensions.enumerated() {
                for s in b.slices(d) { _ = valueID(a, s.key.value) }
            }
        }
        let counts = valueCounts
        let order = latencyOrder()
        let grouped = (0..<Self.dimensionCount).map { group($0, slots: counts[$0] * 24, order: order) }
        let keyOrder = keyOrders()

        var cross = Self.breakdownAttributes.map { CrossTable(pairs: pairs.count, values: counts[2 + $0], buckets: 24) }
        for e in 0..<events {
            let h = Int(evHour[e])
            for (b, a) in Self.breakdownAttributes.enumerated() {
                cross[b].add(pair: Int(evPair[e]), value: Int(evAttr[a][e]), bucket: h, buckets: 24, requests: 1, cost: Int128(evCost[e]))
            }
        }

        // Hourly digests of slices too large for exact mode (reused by the day).
        var sketches: [[Int: TDigest]] = Array(repeating: [:], count: Self.dimensionCount)

        var hourly: [RollupRow] = []
        var scratch = BlobWriter(capacity: 4096)
        for h in 0..<24 where hoursMask & (1 << UInt32(h)) != 0 && sums[0][h].requests > 0 {
            var table = RowStrings(count: strings.count)
            func writeDigest(_ d: Int, _ slot: Int, into w: inout BlobWriter) {
                let values = grouped[d].values[grouped[d].range(slot)]
                if writeExact(values, into: &w) { return }
                let digest = digest(values)
                sketches[d][slot] = digest
                RollupDigestCodec.encode(digest, into: &w)
            }
            var totalDigest = BlobWriter(capacity: 64)
            writeDigest(0, h, into: &totalDigest)
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
                    var digestBytes = BlobWriter(capacity: 64)
                    writeDigest(d, slot, into: &digestBytes)
                    scratch.uvarint(UInt64(digestBytes.bytes.count))
                    scratch.append(digestBytes.bytes)
                    if d == 1 {
                        writeBreakdowns(pair: Int(v), bucket: h, buckets: 24, cross: cross, extra: nil, keyOrder: keyOrder,
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
                latencyDigest: totalDigest.bytes, strings: table.strings.map { strings[Int($0)] },
                sections: head.bytes + sections.bytes, computedAt: computedAt))
        }

        // The day: fresh hours plus the stored ones.
        var dayStored = Stored(
            sums: counts.map { [RollupMeasures](repeating: RollupMeasures(), count: $0) },
            digests: counts.map { [[TDigest]](repeating: [], count: $0) },
            cross: Array(repeating: [:], count: 3))
        var dayTotal = RollupMeasures()
        var dayTotalDigests: [TDigest] = []
        for b in stored {
            dayTotal.add(b.total)
            dayTotalDigests.append(b.latency)
            for s in b.slices(.model) {
                let p = Int(pairID(provider: s.key.provider, model: s.key.value ?? ""))
                dayStored.sums[1][p].add(s.measures)
                dayStored.digests[1][p].append(s.latency)
                for (bi, a) in Self.breakdownAttributes.enumerated() {
                    for e in s.breakdowns[Self.attributeDimensions[a]] ?? [] {
                        let key = p * counts[2 + a] + Int(valueID(a, e.value))
                        dayStored.cross[bi][key, default: Cell()].requests += e.requests
                        dayStored.cross[bi][key, default: Cell()].cost += e.cost
                    }
                }
            }
            for (a, d) in Self.attributeDimensions.enumerated() {
                for s in b.slices(d) {
                    let v = Int(valueID(a, s.key.value))
                    dayStored.sums[2 + a][v].add(s.measures)
                    dayStored.digests[2 + a][v].append(s.latency)
                }
            }
        }
        for h in 0..<24 { dayTotal.add(sums[0][h]) }
        guard dayTotal.requests > 0 else { return (hourly, nil) }

        var daySums = dayStored.sums
        for d in 1..<Self.dimensionCount {
            for v in 0..<counts[d] {
                for h in 0..<24 { daySums[d][v].add(sums[d][v * 24 + h]) }
            }
        }
        var dayCross = Self.breakdownAttributes.map { CrossTable(pairs: pairs.count, values: counts[2 + $0], buckets: 1) }
        for (b, a) in Self.breakdownAttributes.enumerated() {
            for p in 0..<pairs.count {
                for v in 0..<counts[2 + a] {
                    var cell = dayStored.cross[b][p * counts[2 + a] + v] ?? Cell()
                    for h in 0..<24 {
                        let c = cross[b].cell(pair: p, value: v, bucket: h, buckets: 24)
                        cell.requests += c.requests
                        cell.cost += c.cost
                    }
                    if cell.requests > 0 {
                        dayCross[b].add(pair: p, value: v, bucket: 0, buckets: 1, requests: cell.requests, cost: cell.cost)
                    }
                }
            }
        }

        let dayGrouped = (0..<Self.dimensionCount).map { groupDay($0, values: counts[$0], hourly: grouped[$0], order: order) }

        /// The day's digest of value v of dimension d: the merge of its hourly digests. Exact-mode
        /// hourly digests enter as their point masses (value, count in the hour), ordered by value
        /// then count as the merge orders them, so the result is the same as
        /// `TDigest.merged(hourly digests)`.
        func writeDayDigest(_ d: Int, _ v: Int, storedDigests: [TDigest], into w: inout BlobWriter) {
            var items: [(Double, Int)] = []
            let values = dayGrouped[d].values[dayGrouped[d].range(v)]
            var weights: [Int] = []
            var i = values.startIndex
            while i < values.endIndex {
                let x = values[i] >> 5
                weights.removeAll(keepingCapacity: true)
                while i < values.endIndex && values[i] >> 5 == x {
                    var j = i + 1
                    while j < values.endIndex && values[j] == values[i] { j += 1 }
                    weights.append(j - i)
                    i = j
                }
                if weights.count > 1 { weights.sort() }
                for weight in weights { items.append((Double(x), weight)) }
            }
            var sketchParts: [TDigest] = []
            var storedExact = false
            for s in storedDigests {
                if s.isExact {
                    storedExact = true
                    for c in s.centroids { items.append((c.mean, c.weight)) }
                } else {
                    sketchParts.append(s)
                }
            }
            if storedExact { items.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) } }
            for h in 0..<24 {
                let slot = v * 24 + h
                if grouped[d].count(slot) > TDigest.exactCapacity {
                    sketchParts.append(sketches[d][slot] ?? digest(grouped[d].values[grouped[d].range(slot)]))
                }
            }
            if sketchParts.isEmpty, writeExact(pairs: items, into: &w) { return }
            RollupDigestCodec.encode(merge(exactItems: items, sorted: true, digests: sketchParts), into: &w)
        }

        var table = RowStrings(count: strings.count)
        var totalDigest = BlobWriter(capacity: 2048)
        writeDayDigest(0, 0, storedDigests: dayTotalDigests, into: &totalDigest)
        var sections = BlobWriter(capacity: 16384)
        var present = 0
        for d in 1..<Self.dimensionCount {
            scratch.bytes.removeAll(keepingCapacity: true)
            var n = 0
            for v in keyOrder[d] where daySums[d][Int(v)].requests > 0 { n += 1 }
            if n == 0 { continue }
            present += 1
            scratch.uvarint(UInt64(n))
            for v in keyOrder[d] {
                let vi = Int(v)
                guard daySums[d][vi].requests > 0 else { continue }
                writeKey(d, vi, table: &table, into: &scratch)
                RollupRowCodec.writeMeasures(daySums[d][vi], into: &scratch)
                var digestBytes = BlobWriter(capacity: 2048)
                writeDayDigest(d, vi, storedDigests: dayStored.digests[d][vi], into: &digestBytes)
                scratch.uvarint(UInt64(digestBytes.bytes.count))
                scratch.append(digestBytes.bytes)
                if d == 1 {
                    writeBreakdowns(pair: vi, bucket: 0, buckets: 1, cross: dayCross, extra: nil, keyOrder: keyOrder,
                                    table: &table, into: &scratch)
                }
            }
            sections.bytes.append(UInt8(d))
            sections.uvarint(UInt64(scratch.bytes.count))
            sections.append(scratch.bytes)
        }
        var head = BlobWriter(capacity: 8)
        head.uvarint(UInt64(present))
        let daily = RollupRowCodec.makeRow(
            orgID: orgID, bucketStart: dayStart, total: dayTotal, latencyDigest: totalDigest.bytes,
            strings: table.strings.map { strings[Int($0)] }, sections: head.bytes + sections.bytes, computedAt: computedAt)
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

    func writeBreakdowns(pair p: Int, bucket: Int, buckets: Int, cross: [CrossTable], extra: [[Int: Cell]]?,
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
