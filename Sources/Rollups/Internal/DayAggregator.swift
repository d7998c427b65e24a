import SegmentStore
import TDigest
import TokentraCore

/// Aggregates the events of one (org, UTC day) into hourly buckets, reading segment columns
/// directly (no event decoding): timestamps, measures and dictionary codes.
///
/// Strings are interned once per day; accumulators are flat arrays indexed by
/// `valueID * 24 + hour`, so the per-event work is array arithmetic plus one digest add per
/// dimension.
struct DayAggregator {
    /// One slice-hour accumulator.
    struct Acc {
        var measures = RollupMeasures()
        var digest: TDigest

        init(compression: Double) { digest = TDigest(compression: compression) }
    }

    /// Requests and cost of a (model, attribute value, hour) cell of a breakdown map.
    struct Cell {
        var requests: Int64 = 0
        var cost: Int128 = 0
    }

    struct PairKey: Hashable {
        var provider: String
        var model: String
    }

    /// Attribute columns in dimension order (RollupDimension.feature ... .costCenter).
    static let attributeColumns: [SegmentFormat.Column] = [.feature, .team, .project, .environment, .costCenter]
    static let attributeDimensions: [RollupDimension] = [.feature, .team, .project, .environment, .costCenter]
    /// Index into the attribute arrays of the breakdown dimensions (feature, team, environment).
    static let breakdownAttributes = [0, 1, 3]

    let orgID: String
    let dayStart: Int64
    let hoursMask: UInt32
    let compression: Double

    var pairIndex: [PairKey: Int32] = [:]
    var pairs: [PairKey] = []
    /// Per attribute: id → value (id 0 = absent).
    var values: [[String?]]
    var valueIndex: [[String: Int32]]
    /// acc[0] = total (one value), acc[1] = model pairs, acc[2 + a] = attribute a.
    var acc: [[Acc]]
    /// cross[b][pair][value * 24 + hour] for breakdown attribute b (feature, team, environment).
    var cross: [[[Cell]]]
    /// Events aggregated.
    var events = 0

    init(orgID: String, dayStart: Int64, hoursMask: UInt32, compression: Double) {
        self.orgID = orgID
        self.dayStart = dayStart
        self.hoursMask = hoursMask
        self.compression = compression
        values = Array(repeating: [nil], count: 5)
        valueIndex = Array(repeating: [:], count: 5)
        let empty = (0..<24).map { _ in Acc(compression: compression) }
        acc = [empty, []] + Array(repeating: empty, count: 5)
        cross = Array(repeating: [], count: 3)
    }

    mutating func internPair(_ provider: String, _ model: String) -> Int32 {
        let key = PairKey(provider: provider, model: model)
        if let id = pairIndex[key] { return id }
        let id = Int32(pairs.count)
        pairs.append(key)
        pairIndex[key] = id
        acc[1].append(contentsOf: (0..<24).map { _ in Acc(compression: compression) })
        for b in 0..<3 { cross[b].append([]) }
        return id
    }

    mutating func intern(attribute a: Int, _ value: String) -> Int32 {
        if let id = valueIndex[a][value] { return id }
        let id = Int32(values[a].count)
        values[a].append(value)
        valueIndex[a][value] = id
        acc[2 + a].append(contentsOf: (0..<24).map { _ in Acc(compression: compression) })
        return id
    }

