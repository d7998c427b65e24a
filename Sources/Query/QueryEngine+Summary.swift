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
    /// digests of every row in it (never averaged per bucket), by the same code as ``usage(_:unsealed:segments:)`` with one bucket.
    public func summary(_ q: UsageQuery, unsealed: [UsageEvent] = [], segments: [SegmentRecord]? = nil) throws -> UsageSummary {
        let (measures, digests, _, _) = try accumulate(q, [(q.startMs, q.endMs, "")], unsealed: unsealed, segments: segments)
        return UsageSummary(totals: measures[0], latency: LatencyPercentiles(digests[0]))
    }
}
