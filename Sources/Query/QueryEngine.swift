import Foundation
import Rollups
import TDigest
import TokentraCore
import UsageIndex

/// Percentiles (ms) of a set of events' latencies or times to first token, from a merged
/// t-digest of the events that reported one; `nil` without any.
public struct LatencyPercentiles: Sendable, Equatable {
    public var p50: Double?
    public var p95: Double?
    public var p99: Double?

    init(_ digests: [TDigest]) {
        let merged = digests.count == 1 ? digests[0] : TDigest.merged(digests)
        let qs = merged.quantiles([0.5, 0.95, 0.99])
        p50 = qs?[0]
        p95 = qs?[1]
        p99 = qs?[2]
    }
}

/// Where the answer came from and how fresh it is.
public struct QueryMeta: Sendable {
    public var source = "rollups"
    /// When the last successful rollup run finished (ms), `nil` when none has.
    public var rollupFreshnessMs: Int64?
    public var granularity: QueryGranularity
    public var tz: String
    public var startMs: Int64
    public var endMs: Int64
}

/// One bucket of a usage time series (empty buckets have zero measures and `nil` percentiles).
public struct UsagePoint: Sendable {
    /// Start of the bucket, ms since the epoch (the range start for a partial first bucket).
    public var startMs: Int64
    /// `YYYY-MM-DD` (local date of the bucket start) or, for hours, an ISO-8601 timestamp with the tz offset.
    public var label: String
    public var measures: RollupMeasures
    public var latency: LatencyPercentiles
    public var ttft: LatencyPercentiles
}

/// The answer to `/v1/usage`.
public struct UsageResult: Sendable {
    public var totals: RollupMeasures
    public var points: [UsagePoint]
    public var meta: QueryMeta
}

/// One row of a breakdown.
public struct BreakdownRow: Sendable {
    public var key: SliceKey
    public var measures: RollupMeasures
    /// Share of the total cost of all rows (before `limit`), in percent; 0 when the total is 0.
    public var percentage: Double
    public var latency: LatencyPercentiles
    public var ttft: LatencyPercentiles
}

/// The answer to `/v1/usage/{models,teams,...}`.
public struct BreakdownResult: Sendable {
    public var breakdown: QueryBreakdown
    public var rows: [BreakdownRow]
    /// Totals over all rows (before `limit`).
    public var totals: RollupMeasures
    public var meta: QueryMeta
    public var sort: QuerySort
    public var limit: Int?
    /// The rows beyond `limit`, summed (`nil` when none were cut).
    public var other: (rows: Int, measures: RollupMeasures)?
}

/// Answers usage queries from the rollup tables, for the HTTP API and the CLI alike.
///
/// Buckets in any time zone are built from UTC hourly rows (whole UTC days inside a bucket use the
/// daily row instead); sums are exact, percentiles come from merged digests.
///
/// ```swift
/// let engine = QueryEngine(index: try IndexDatabase(path: dir + "/index.sqlite"))
/// let q = try UsageQuery.parse(orgID: "org_a", parameters: ["start_date": "2026-11-01", "end_date": "2026-11-08"], breakdown: nil)
/// let result = try engine.usage(q)
/// ```
public struct QueryEngine: Sendable {
    public let index: IndexDatabase
    /// The rollup tables of `index` (read through the Rollups module's storage API).
    let rollups: RollupStore

    /// The data directory, to include hours that are sealed but not yet rolled up (read from the
    /// raw segments); `nil` answers from the stored rollups only.
    public let dataDirectory: String?

    /// The current time, ms since the epoch (the `computed_at` of rows computed from raw segments).
    let wallClock: @Sendable () -> Int64

    public init(index: IndexDatabase, dataDirectory: String? = nil,
                wallClock: @escaping @Sendable () -> Int64 = SystemClock.wallClock) {
        self.index = index
        self.rollups = RollupStore(index, wallClock: wallClock)
        self.dataDirectory = dataDirectory
        self.wallClock = wallClock
    }

    /// Errors reading the rollups (not the client's fault).
    public struct ReadError: Error, CustomStringConvertible {
        public var description: String
    }

    // MARK: Bucketing

