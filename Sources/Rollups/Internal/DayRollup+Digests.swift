import TDigest

/// The digest side of ``DayRollup``: each metric's values ordered and grouped per slot, and
/// digests written from them (exact-mode digests straight from sorted integers).
extension DayRollup {
    /// Indices of the events that reported metric `m`, in increasing (value, hour) order.
    func order(_ m: Int) -> [Int32] {
        let values = evValues[m]
        let n = events
        if n < 1 << 24, values.allSatisfy({ $0 < 1 << 35 }) {
            var keys: [UInt64] = []
            keys.reserveCapacity(n)
            for e in 0..<n where values[e] >= 0 { keys.append(UInt64(values[e]) << 29 | UInt64(evHour[e]) << 24 | UInt64(e)) }
            keys.sort()
            return keys.map { Int32(truncatingIfNeeded: $0 & 0xFF_FFFF) }
        }
        return (0..<Int32(n)).filter { values[Int($0)] >= 0 }.sorted {
            let a = Int($0), b = Int($1)
            return (values[a], evHour[a], a) < (values[b], evHour[b], b)
        }
    }

    /// One metric's values grouped by slot (each group sorted), with each slot's start offset.
    struct Grouped {
        var starts: [Int32]
        var values: [Int64]
        @inline(__always) func count(_ slot: Int) -> Int { Int(starts[slot + 1] - starts[slot]) }
        @inline(__always) func range(_ slot: Int) -> Range<Int> { Int(starts[slot])..<Int(starts[slot + 1]) }
    }

    func group(_ metric: Int, slots: [Int32], count: Int, order: [Int32]) -> Grouped {
        var starts = [Int32](repeating: 0, count: count + 1)
        var values = [Int64](repeating: 0, count: order.count)
        starts.withUnsafeMutableBufferPointer { st in
            slots.withUnsafeBufferPointer { sl in
                for e in order { st[Int(sl[Int(e)]) + 1] &+= 1 }
                for s in 0..<count { st[s + 1] &+= st[s] }
                var fill = Array(st)
                fill.withUnsafeMutableBufferPointer { f in
                    values.withUnsafeMutableBufferPointer { v in
                        evValues[metric].withUnsafeBufferPointer { lat in
                            for e in order {
                                let s = Int(sl[Int(e)])
                                v[Int(f[s])] = lat[Int(e)]
                                f[s] &+= 1
                            }
                        }
                    }
                }
            }
        }
        return Grouped(starts: starts, values: values)
    }

    /// For the day: per value, `latency << 5 | hour` of the events of its exact-mode hours (hours
    /// with at most 200 of its events), sorted; the larger hours are merged as digests.
    func groupDay(_ metric: Int, slots: [Int32], values count: Int, hourly: Grouped, order: [Int32]) -> Grouped {
        var starts = [Int32](repeating: 0, count: count + 1)
        var kept = 0
        for s in 0..<(count * 24) where hourly.count(s) <= TDigest.exactCapacity {
            starts[s / 24 + 1] += Int32(hourly.count(s))
            kept += hourly.count(s)
        }
        for v in 0..<count { starts[v + 1] += starts[v] }
        var values = [Int64](repeating: 0, count: kept)
        var fill = starts
        let limit = Int32(TDigest.exactCapacity)
        hourly.starts.withUnsafeBufferPointer { hs in
            slots.withUnsafeBufferPointer { sl in
                fill.withUnsafeMutableBufferPointer { f in
                    values.withUnsafeMutableBufferPointer { v in
                        evValues[metric].withUnsafeBufferPointer { lat in
                            evHour.withUnsafeBufferPointer { hours in
                                for e in order {
                                    let s = Int(sl[Int(e)])
                                    guard hs[s + 1] &- hs[s] <= limit else { continue }
                                    let day = s / 24
                                    v[Int(f[day])] = lat[Int(e)] << 5 | Int64(hours[Int(e)])
                                    f[day] &+= 1
                                }
                            }
                        }
                    }
                }
            }
        }
        return Grouped(starts: starts, values: values)
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

    /// Writes an exact-mode digest from point masses (any order); false when not possible.
    func writeExact(pairs input: [PointMass], into w: inout BlobWriter) -> Bool {
        guard let c = directCompression else { return false }
        var total = 0
        for p in input {
            guard p.value >= 0, p.value < RollupDigestCodec.exactIntegerLimit, p.value.rounded(.towardZero) == p.value else { return false }
            total += p.weight
        }
        guard total >= 1, total <= TDigest.exactCapacity else { return false }
        let sorted = input.sorted { $0.value < $1.value }
        var combined: [PointMass] = []
        combined.reserveCapacity(sorted.count)
        for p in sorted {
            if let last = combined.last, last.value == p.value {
                combined[combined.count - 1].weight += p.weight
            } else {
                combined.append(p)
            }
        }
        w.bytes.append(RollupDigestCodec.exactIntegerTag)
        w.uvarint(c)
        w.uvarint(UInt64(combined.count))
        var previous: UInt64 = 0
        for p in combined {
            let x = UInt64(p.value)
            if p.weight > 1 {
                w.uvarint((x - previous) << 1 | 1)
                w.uvarint(UInt64(p.weight - 2))
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
        var items: [PointMass] = []
        items.reserveCapacity(values.count)
        var i = values.startIndex
        while i < values.endIndex {
            let v = values[i]
            var j = i + 1
            while j < values.endIndex && values[j] == v { j += 1 }
            items.append(PointMass(value: Double(v), weight: j - i))
            i = j
        }
        return merge(exactItems: items, digests: [])
    }

    /// Merges point masses (value, weight) — the values of exact-mode digests — with other digests.
    ///
    /// The point masses are added, in sorted order, to the buffers of fresh digests (never enough
    /// to trigger a flush), and everything is combined by one ``TDigest/merged(_:compression:)``.
    /// Buffered values and the centroids of exact-mode digests are both splittable point masses
    /// for the merge, so this equals merging the exact-mode digests themselves, while handing the
    /// merge long sorted runs.
    func merge(exactItems items: [PointMass], digests: [TDigest]) -> TDigest {
        var parts = digests
        var start = 0
        while start < items.count {
            let end = min(items.count, start + chunk)
            var b = TDigest(compression: compression)
            for k in start..<end { b.add(items[k].value, weight: items[k].weight) }
            parts.append(b)
            start = end
        }
        return TDigest.merged(parts, compression: compression)
    }
}
