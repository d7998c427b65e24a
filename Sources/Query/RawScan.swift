import Dispatch
import Foundation
import Rollups
import SegmentStore
import Synchronization
import TDigest
import TokentraCore
import UsageIndex

/// Answers a question the rollups cannot hold from the raw columnar segments: any filters
/// (attributes of several dimensions, user ids, metadata keys), grouped by any attribute, in any
/// buckets. Only the columns the question needs are decoded (the measures, plus one dictionary
/// column per filter and for the group); segments are scanned in parallel. Sums are exact;
/// percentiles come from a digest of the raw latencies (exact up to 200 values per group).
struct RawScan: Sendable {
    let dataDirectory: String
    let filters: QueryFilters
    /// What rows are grouped by; `nil` groups by bucket only.
    let group: QueryAttribute?
    /// Bucket `i` is `[bucketStarts[i], bucketStarts[i + 1])`; the last ends where the ranges end.
    let bucketStarts: [Int64]
    /// The time ranges to read, sorted and disjoint (`[start, end)` ms).
    let ranges: [(Int64, Int64)]

    struct Key: Hashable, Sendable {
        var bucket: Int
        /// The provider, when grouped by model; `""` otherwise.
        var provider: String
        var value: String?
    }

    struct Group: Sendable {
        var measures = RollupMeasures()
        /// Values of the events that reported them (made into a digest only when needed: a top-N
        /// does it for its shown rows only).
        var latencies: [Double] = []
        var ttfts: [Double] = []

        mutating func merge(_ o: Group) {
            measures.add(o.measures)
            latencies += o.latencies
            ttfts += o.ttfts
        }

        var digest: TDigest { TDigest(latencies) }
        var ttftDigest: TDigest { TDigest(ttfts) }
    }

    /// Scans `segments` (skipping those outside the ranges) and the unsealed events.
    func run(segments: [SegmentRecord], unsealed: [UsageEvent]) throws -> [Key: Group] {
        let wanted = segments.filter { s in ranges.contains { s.minTs < $0.1 && s.maxTs >= $0.0 } }
        let results = Mutex<[Key: Group]>([:])
        let failure = Mutex<(any Error)?>(nil)
        let workers = min(wanted.count, max(1, ProcessInfo.processInfo.activeProcessorCount))
        if workers > 0 {
            let next = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                var local = Accumulator()
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    guard i < wanted.count, failure.withLock({ $0 == nil }) else { break }
                    do {
                        try scan(dataDirectory + "/" + wanted[i].file, into: &local)
                    } catch {
                        failure.withLock { $0 = $0 ?? error }
                    }
                }
                results.withLock { all in
                    for (k, slot) in local.index { all[k, default: Group()].merge(local.groups[slot]) }
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        var out = results.withLock { $0 }
        for e in unsealed where inRanges(e.timestampMs) && filters.matches(e) {
            let key = Key(bucket: bucket(e.timestampMs), provider: group == .model ? e.provider : "",
                          value: group.flatMap { $0.value(of: e) })
            out[key, default: Group()].measures.add(e)
            if let l = e.latencyMs { out[key]!.latencies.append(Double(l)) }
            if let t = e.timeToFirstTokenMs { out[key]!.ttfts.append(Double(t)) }
        }
        return out
    }

    @inline(__always) func inRanges(_ t: Int64) -> Bool {
        if ranges.count == 1 { return t >= ranges[0].0 && t < ranges[0].1 }
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].0 <= t { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 && t < ranges[lo - 1].1
    }

    @inline(__always) func bucket(_ t: Int64) -> Int {
        if bucketStarts.count == 1 { return 0 }
        var lo = 0, hi = bucketStarts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bucketStarts[mid] <= t { lo = mid + 1 } else { hi = mid }
        }
        return max(0, lo - 1)
    }

    /// The value of each dictionary entry of `attribute` (index = code - 1).
    static func entryValues(_ attribute: QueryAttribute, _ entries: [String]) -> [String?] {
        if case .metadata(let key) = attribute { return entries.map { MetadataLookup.value(key, inJSON: $0) } }
        return entries
    }

    /// One worker's groups over all the segments it scanned: each key gets a slot once, and rows
    /// add to their slot directly (no per-segment groups to merge).
    struct Accumulator {
        var index: [Key: Int] = [:]
        var groups: [Group] = []