    /// The buckets [start, end) of the query in its time zone.
    static func buckets(_ q: UsageQuery) -> [(start: Int64, end: Int64, label: String)] {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = q.timeZone
        cal.firstWeekday = 2
        cal.minimumDaysInFirstWeek = 4
        var out: [(Int64, Int64, String)] = []
        var a = q.startMs
        while a < q.endMs {
            let b: Int64
            let labelStart: Int64
            if q.granularity == .hour {
                b = min(q.endMs, (a / 3_600_000 + 1) * 3_600_000)
                labelStart = a / 3_600_000 * 3_600_000
            } else {
                let component: Calendar.Component = switch q.granularity {
                case .day: .day
                case .week: .weekOfYear
                default: .month
                }
                let date = Date(timeIntervalSince1970: Double(a) / 1000)
                let interval = cal.dateInterval(of: component, for: date)!
                labelStart = Int64((interval.start.timeIntervalSince1970 * 1000).rounded())
                b = min(q.endMs, Int64((interval.end.timeIntervalSince1970 * 1000).rounded()))
            }
            out.append((a, b, label(labelStart, q.granularity, cal)))
            a = b
        }
        return out
    }

    static func label(_ ms: Int64, _ g: QueryGranularity, _ cal: Calendar) -> String {
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let c = cal.dateComponents([.year, .month, .day, .hour], from: date)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        let day = "\(pad(c.year!, 4))-\(pad(c.month!, 2))-\(pad(c.day!, 2))"
        guard g == .hour else { return day }
        let offset = cal.timeZone.secondsFromGMT(for: date)
        let zone = offset == 0 ? "Z" : (offset < 0 ? "-" : "+") + pad(abs(offset) / 3600, 2) + ":" + pad(abs(offset) % 3600 / 60, 2)
        return day + "T" + pad(c.hour!, 2) + ":00:00" + zone
    }

    /// Which rows cover the buckets: daily rows for whole UTC days inside a bucket, hourly rows
    /// for the rest. Returns the ranges to read from each table, merged.
    static func coverage(_ buckets: [(start: Int64, end: Int64, label: String)]) -> (days: [(Int64, Int64)], hours: [(Int64, Int64)]) {
        var days: [(Int64, Int64)] = []
        var hours: [(Int64, Int64)] = []
        func add(_ list: inout [(Int64, Int64)], _ a: Int64, _ b: Int64) {
            guard a < b else { return }
            if let last = list.last, last.1 == a { list[list.count - 1].1 = b } else { list.append((a, b)) }
        }
        let day: Int64 = 86_400_000
        for bucket in buckets {
            let firstDay = (bucket.start + day - 1) / day * day
            let lastDay = bucket.end / day * day
            if firstDay < lastDay {
                add(&hours, bucket.start, firstDay)
                add(&days, firstDay, lastDay)
                add(&hours, lastDay, bucket.end)
            } else {
                add(&hours, bucket.start, bucket.end)
            }
        }
        return (days, hours)
    }

    /// Reads the rows covering the buckets, in no particular order.
    /// Without `slices`, rows come without their slices blob (totals and digest only).
    func rows(_ q: UsageQuery, _ buckets: [(start: Int64, end: Int64, label: String)], slices: Bool,
              unsealed: [UsageEvent], segments: [SegmentRecord]? = nil) throws -> [RollupRow] {
        let (days, hours) = Self.coverage(buckets)
        var dayRows: [RollupRow] = []
        var hourRows: [RollupRow] = []
        for (a, b) in days { dayRows += try storedRows(.day, orgID: q.orgID, fromMs: a, toMs: b, slices: slices) }
        for (a, b) in hours { hourRows += try storedRows(.hour, orgID: q.orgID, fromMs: a, toMs: b, slices: slices) }
        // The raw tail: hours sealed since the last rollup run are computed from the segments now
        // and replace their stored rows (and their days' rows).
        if let dataDirectory {
            let updates = try RollupEngine.pendingUpdates(
                index: index, dataDirectory: dataDirectory, orgID: q.orgID, fromMs: q.startMs, toMs: q.endMs,
                unsealed: unsealed, segments: segments, wallClock: wallClock)
            if !updates.isEmpty {
                func inside(_ t: Int64, _ ranges: [(Int64, Int64)]) -> Bool { ranges.contains { t >= $0.0 && t < $0.1 } }
                let freshHours = Set(updates.flatMap(\.hours))
                let freshDays = Set(updates.compactMap { IndexDatabase.dayStart($0.day) })
                hourRows.removeAll { freshHours.contains($0.bucketStart) }
                dayRows.removeAll { freshDays.contains($0.bucketStart) }
                for u in updates {
                    hourRows += u.hourly.filter { inside($0.bucketStart, hours) }
                    if let d = u.daily, inside(d.bucketStart, days) { dayRows.append(d) }
                }
            }
        }
        return dayRows + hourRows
    }

