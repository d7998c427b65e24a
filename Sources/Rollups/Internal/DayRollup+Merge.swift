import TDigest
import TokentraCore
import UsageIndex

/// The merged rows of ``DayRollup``: the day from its hours, and rows folded from a stored row
/// plus new events.
extension DayRollup {
    /// The row of `bucketStart` that merges the selected hours' events with `stored` buckets: the
    /// day (its hours recomputed plus its other stored hours), or an hour or day folded (its stored
    /// row plus the new events). `nil` when there are no events at all.
    ///
    /// `keepUntouched` (folding): a slice with no new values keeps its one stored digest unchanged
    /// instead of being re-merged.
    mutating func mergedRow(_ p: Prepared, stored: [StoredBucket], bucketStart: Int64, computedAt: Int64,
                            keepUntouched: Bool = false) -> RollupRow? {
        let (counts, slotsByDimension, orders, grouped, keyOrder, cross, sketches) =
            (p.counts, p.slotsByDimension, p.orders, p.grouped, p.keyOrder, p.cross, p.sketches)
        var scratch = BlobWriter(capacity: 4096)
        var dayStored = Stored(
            sums: counts.map { [RollupMeasures](repeating: RollupMeasures(), count: $0) },
            digests: (0..<2).map { _ in counts.map { [[RollupDigestCodec.MergeInput]](repeating: [], count: $0) } },
            cross: Array(repeating: [:], count: 3))
        var dayTotal = RollupMeasures()
        var dayTotalDigests: [[RollupDigestCodec.MergeInput]] = [[], []]
        for b in stored {
            dayTotal.add(b.total)
            dayTotalDigests[0].append(b.latency)
            dayTotalDigests[1].append(b.ttft)
            for s in b.dimensions[.model] ?? [] {
                let p = Int(pairID(provider: s.key.provider, model: s.key.value ?? ""))
                dayStored.sums[1][p].add(s.measures)
                dayStored.digests[0][1][p].append(s.latency)
                dayStored.digests[1][1][p].append(s.ttft)
                for (bi, a) in Self.breakdownAttributes.enumerated() {
                    for e in s.breakdowns[Self.attributeDimensions[a]] ?? [] {
                        let key = p * counts[2 + a] + Int(valueID(a, e.value))
                        dayStored.cross[bi][key, default: Cell()].requests += e.requests
                        dayStored.cross[bi][key, default: Cell()].cost += e.cost
                    }
                }
            }
            for (a, d) in Self.attributeDimensions.enumerated() {
                for s in b.dimensions[d] ?? [] {
                    let v = Int(valueID(a, s.key.value))
                    dayStored.sums[2 + a][v].add(s.measures)
                    dayStored.digests[0][2 + a][v].append(s.latency)
                    dayStored.digests[1][2 + a][v].append(s.ttft)
                }
            }
        }
        for h in 0..<24 { dayTotal.add(sums[0][h]) }
        guard dayTotal.requests > 0 else { return nil }

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

        let dayGrouped = (0..<2).map { m in
            (0..<Self.dimensionCount).map {
                groupDay(m, slots: slotsByDimension[$0], values: counts[$0], hourly: grouped[m][$0], order: orders[m])
            }
        }

        /// The day's digest of value v of dimension d: the merge of its hourly digests. Exact-mode
        /// hourly digests enter as their point masses (value, count in the hour), ordered by value
        /// then count as the merge orders them, so the result is the same as
        /// `TDigest.merged(hourly digests)`.
        func writeDayDigest(_ m: Int, _ d: Int, _ v: Int, storedDigests: [RollupDigestCodec.MergeInput], into w: inout BlobWriter) {
            // Folding: a slice without new values keeps its stored digest as it is.
            if keepUntouched, storedDigests.count == 1, case .digest(let only) = storedDigests[0],
               (0..<24).allSatisfy({ grouped[m][d].count(v * 24 + $0) == 0 }) {
                RollupDigestCodec.encode(only, into: &w)
                return
            }
            var items: [PointMass] = []
            let values = dayGrouped[m][d].values[dayGrouped[m][d].range(v)]
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
                for weight in weights { items.append(PointMass(value: Double(x), weight: weight)) }
            }
            var sketchParts: [TDigest] = []
            var storedExact = false
            for s in storedDigests {
                switch s {
                case .points(let points):
                    storedExact = true
                    items.append(contentsOf: points)
                case .digest(let digest):
                    sketchParts.append(digest)
                }
            }
            if storedExact { items.sort { $0.value < $1.value || ($0.value == $1.value && $0.weight < $1.weight) } }
            for h in 0..<24 {
                let slot = v * 24 + h
                if grouped[m][d].count(slot) > TDigest.exactCapacity {
                    sketchParts.append(sketches[m][d][slot] ?? digest(grouped[m][d].values[grouped[m][d].range(slot)]))
                }
            }
            if sketchParts.isEmpty, writeExact(pairs: items, into: &w) { return }
            RollupDigestCodec.encode(merge(exactItems: items, digests: sketchParts), into: &w)
        }

        var table = RowStrings(count: strings.count)
        var totalDigest = BlobWriter(capacity: 2048), totalTTFT = BlobWriter(capacity: 2048)
        writeDayDigest(0, 0, 0, storedDigests: dayTotalDigests[0], into: &totalDigest)
        writeDayDigest(1, 0, 0, storedDigests: dayTotalDigests[1], into: &totalTTFT)
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
                for m in 0..<2 {
                    var digestBytes = BlobWriter(capacity: 2048)
                    writeDayDigest(m, d, vi, storedDigests: dayStored.digests[m][d][vi], into: &digestBytes)
                    scratch.uvarint(UInt64(digestBytes.bytes.count))
                    scratch.append(digestBytes.bytes)
                }
                if d == 1 {
                    writeBreakdowns(pair: vi, bucket: 0, buckets: 1, cross: dayCross, keyOrder: keyOrder,
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
            orgID: orgID, bucketStart: bucketStart, total: dayTotal, latencyDigest: totalDigest.bytes, ttftDigest: totalTTFT.bytes,
            strings: table.strings.map { strings[Int($0)] }, sections: head.bytes + sections.bytes, computedAt: computedAt)
        return daily
    }
}
