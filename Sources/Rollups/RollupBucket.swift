import TDigest
import TokentraCore

/// An attribution dimension a rollup bucket is broken down by.
///
/// Each event of a bucket falls in exactly one slice of every dimension (an event without a value
/// falls in the slice whose value is `nil`, exported as `"(none)"`). The raw values are stored in
/// the `slices` blob (schema/rollups.md); the ids are never reused.
public enum RollupDimension: UInt8, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// (provider, model) pairs: the seed's `usage_hourly`/`usage_daily` rows.
    case model = 1
    case feature = 2
    case team = 3
    case project = 4
    case environment = 5
    case costCenter = 6

    /// The name used in exports, queries and the docs.
    public var name: String {
        switch self {
        case .model: "model"
        case .feature: "feature"
        case .team: "team"
        case .project: "project"
        case .environment: "environment"
        case .costCenter: "cost_center"
        }
    }

    public var description: String { name }

    /// Parses ``name``.
    public init?(name: String) {
        guard let d = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = d
    }

    /// The dimensions a model slice carries request/cost maps for (the seed's by_feature, by_team,
    /// by_environment).
    public static let breakdownDimensions: [RollupDimension] = [.feature, .team, .environment]
}

/// Exact sums and counts of a set of events.
///
/// Token and cost sums are Int128 so no bucket overflows; costs are in units of 1e-10 USD
/// (``TokentraCore/Money``), so they are exact.
public struct RollupMeasures: Sendable, Equatable {
    public var requests: Int64 = 0
    public var errors: Int64 = 0
    public var cacheHits: Int64 = 0
    /// Events with no known price (their costs are 0).
    public var unpriced: Int64 = 0
    public var inputTokens: Int128 = 0
    public var outputTokens: Int128 = 0
    public var cachedTokens: Int128 = 0
    public var totalTokens: Int128 = 0
    public var inputCost: Int128 = 0
    public var outputCost: Int128 = 0
    public var cachedCost: Int128 = 0
    public var totalCost: Int128 = 0
    /// Events that reported a latency, and the sum of those latencies (ms).
    public var latencyCount: Int64 = 0
    public var latencySumMs: Int128 = 0
    /// Events that reported a time to first token, and the sum of those times.
    public var ttftCount: Int64 = 0
    public var ttftSumMs: Int128 = 0

    public init() {}

    /// Adds another set's sums and counts.
    @inline(__always)
    public mutating func add(_ o: RollupMeasures) {
        requests += o.requests
        errors += o.errors
        cacheHits += o.cacheHits
        unpriced += o.unpriced
        inputTokens += o.inputTokens
        outputTokens += o.outputTokens
        cachedTokens += o.cachedTokens
        totalTokens += o.totalTokens
        inputCost += o.inputCost
        outputCost += o.outputCost
        cachedCost += o.cachedCost
        totalCost += o.totalCost
        latencyCount += o.latencyCount
        latencySumMs += o.latencySumMs
        ttftCount += o.ttftCount
        ttftSumMs += o.ttftSumMs
    }

    /// Adds one event.
    public mutating func add(_ e: UsageEvent) {
        requests += 1
        if e.isError { errors += 1 }
        if e.wasCached { cacheHits += 1 }
        if e.costSource == .unpriced { unpriced += 1 }
        inputTokens += Int128(e.inputTokens)
        outputTokens += Int128(e.outputTokens)
        cachedTokens += Int128(e.cachedTokens)
        totalTokens += Int128(e.totalTokens)
        inputCost += Int128(e.inputCost.units)
        outputCost += Int128(e.outputCost.units)
        cachedCost += Int128(e.cachedCost.units)
        totalCost += Int128(e.totalCost.units)
        if let l = e.latencyMs {
            latencyCount += 1
            latencySumMs += Int128(l)
        }
        if let t = e.timeToFirstTokenMs {
            ttftCount += 1
            ttftSumMs += Int128(t)
        }
    }

    /// Mean latency in ms of the events that reported one, or `nil` without any.
    public var averageLatencyMs: Double? { latencyCount == 0 ? nil : Double(latencySumMs) / Double(latencyCount) }
    /// Mean time to first token in ms of the events that reported one, or `nil` without any.
    public var averageTTFTMs: Double? { ttftCount == 0 ? nil : Double(ttftSumMs) / Double(ttftCount) }
}

/// Identifies a slice within its dimension.
public struct SliceKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The provider, for ``RollupDimension/model`` slices; `""` otherwise.
    public var provider: String
    /// The model, or the attribution value; `nil` for events without one.
    public var value: String?

    public init(provider: String = "", value: String?) {
        self.provider = provider
        self.value = value
    }

    /// Byte-wise order (provider, then value, absent first), so the encoding is canonical.
    public static func < (a: SliceKey, b: SliceKey) -> Bool {
        if a.provider != b.provider { return a.provider.utf8.lexicographicallyPrecedes(b.provider.utf8) }
        switch (a.value, b.value) {
        case (nil, nil): return false
        case (nil, _): return true
        case (_, nil): return false
        case let (x?, y?): return x.utf8.lexicographicallyPrecedes(y.utf8)
        }
    }

    public var description: String {
        provider.isEmpty ? (value ?? SliceKey.noneLabel) : provider + "/" + (value ?? SliceKey.noneLabel)
    }

    /// How an absent value is shown in exports.
    public static let noneLabel = "(none)"
}