    /// The stored rows of one org with bucket start in [fromMs, toMs) (``RollupStore/rows(_:orgID:fromMs:toMs:slices:)``).
    func storedRows(_ g: RollupGranularity, orgID: String, fromMs: Int64, toMs: Int64, slices: Bool) throws -> [RollupRow] {
        do {
            return try rollups.rows(g, orgID: orgID, fromMs: fromMs, toMs: toMs, slices: slices)
        } catch let e as RollupError where e.code == .corrupt {
            throw ReadError(description: e.message)
        }
    }

    func meta(_ q: UsageQuery, unsealed: Bool = false) throws -> QueryMeta {
        let fresh = try index.lastSuccessfulJobRun(job: RollupEngine.jobName)?.finishedAt
        var meta = QueryMeta(rollupFreshnessMs: fresh, granularity: q.granularity, tz: q.timeZoneName,
                             startMs: q.startMs, endMs: q.endMs)
        if dataDirectory != nil {
            let dayStart = q.startMs - ((q.startMs % 86_400_000) + 86_400_000) % 86_400_000
            let pending = try rollups.dirtyHours().contains {
                $0.orgID == q.orgID && $0.hourStart >= dayStart && $0.hourStart < q.endMs
            }
            // Hours sealed after the last rollup run were read from the raw segments.
            if pending || unsealed { meta.source = "rollups+raw" }
        }
        return meta
    }

    /// Totals and digest of a row without decoding its slices, when the SQL columns hold them.
    static func fastTotals(_ row: RollupRow) -> RollupMeasures? {
        guard let it = row.inputTokens, let ot = row.outputTokens, let ct = row.cachedTokens, let tt = row.totalTokens,
              let ic = row.inputCost, let oc = row.outputCost, let cc = row.cachedCost, let tc = row.totalCost,
              let ls = row.latencySumMs, let ts = row.ttftSumMs
        else { return nil }
        var m = RollupMeasures()
        m.requests = row.requestCount
        m.errors = row.errorCount
        m.cacheHits = row.cacheHitCount
        m.unpriced = row.unpricedCount
        m.inputTokens = Int128(it)
        m.outputTokens = Int128(ot)
        m.cachedTokens = Int128(ct)
        m.totalTokens = Int128(tt)
        m.inputCost = Int128(ic)
        m.outputCost = Int128(oc)
        m.cachedCost = Int128(cc)
        m.totalCost = Int128(tc)
        m.latencySumMs = Int128(ls)
        m.latencyCount = row.latencyCount ?? row.requestCount
        m.ttftCount = row.ttftCount
        m.ttftSumMs = Int128(ts)
        return m
    }

    func decode(_ row: RollupRow, _ dims: Set<RollupDimension>) throws -> RollupBucket {
        do {
            return try RollupRowCodec.bucket(row, dimensions: dims)
        } catch {
            throw ReadError(description: "rollup row of \(row.orgID) at \(formatTimestamp(row.bucketStart)) is unreadable: \(error)")
        }
    }

    /// The matching part of a row: its totals (no filter) or the sum of the slices passing the
    /// filter, with the latency and time-to-first-token digests.
    func contribution(_ row: RollupRow, _ filterDimension: RollupDimension?, _ f: QueryFilters) throws
        -> (RollupMeasures, [TDigest], [TDigest])
    {
        guard let d = filterDimension else {
            if let m = Self.fastTotals(row) {
                do {
                    let ttft = row.ttftDigest.isEmpty ? TDigest() : try RollupDigestCodec.decode(row.ttftDigest)
                    return (m, [try RollupDigestCodec.decode(row.latencyDigest)], [ttft])
                } catch {
                    throw ReadError(description: "rollup digest of \(row.orgID) at \(formatTimestamp(row.bucketStart)) is unreadable: \(error)")
                }
            }
            // A total beyond 64 bits (SQL NULL): the exact value is the sum of the slices, which
            // storedRows then returns.
            let b = try decode(row, [])
            return (b.total, [b.latency], [b.ttft])
        }
        let b = try decode(row, [d])
        var m = RollupMeasures()
        var digests: [TDigest] = []
        var ttfts: [TDigest] = []
        for s in b.slices(d) where f.matches(s.key, dimension: d) {
            m.add(s.measures)
            digests.append(s.latency)
            ttfts.append(s.ttft)
        }
        return (m, digests, ttfts)
    }