        mutating func slot(_ key: Key) -> Int {
            if let s = index[key] { return s }
            index[key] = groups.count
            groups.append(Group())
            return groups.count - 1
        }
    }

    func scan(_ path: String, into acc: inout Accumulator) throws {
        let reader = try SegmentReader(path: path)
        let m = try reader.measures()
        let n = m.timestamps.count
        func dictionary(_ a: QueryAttribute) throws -> (entries: [String?], codes: [Int32]) {
            switch a {
            case .provider: return (m.provider.entries, m.provider.codes)
            case .model: return (m.model.entries, m.model.codes)
            default:
                let d = try reader.dictionary(a.column)
                return (Self.entryValues(a, d.entries), d.codes)
            }
        }
        // Each filter becomes a table: does dictionary code c pass?
        var tables: [(codes: [Int32], pass: [Bool])] = []
        for f in filters.values {
            let d = try dictionary(f.attribute)
            var pass = [f.value == SliceKey.noneLabel]
            for v in d.entries { pass.append((v ?? SliceKey.noneLabel) == f.value) }
            if !pass.contains(true) { return }  // nothing in this segment can match
            tables.append((d.codes, pass))
        }
        let grouping = try group.map(dictionary)
        let byModel = group == .model
        let codeCount = (grouping?.entries.count ?? 0) + 1
        let providerCount = byModel ? m.provider.entries.count + 1 : 1
        // (Dictionary codes are bounded by their entry counts when the reader decodes them.)
        func key(_ b: Int, _ code: Int32, _ pc: Int32) -> Key {
            Key(bucket: b, provider: byModel && pc > 0 ? m.provider.entries[Int(pc) - 1] : "",
                value: code > 0 ? grouping?.entries[Int(code) - 1] : nil)
        }
        // (bucket, group code, provider code) → the accumulator's slot: a dense table when small.
        let denseSize = bucketStarts.count * codeCount * providerCount
        var dense = [Int32](repeating: -1, count: denseSize <= 1 << 20 ? denseSize : 0)
        var sparse: [Int64: Int] = [:]
        rows: for i in 0..<n {
            let t = m.timestamps[i]
            guard inRanges(t) else { continue }
            for table in tables where !table.pass[Int(table.codes[i])] { continue rows }
            let b = bucket(t)
            let code = grouping?.codes[i] ?? 0
            let pc = byModel ? m.provider.codes[i] : 0
            let slot: Int
            if !dense.isEmpty {
                let cell = (b * codeCount + Int(code)) * providerCount + Int(pc)
                if dense[cell] >= 0 {
                    slot = Int(dense[cell])
                } else {
                    slot = acc.slot(key(b, code, pc))
                    dense[cell] = Int32(slot)
                }
            } else {
                let composite = (Int64(b) << 40) | (Int64(code) << 20) | Int64(pc)
                if let s = sparse[composite] {
                    slot = s
                } else {
                    slot = acc.slot(key(b, code, pc))
                    sparse[composite] = slot
                }
            }
            acc.groups[slot].add(row: i, of: m)
        }
    }
}

extension RawScan.Group {
    /// Adds row `i` of a segment's measures.
    @inline(__always)
    mutating func add(row i: Int, of m: SegmentReader.Measures) {
        let flags = m.flags[i]
        measures.requests += 1
        measures.errors += Int64((flags >> 1) & 1)
        measures.cacheHits += Int64(flags & 1)
        if m.costSource[i] == 1 { measures.unpriced += 1 }
        measures.inputTokens += Int128(m.inputTokens[i])
        measures.outputTokens += Int128(m.outputTokens[i])
        measures.cachedTokens += Int128(m.cachedTokens[i])
        measures.totalTokens += Int128(m.totalTokens[i])
        measures.inputCost += Int128(m.inputCost[i])
        measures.outputCost += Int128(m.outputCost[i])
        measures.cachedCost += Int128(m.cachedCost[i])
        measures.totalCost += Int128(m.totalCost[i])
        let latency = m.latencyMs[i]  // -1: not reported
        if latency >= 0 {
            measures.latencyCount += 1
            measures.latencySumMs += Int128(latency)
            latencies.append(Double(latency))
        }
        let ttft = m.timeToFirstTokenMs[i]  // 0: not reported, else value + 1
        if ttft != 0 {
            measures.ttftCount += 1
            measures.ttftSumMs += Int128(ttft - 1)
            ttfts.append(Double(ttft - 1))
        }
    }
}
