/// `weight` values equal to `value`: a centroid of an exact-mode digest.
struct PointMass {
    var value: Double
    var weight: Int
}

/// One event's measures, as stored in the segment (64-bit).
struct EventMeasures {
    var inputTokens: Int64
    var outputTokens: Int64
    var cachedTokens: Int64
    var totalTokens: Int64
    var inputCost: Int64
    var outputCost: Int64
    var cachedCost: Int64
    var totalCost: Int64
    /// Latency (0 when ``latencyCount`` is 0).
    var latencyMs: Int64
    var latencyCount: Int64
    /// Time to first token (0 when ``ttftCount`` is 0).
    var ttftMs: Int64
    var errors: Int64
    var cacheHits: Int64
    var unpriced: Int64
    var ttftCount: Int64

    /// This one event's measures (a request of 1).
    var measures: RollupMeasures {
        var one = Sums64()
        _ = one.add(self)  // one event added to zero cannot overflow
        return one.measures
    }
}

/// Sums of ``EventMeasures`` in 64 bits; ``add(_:)`` reports overflow.
struct Sums64 {
    var requests: Int64 = 0
    var errors: Int64 = 0
    var cacheHits: Int64 = 0
    var unpriced: Int64 = 0
    var ttftCount: Int64 = 0
    var latencyCount: Int64 = 0
    var inputTokens: Int64 = 0
    var outputTokens: Int64 = 0
    var cachedTokens: Int64 = 0
    var totalTokens: Int64 = 0
    var inputCost: Int64 = 0
    var outputCost: Int64 = 0
    var cachedCost: Int64 = 0
    var totalCost: Int64 = 0
    var latencyMs: Int64 = 0
    var ttftMs: Int64 = 0

    /// Adds an event; returns true when a sum overflowed (the sums are then unusable).
    @inline(__always)
    mutating func add(_ e: EventMeasures) -> Bool {
        requests &+= 1
        errors &+= e.errors
        cacheHits &+= e.cacheHits
        unpriced &+= e.unpriced
        ttftCount &+= e.ttftCount
        latencyCount &+= e.latencyCount
        let a = inputTokens.addingReportingOverflow(e.inputTokens)
        let b = outputTokens.addingReportingOverflow(e.outputTokens)
        let c = cachedTokens.addingReportingOverflow(e.cachedTokens)
        let d = totalTokens.addingReportingOverflow(e.totalTokens)
        let f = inputCost.addingReportingOverflow(e.inputCost)
        let g = outputCost.addingReportingOverflow(e.outputCost)
        let h = cachedCost.addingReportingOverflow(e.cachedCost)
        let i = totalCost.addingReportingOverflow(e.totalCost)
        let j = latencyMs.addingReportingOverflow(e.latencyMs)
        let k = ttftMs.addingReportingOverflow(e.ttftMs)
        inputTokens = a.partialValue
        outputTokens = b.partialValue
        cachedTokens = c.partialValue
        totalTokens = d.partialValue
        inputCost = f.partialValue
        outputCost = g.partialValue
        cachedCost = h.partialValue
        totalCost = i.partialValue
        latencyMs = j.partialValue
        ttftMs = k.partialValue
        return a.overflow || b.overflow || c.overflow || d.overflow || f.overflow || g.overflow || h.overflow
            || i.overflow || j.overflow || k.overflow
    }

    var measures: RollupMeasures {
        var m = RollupMeasures()
        m.requests = requests
        m.errors = errors
        m.cacheHits = cacheHits
        m.unpriced = unpriced
        m.ttftCount = ttftCount
        m.latencyCount = latencyCount
        m.inputTokens = Int128(inputTokens)
        m.outputTokens = Int128(outputTokens)
        m.cachedTokens = Int128(cachedTokens)
        m.totalTokens = Int128(totalTokens)
        m.inputCost = Int128(inputCost)
        m.outputCost = Int128(outputCost)
        m.cachedCost = Int128(cachedCost)
        m.totalCost = Int128(totalCost)
        m.latencySumMs = Int128(latencyMs)
        m.ttftSumMs = Int128(ttftMs)
        return m
    }
}