    // MARK: Queries

    /// The usage time series: totals and one point per bucket (empty buckets included).
    /// - Parameter unsealed: acknowledged events not sealed into segments yet (the daemon passes
    ///   its memtable's), counted like the rest.
    /// - Parameter segments: the org's registered segments from a pinned snapshot taken with
    ///   `unsealed` (the daemon passes both, so a concurrent seal or compaction is seen atomically);
    ///   `nil` reads them from the index.
    public func usage(_ q: UsageQuery, unsealed: [UsageEvent] = [], segments: [SegmentRecord]? = nil) throws -> UsageResult {
        let buckets = Self.buckets(q)
        let (measures, digests, ttfts, source) = try accumulate(q, buckets, unsealed: unsealed, segments: segments)
        var totals = RollupMeasures()
        var points: [UsagePoint] = []
        points.reserveCapacity(buckets.count)
        for (i, bucket) in buckets.enumerated() {
            totals.add(measures[i])
            points.append(UsagePoint(startMs: bucket.start, label: bucket.label, measures: measures[i],
                                     latency: LatencyPercentiles(digests[i]), ttft: LatencyPercentiles(ttfts[i])))
        }
        var meta = try meta(q, unsealed: !unsealed.isEmpty)
        if let source { meta.source = source }
        return UsageResult(totals: totals, points: points, meta: meta)
    }