    /// Aggregates the rows of one segment of this (org, day) that fall in the selected hours.
    mutating func add(segment reader: SegmentReader) throws {
        let m = try reader.measures()
        let n = reader.footer.rowCount
        var attributeCodes: [[Int32]] = []
        var remaps: [[Int32]] = []
        for (a, column) in Self.attributeColumns.enumerated() {
            let (entries, codes) = try reader.dictionary(column)
            var remap = [Int32](repeating: 0, count: entries.count + 1)
            for (i, s) in entries.enumerated() { remap[i + 1] = intern(attribute: a, s) }
            remaps.append(remap)
            attributeCodes.append(codes)
        }
        let modelStride = m.model.entries.count + 1
        var pairRemap = [Int32](repeating: -1, count: (m.provider.entries.count + 1) * modelStride)
        let hourMs = UTC.msPerHour
        for i in 0..<n {
            let offset = m.timestamps[i] - dayStart
            guard offset >= 0, offset < UTC.msPerDay else { continue }
            let hour = Int(offset / hourMs)
            guard hoursMask & (1 << UInt32(hour)) != 0 else { continue }
            let pc = Int(m.provider.codes[i])
            let mc = Int(m.model.codes[i])
            guard pc > 0, mc > 0 else {
                throw SegmentError(.corrupt, "\(reader.path): row \(i) has a null provider or model")
            }
            var pair = pairRemap[pc * modelStride + mc]
            if pair < 0 {
                pair = internPair(m.provider.entries[pc - 1], m.model.entries[mc - 1])
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
            let x = Double(latency)
            Self.bump(&acc[0][hour], e, x)
            Self.bump(&acc[1][Int(pair) * 24 + hour], e, x)
            var ids = (Int32(0), Int32(0), Int32(0), Int32(0), Int32(0))
            ids.0 = remaps[0][Int(attributeCodes[0][i])]
            ids.1 = remaps[1][Int(attributeCodes[1][i])]
            ids.2 = remaps[2][Int(attributeCodes[2][i])]
            ids.3 = remaps[3][Int(attributeCodes[3][i])]
            ids.4 = remaps[4][Int(attributeCodes[4][i])]
            Self.bump(&acc[2][Int(ids.0) * 24 + hour], e, x)
            Self.bump(&acc[3][Int(ids.1) * 24 + hour], e, x)
            Self.bump(&acc[4][Int(ids.2) * 24 + hour], e, x)
            Self.bump(&acc[5][Int(ids.3) * 24 + hour], e, x)
            Self.bump(&acc[6][Int(ids.4) * 24 + hour], e, x)
            addCross(0, pair: Int(pair), value: Int(ids.0), hour: hour, cost: e.totalCost)
            addCross(1, pair: Int(pair), value: Int(ids.1), hour: hour, cost: e.totalCost)
            addCross(2, pair: Int(pair), value: Int(ids.3), hour: hour, cost: e.totalCost)
            events += 1
        }
    }

    @inline(__always)
    static func bump(_ a: inout Acc, _ e: RollupMeasures, _ latency: Double) {
        a.measures.add(e)
        a.digest.add(latency)
    }

    @inline(__always)
    mutating func addCross(_ b: Int, pair: Int, value: Int, hour: Int, cost: Int128) {
        let index = value * 24 + hour
        if index >= cross[b][pair].count {
            cross[b][pair].append(contentsOf: repeatElement(Cell(), count: (value + 1) * 24 - cross[b][pair].count))
        }
        cross[b][pair][index].requests += 1
        cross[b][pair][index].cost += cost
    }

    /// The buckets of the selected hours that have events, by hour start.
    mutating func buckets() -> [Int64: RollupBucket] {
        var out: [Int64: RollupBucket] = [:]
        for hour in 0..<24 where hoursMask & (1 << UInt32(hour)) != 0 && acc[0][hour].measures.requests > 0 {
            let start = dayStart + Int64(hour) * UTC.msPerHour
            acc[0][hour].digest.flush()
            var dimensions: [RollupDimension: [RollupSlice]] = [:]
            var modelSlices: [RollupSlice] = []
            for (p, key) in pairs.enumerated() {
                let i = p * 24 + hour
                guard acc[1][i].measures.requests > 0 else { continue }
                acc[1][i].digest.flush()
                var breakdowns: [RollupDimension: [BreakdownEntry]] = [:]
                for (b, a) in Self.breakdownAttributes.enumerated() {
                    let cells = cross[b][p]
                    var entries: [BreakdownEntry] = []
                    var v = 0
                    while v * 24 + hour < cells.count {
                        let c = cells[v * 24 + hour]
                        if c.requests > 0 { entries.append(BreakdownEntry(value: values[a][v], requests: c.requests, cost: c.cost)) }
                        v += 1
                    }
                    entries.sort { SliceKey(value: $0.value) < SliceKey(value: $1.value) }
                    breakdowns[Self.attributeDimensions[a]] = entries
                }
                modelSlices.append(RollupSlice(key: SliceKey(provider: key.provider, value: key.model),
                                               measures: acc[1][i].measures, latency: acc[1][i].digest, breakdowns: breakdowns))
            }
            modelSlices.sort { $0.key < $1.key }
            dimensions[.model] = modelSlices
            for (a, d) in Self.attributeDimensions.enumerated() {
                var slices: [RollupSlice] = []
                for v in 0..<values[a].count {
                    let i = v * 24 + hour
                    guard acc[2 + a][i].measures.requests > 0 else { continue }
                    acc[2 + a][i].digest.flush()
                    slices.append(RollupSlice(key: SliceKey(value: values[a][v]), measures: acc[2 + a][i].measures,
                                              latency: acc[2 + a][i].digest))
                }
                slices.sort { $0.key < $1.key }
                dimensions[d] = slices
            }
            out[start] = RollupBucket(orgID: orgID, bucketStart: start, total: acc[0][hour].measures,
                                      latency: acc[0][hour].digest, dimensions: dimensions)
        }
        return out
    }
}
