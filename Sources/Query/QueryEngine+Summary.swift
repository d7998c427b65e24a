import Rollups
import TDigest
import TokentraCore
import UsageIndex

/// Totals of a whole range with its latency percentiles from one merged digest.
public struct UsageSummary: Sendable {
    public var totals: RollupMeasures
    public var latency: LatencyPercentiles
}

extension QueryEngine {
    /// The totals of the query's whole range (filters applied) and the percentiles of the merged
    /// digests of every row in it (never averaged per bucket). Reads the same rows as ``usage(_:unsealed:segments:)``.
    public func summary(_ q: UsageQuery, unsealed: [UsageEvent] = [], segments: [SegmentRecord]? = nil) throws -> UsageSummary {
        let filterDimension = q.filters.active.first?.dimension
        let rows = try rows(q, [(q.startMs, q.endMs, "")], slices: filterDimension != nil, unsealed: unsealed, segments: segments)
        var totals = RollupMeasures()
        var digests: [TDigest] = []
        for row in rows where row.bucketStart >= q.startMs && row.bucketStart < q.endMs {
            let (m, ds) = try contribution(row, filterDimension, q.filters)
            totals.add(m)
            digests += ds
        }
        return UsageSummary(totals: totals, latency: LatencyPercentiles(digests))
    }
}