    /// The measures and digests of each bucket (rollup rows where they answer exactly, raw
    /// segments and unsealed events for the rest), and the source when not only rollups.
    func accumulate(_ q: UsageQuery, _ buckets: [(start: Int64, end: Int64, label: String)], unsealed: [UsageEvent],
                    segments: [SegmentRecord]?) throws -> (measures: [RollupMeasures], digests: [[TDigest]], ttfts: [[TDigest]], source: String?) {
        let starts = buckets.map(\.start)
        var measures = [RollupMeasures](repeating: RollupMeasures(), count: buckets.count)
        var digests = [[TDigest]](repeating: [], count: buckets.count)
        var ttfts = [[TDigest]](repeating: [], count: buckets.count)
        var source: String?
        var rawRanges: [(Int64, Int64)]
        if Self.rollupsAnswerUsage(q) {
            let (aligned, partial) = Self.split(buckets)
            rawRanges = partial
            let filterDimension = q.filters.values.first?.attribute.dimension
            let rows = aligned.isEmpty ? [] : try rows(q, aligned, slices: filterDimension != nil, unsealed: unsealed, segments: segments)
            for row in rows {
                // The bucket containing the row: the last bucket starting at or before it.
                var lo = 0, hi = starts.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if starts[mid] <= row.bucketStart { lo = mid + 1 } else { hi = mid }
                }
                let i = lo - 1
                guard i >= 0, row.bucketStart < buckets[i].end else { continue }
                let (m, ds, ts) = try contribution(row, filterDimension, q.filters)
                measures[i].add(m)
                digests[i] += ds
                ttfts[i] += ts
            }
            if !partial.isEmpty { source = "rollups+segments" }
        } else {
            rawRanges = [(q.startMs, q.endMs)]
            source = "segments"
        }
        if !rawRanges.isEmpty {
            let groups = try scan(q, ranges: rawRanges, bucketStarts: starts, group: nil, unsealed: unsealed, segments: segments)
            for (key, g) in groups {
                measures[key.bucket].add(g.measures)
                digests[key.bucket].append(g.digest)
                ttfts[key.bucket].append(g.ttftDigest)
            }
        }
        return (measures, digests, ttfts, source)
    }

    /// Usage grouped by one attribute over the whole range, sorted (descending) and limited; the
    /// rows beyond the limit are summed in ``BreakdownResult/other``.
    /// - Parameter unsealed: as for ``usage(_:unsealed:segments:)``.
    public func breakdown(_ q: UsageQuery, unsealed: [UsageEvent] = [], segments: [SegmentRecord]? = nil) throws -> BreakdownResult {
        guard let breakdown = q.breakdown else { preconditionFailure("breakdown query without a breakdown") }
        struct Acc {
            var measures = RollupMeasures()
            var digests: [TDigest] = []
            var ttfts: [TDigest] = []
            /// Raw values from the segments: made into digests only for the rows shown.
            var latencies: [Double] = []
            var ttftValues: [Double] = []
        }
        var groups: [SliceKey: Acc] = [:]
        var source: String?
        let whole = [(start: q.startMs, end: q.endMs, label: "")]
        var rawRanges: [(Int64, Int64)]
        if Self.rollupsAnswerBreakdown(q), let d = breakdown.attribute.dimension {
            // The range as one bucket: whole UTC days from daily rows, the edges from hourly rows,
            // parts of hours from the raw segments.
            let (aligned, partial) = Self.split(whole)
            rawRanges = partial
            let rows = aligned.isEmpty ? [] : try rows(q, aligned, slices: true, unsealed: unsealed, segments: segments)
            for row in rows {
                let b = try decode(row, [d])
                for s in b.slices(d) where q.filters.matches(s.key, dimension: d) {
                    let key = breakdown.attribute == .provider ? SliceKey(value: s.key.provider) : s.key
                    groups[key, default: Acc()].measures.add(s.measures)
                    groups[key]!.digests.append(s.latency)
                    groups[key]!.ttfts.append(s.ttft)
                }
            }
            if !partial.isEmpty { source = "rollups+segments" }
        } else {
            rawRanges = [(q.startMs, q.endMs)]
            source = "segments"
        }
        if !rawRanges.isEmpty {
            let raw = try scan(q, ranges: rawRanges, bucketStarts: [q.startMs], group: breakdown.attribute,
                               unsealed: unsealed, segments: segments)
            for (key, g) in raw {
                let k = SliceKey(provider: key.provider, value: key.value)
                groups[k, default: Acc()].measures.add(g.measures)
                groups[k]!.latencies += g.latencies
                groups[k]!.ttftValues += g.ttfts
            }
        }
        var totals = RollupMeasures()
        for g in groups.values { totals.add(g.measures) }
        var list = groups.map { (key: $0.key, acc: $0.value) }
        func metric(_ m: RollupMeasures) -> Int128 {
            switch q.sort {
            case .cost: m.totalCost
            case .requests: Int128(m.requests)
            case .tokens: m.totalTokens
            }
        }
        list.sort { a, b in
            let x = metric(a.acc.measures), y = metric(b.acc.measures)
            return x != y ? x > y : a.key < b.key
        }
        var other: (rows: Int, measures: RollupMeasures)?
        if let limit = q.limit, list.count > limit {
            var rest = RollupMeasures()
            for item in list[limit...] { rest.add(item.acc.measures) }
            other = (list.count - limit, rest)
            list.removeLast(list.count - limit)
        }
        let rowsOut = list.map { item in
            BreakdownRow(key: item.key, measures: item.acc.measures, percentage: Self.percentage(item.acc.measures.totalCost, of: totals.totalCost),
                         latency: LatencyPercentiles(item.acc.digests + (item.acc.latencies.isEmpty ? [] : [TDigest(item.acc.latencies)])),
                         ttft: LatencyPercentiles(item.acc.ttfts + (item.acc.ttftValues.isEmpty ? [] : [TDigest(item.acc.ttftValues)])))
        }
        var meta = try meta(q, unsealed: !unsealed.isEmpty)
        if let source { meta.source = source }
        return BreakdownResult(breakdown: breakdown, rows: rowsOut, totals: totals, meta: meta, sort: q.sort, limit: q.limit, other: other)
    }

    /// `part` as a percentage of `total` (0 when the total is 0).
    static func percentage(_ part: Int128, of total: Int128) -> Double {
        total == 0 ? 0 : Double(part) * 100 / Double(total)
    }
}
