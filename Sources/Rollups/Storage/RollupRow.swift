import UsageIndex

// The values the rollup tables store and the rollup runs exchange with them (``RollupStore``).
// The layout of the `slices` and digest blobs is documented in schema/rollups.md.

/// Bucket size of a rollup table.
public enum RollupGranularity: String, Sendable, CaseIterable, Codable {
    /// `rollup_hourly`, keyed by the start of the UTC hour (ms since the epoch).
    case hour
    /// `rollup_daily`, keyed by the UTC day (`YYYY-MM-DD`).
    case day

    /// Length of one bucket in milliseconds.
    public var milliseconds: Int64 { self == .hour ? 3_600_000 : 86_400_000 }

    var table: String { self == .hour ? "rollup_hourly" : "rollup_daily" }
    var keyColumn: String { self == .hour ? "hour_start" : "day" }
}

/// One stored rollup bucket: an (org, UTC hour) or (org, UTC day).
///
/// The SQL columns are the bucket's totals, for convenience (plain SQL sums); a total that does not
/// fit a 64-bit integer is `nil` (SQL NULL) and the exact value is the sum of the bucket's
/// slices (Int128 in the `slices` blob). ``latencyDigest`` and ``slices`` are opaque to the
/// store; ``RollupRowCodec`` and ``RollupDigestCodec`` encode and decode them (schema/rollups.md).
public struct RollupRow: Sendable, Equatable {
    public var orgID: String
    /// Start of the bucket, ms since the epoch (UTC hour or UTC day start).
    public var bucketStart: Int64
    public var requestCount: Int64
    public var errorCount: Int64
    public var cacheHitCount: Int64
    /// Events whose costs are 0 because no price was known.
    public var unpricedCount: Int64
    public var inputTokens: Int64?
    public var outputTokens: Int64?
    public var cachedTokens: Int64?
    public var totalTokens: Int64?
    /// Costs in units of 1e-10 USD (exact).
    public var inputCost: Int64?
    public var outputCost: Int64?
    public var cachedCost: Int64?
    public var totalCost: Int64?
    /// Sum of latency_ms over the bucket's events that reported one.
    public var latencySumMs: Int64?
    /// Events that reported a latency; `nil` in rows written before latencies could be absent
    /// (every event then had one: the request count).
    public var latencyCount: Int64?
    /// Events that reported a time to first token, and the sum of those times.
    public var ttftCount: Int64
    public var ttftSumMs: Int64?
    /// The bucket's latency digest (Rollups digest encoding).
    public var latencyDigest: [UInt8]
    /// The bucket's time-to-first-token digest; empty in rows written before it existed.
    public var ttftDigest: [UInt8]
    /// Every dimension slice of the bucket (Rollups slices encoding).
    public var slices: [UInt8]
    /// Wall-clock ms when the row was computed.
    public var computedAt: Int64

    public init(
        orgID: String, bucketStart: Int64, requestCount: Int64, errorCount: Int64, cacheHitCount: Int64,
        unpricedCount: Int64, inputTokens: Int64?, outputTokens: Int64?, cachedTokens: Int64?, totalTokens: Int64?,
        inputCost: Int64?, outputCost: Int64?, cachedCost: Int64?, totalCost: Int64?, latencySumMs: Int64?,
        ttftCount: Int64, ttftSumMs: Int64?, latencyDigest: [UInt8], slices: [UInt8], computedAt: Int64,
        latencyCount: Int64? = nil, ttftDigest: [UInt8] = []
    ) {
        self.orgID = orgID
        self.bucketStart = bucketStart
        self.requestCount = requestCount
        self.errorCount = errorCount
        self.cacheHitCount = cacheHitCount
        self.unpricedCount = unpricedCount
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedTokens = cachedTokens
        self.totalTokens = totalTokens
        self.inputCost = inputCost
        self.outputCost = outputCost
        self.cachedCost = cachedCost
        self.totalCost = totalCost
        self.latencySumMs = latencySumMs
        self.ttftCount = ttftCount
        self.ttftSumMs = ttftSumMs
        self.latencyDigest = latencyDigest
        self.latencyCount = latencyCount
        self.ttftDigest = ttftDigest
        self.slices = slices
        self.computedAt = computedAt
    }
}

/// A dirty (org, hour) mark as read at the start of a rollup run.
public struct DirtyMark: Sendable, Hashable {
    public var orgID: String
    public var hourStart: Int64
    public var markedAt: Int64
    /// The hour must be recomputed from all its segments: folding the unrolled segments' events
    /// into its stored row is not enough (an index from before folding, or a compaction that
    /// replaced segments a rollup run was folding).
    public var recompute: Bool
    public init(orgID: String, hourStart: Int64, markedAt: Int64, recompute: Bool = true) {
        self.orgID = orgID
        self.hourStart = hourStart
        self.markedAt = markedAt
        self.recompute = recompute
    }
}

/// What a rollup run reads before computing: the dirty marks and the segment catalog, from one
/// consistent snapshot of the index.
public struct RollupSnapshot: Sendable {
    public var dirty: [DirtyMark]
    public var segments: [SegmentRecord]
    /// The largest segment id in the snapshot (0 when there is none). A segment registered later has
    /// a larger id, and its dirty marks must survive this run.
    public var maxSegmentID: Int64
}

/// The rows a rollup run replaces for one (org, UTC day), written by ``RollupStore/commit(_:marks:maxSegmentID:jobRun:)``.
public struct RollupDayUpdate: Sendable {
    public var orgID: String
    /// `YYYY-MM-DD`.
    public var day: String
    /// The hours recomputed (their old rows are deleted), ms since the epoch.
    public var hours: [Int64]
    /// The new rows of those hours (hours without events have none).
    public var hourly: [RollupRow]
    /// Whether the daily row is replaced (else it is left as it is).
    public var replacesDay: Bool
    /// The new daily row (`nil`: the day has no events, its row is deleted).
    public var daily: RollupRow?
    /// Segments whose events of `settledHours` are now in the rollups: their
    /// ``SegmentRecord/unrolledHours`` bits are cleared. If one of them is gone when the run
    /// commits (compaction replaced it), those hours are marked for recomputation.
    public var settled: [Int64]
    /// Hour bits (0 = the day's first UTC hour) the run processed.
    public var settledHours: UInt32

    public init(orgID: String, day: String, hours: [Int64], hourly: [RollupRow], replacesDay: Bool, daily: RollupRow?,
                settled: [Int64] = [], settledHours: UInt32 = 0) {
        self.orgID = orgID
        self.day = day
        self.hours = hours
        self.hourly = hourly
        self.replacesDay = replacesDay
        self.daily = daily
        self.settled = settled
        self.settledHours = settledHours
    }
}
