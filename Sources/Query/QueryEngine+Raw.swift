import Foundation
import Rollups
import TDigest
import TokentraCore
import UsageIndex

/// Which questions the rollups answer exactly, and the raw-segment answers for the others.
///
/// Rollup rows hold one attribute at a time, per UTC hour. They answer a usage series filtered on
/// one dimension and a breakdown by a dimension filtered on that same dimension. Everything else
/// (filters on two dimensions, a filter on one with a breakdown by another, user ids, metadata
/// keys) is read from the raw segments (`meta.source = "segments"`); bucket edges inside a UTC
/// hour (zones with 30- or 45-minute offsets) are read from the raw segments of those hours only
/// (`"rollups+segments"`). Raw segments exist as long as the org's raw retention keeps them.
extension QueryEngine {
    static let hourMs: Int64 = 3_600_000

    /// Whether rollup slices hold the usage series' answer (the filters touch one dimension).
    static func rollupsAnswerUsage(_ q: UsageQuery) -> Bool {
        guard let dims = q.filters.dimensions else { return false }
        return dims.count <= 1
    }

    /// Whether rollup slices hold the breakdown (a rollup dimension, filters on it only).
    static func rollupsAnswerBreakdown(_ q: UsageQuery) -> Bool {
        guard let d = q.breakdown?.attribute.dimension, let dims = q.filters.dimensions else { return false }
        return dims.isSubset(of: [d])
    }

    /// The parts of the buckets that do not start or end on a whole UTC hour, and the buckets
    /// narrowed to whole hours (what the rollups answer).
    static func split(_ buckets: [(start: Int64, end: Int64, label: String)])
        -> (aligned: [(start: Int64, end: Int64, label: String)], partial: [(Int64, Int64)])
    {
        var aligned: [(start: Int64, end: Int64, label: String)] = []
        var partial: [(Int64, Int64)] = []
        func add(_ a: Int64, _ b: Int64) {
            guard a < b else { return }
            if let last = partial.last, last.1 == a { partial[partial.count - 1].1 = b } else { partial.append((a, b)) }
        }
        for b in buckets {
            let up = (b.start + hourMs - 1) / hourMs * hourMs
            let down = b.end / hourMs * hourMs
            if up >= down {
                add(b.start, b.end)
                continue
            }
            add(b.start, up)
            aligned.append((up, down, b.label))
            add(down, b.end)
        }
        return (aligned, partial)
    }

    /// The org's segments for the query's range, after checking that retention has not removed
    /// raw events the answer needs.
    func rawSegments(_ q: UsageQuery, ranges: [(Int64, Int64)], given: [SegmentRecord]?, reason: String) throws -> [SegmentRecord] {
        guard dataDirectory != nil, let first = ranges.first, let last = ranges.last else { return [] }
        let fromDay = IndexDatabase.dayString(first.0), toDay = IndexDatabase.dayString(last.1 - 1)
        let segments = try given ?? index.segments(orgID: q.orgID, fromDay: fromDay, toDay: toDay)
        let raw = Set(segments.map(\.day))
        let rolled = try rollups.days(orgID: q.orgID, fromDay: fromDay, toDay: toDay)
        let retired = rolled.filter { day in
            !raw.contains(day) && ranges.contains { r in
                guard let start = IndexDatabase.dayStart(day) else { return false }
                return start < r.1 && start + 86_400_000 > r.0
            }
        }.sorted()
        if let gone = retired.last {
            let next = IndexDatabase.dayString(IndexDatabase.dayStart(gone)! + 86_400_000)
            throw QueryError("start_date", "\(reason), which only the raw segments hold; the raw events of \(retired.first!)…\(gone) (UTC) were removed by retention, so this question can cover \(next) onwards", code: "RAW_DATA_RETIRED")
        }
        return segments.filter { $0.orgID == q.orgID }
    }

    /// Why a question needs the raw segments (for messages).
    static func rawReason(_ q: UsageQuery) -> String {
        let names = q.filters.values.map(\.attribute.name)
        if let b = q.breakdown, !rollupsAnswerBreakdown(q) {
            if b.attribute.dimension == nil { return "a breakdown by \(b.attribute.name) is not in the rollups" }
            return "a breakdown by \(b.attribute.name) filtered on \(names.joined(separator: ", ")) is not in the rollups"
        }
        if !rollupsAnswerUsage(q) { return "filters on \(names.joined(separator: " and ")) together are not in the rollups" }
        return "time zone \(q.timeZoneName) has bucket edges inside UTC hours"
    }

    /// Scans the raw segments for `ranges`, in `buckets`, grouped by `group`.
    func scan(_ q: UsageQuery, ranges: [(Int64, Int64)], bucketStarts: [Int64], group: QueryAttribute?,
              unsealed: [UsageEvent], segments: [SegmentRecord]?) throws -> [RawScan.Key: RawScan.Group] {
        guard !ranges.isEmpty else { return [:] }
        guard let dataDirectory else {
            throw QueryError("start_date", "\(Self.rawReason(q)); this reader has no data directory to read raw segments from", code: "RAW_DATA_UNAVAILABLE")
        }
        let list = try rawSegments(q, ranges: ranges, given: segments, reason: Self.rawReason(q))
        let scan = RawScan(dataDirectory: dataDirectory, filters: q.filters, group: group, bucketStarts: bucketStarts, ranges: ranges)
        do {
            return try scan.run(segments: list, unsealed: unsealed)
        } catch let e as QueryError {
            throw e
        } catch {
            throw ReadError(description: "reading raw segments of \(q.orgID): \(error)")
        }
    }
}