/// Requests and cost of one value inside a model slice's breakdown map.
public struct BreakdownEntry: Sendable, Equatable {
    /// The attribution value; `nil` for events without one.
    public var value: String?
    public var requests: Int64
    /// Total cost, 1e-10 USD units.
    public var cost: Int128

    public init(value: String?, requests: Int64, cost: Int128) {
        self.value = value
        self.requests = requests
        self.cost = cost
    }
}

/// One slice of a bucket: the events of one dimension value.
public struct RollupSlice: Sendable, Equatable {
    public var key: SliceKey
    public var measures: RollupMeasures
    /// Latency (ms) digest of the slice's events that reported one.
    public var latency: TDigest
    /// Time-to-first-token (ms) digest of the slice's events that reported one.
    public var ttft: TDigest
    /// For ``RollupDimension/model`` slices: requests and cost per feature, team and environment
    /// (each sorted by value, absent first). Empty for the other dimensions.
    public var breakdowns: [RollupDimension: [BreakdownEntry]]

    public init(key: SliceKey, measures: RollupMeasures, latency: TDigest, ttft: TDigest = TDigest(),
                breakdowns: [RollupDimension: [BreakdownEntry]] = [:]) {
        self.key = key
        self.measures = measures
        self.latency = latency
        self.ttft = ttft
        self.breakdowns = breakdowns
    }
}

/// A decoded rollup bucket: one (org, UTC hour) or (org, UTC day) with its totals, its latency
/// digest and its slices per dimension.
///
/// ```swift
/// let bucket = try RollupBucket(row: row, granularity: .hour)
/// let p95 = bucket.slices(.feature).first { $0.key.value == "chat" }?.latency.quantile(0.95)
/// ```
public struct RollupBucket: Sendable, Equatable {
    public var orgID: String
    /// Start of the bucket, ms since the epoch.
    public var bucketStart: Int64
    public var total: RollupMeasures
    public var latency: TDigest
    public var ttft: TDigest
    /// Slices per dimension, each sorted by key.
    public var dimensions: [RollupDimension: [RollupSlice]]

    public init(orgID: String, bucketStart: Int64, total: RollupMeasures, latency: TDigest, ttft: TDigest = TDigest(),
                dimensions: [RollupDimension: [RollupSlice]]) {
        self.orgID = orgID
        self.bucketStart = bucketStart
        self.total = total
        self.latency = latency
        self.ttft = ttft
        self.dimensions = dimensions
    }

    /// The slices of one dimension, sorted by key.
    public func slices(_ dimension: RollupDimension) -> [RollupSlice] { dimensions[dimension] ?? [] }

    /// Combines buckets of the same org into one starting at `bucketStart`: sums and counts are
    /// added, digests merged in one pass (``TDigest/merged(_:compression:)``), never averaged.
    /// - Parameters:
    ///   - buckets: The buckets to combine (for a day: its hourly buckets).
    ///   - orgID: The org of the result.
    ///   - bucketStart: The start of the result.
    ///   - compression: The result digests' compression.
    public static func combining(_ buckets: [RollupBucket], orgID: String, bucketStart: Int64,
                                 compression: Double = TDigest.defaultCompression) -> RollupBucket {
        var total = RollupMeasures()
        for b in buckets { total.add(b.total) }
        let latency = TDigest.merged(buckets.map(\.latency), compression: compression)
        let ttft = TDigest.merged(buckets.map(\.ttft), compression: compression)
        var dimensions: [RollupDimension: [RollupSlice]] = [:]
        for d in RollupDimension.allCases {
            struct Partial {
                var measures = RollupMeasures()
                var digests: [TDigest] = []
                var ttfts: [TDigest] = []
                var breakdowns: [RollupDimension: [String?: (Int64, Int128)]] = [:]
            }
            var partials: [SliceKey: Partial] = [:]
            for b in buckets {
                for s in b.slices(d) {
                    partials[s.key, default: Partial()].measures.add(s.measures)
                    partials[s.key]!.digests.append(s.latency)
                    partials[s.key]!.ttfts.append(s.ttft)
                    for (bd, entries) in s.breakdowns {
                        for e in entries {
                            let old = partials[s.key]!.breakdowns[bd, default: [:]][e.value] ?? (0, 0)
                            partials[s.key]!.breakdowns[bd, default: [:]][e.value] = (old.0 + e.requests, old.1 + e.cost)
                        }
                    }
                }
            }
            if partials.isEmpty { continue }
            dimensions[d] = partials.keys.sorted().map { key in
                let p = partials[key]!
                var breakdowns: [RollupDimension: [BreakdownEntry]] = [:]
                for (bd, map) in p.breakdowns {
                    breakdowns[bd] = map.map { BreakdownEntry(value: $0.key, requests: $0.value.0, cost: $0.value.1) }
                        .sorted { SliceKey(value: $0.value) < SliceKey(value: $1.value) }
                }
                return RollupSlice(key: key, measures: p.measures,
                                   latency: TDigest.merged(p.digests, compression: compression),
                                   ttft: TDigest.merged(p.ttfts, compression: compression), breakdowns: breakdowns)
            }
        }
        return RollupBucket(orgID: orgID, bucketStart: bucketStart, total: total, latency: latency, ttft: ttft, dimensions: dimensions)
    }
}
