import TokentraCore

/// Decoder of the row-oriented events of version-1 WAL records (type 1, schema/wal-format.md): files
/// written by an older tokentra are still replayed. New records are column batches (``EventBatchCodec``).
enum EventRecordCodec {
    static func decode(_ r: inout ByteReader) throws(SegmentError) -> UsageEvent {
        let org = try r.string()
        let high = try r.u64()
        let low = try r.u64()
        let text = try r.optionalString()
        let ts = try r.varint()
        let provider = try r.string()
        let model = try r.string()
        var e = UsageEvent(orgID: org, requestID: RequestID(high: high, low: low, text: text), timestampMs: ts,
                           provider: provider, model: model)
        e.inputTokens = Int64(try r.int(Int.max))
        e.outputTokens = Int64(try r.int(Int.max))
        e.cachedTokens = Int64(try r.int(Int.max))
        e.totalTokens = Int64(try r.int(Int.max))
        e.inputCost = Money(units: try r.varint())
        e.outputCost = Money(units: try r.varint())
        e.cachedCost = Money(units: try r.varint())
        e.totalCost = Money(units: try r.varint())
        e.costSource = CostSource(code: Int64(try r.int(Int.max)))
        e.latencyMs = Int64(try r.int(Int.max))
        let ttft = try r.uvarint()
        e.timeToFirstTokenMs = ttft == 0 ? nil : Int64(ttft - 1)
        let flags = try r.u8()
        e.wasCached = flags & 1 != 0
        e.isError = flags & 2 != 0
        e.feature = try r.optionalString()
        e.team = try r.optionalString()
        e.project = try r.optionalString()
        e.costCenter = try r.optionalString()
        e.userID = try r.optionalString()
        e.environment = try r.optionalString()
        e.metadata = try r.optionalString()
        e.cacheHitType = try r.optionalString()
        e.originalModel = try r.optionalString()
        e.routedByRule = try r.optionalString()
        e.errorCode = try r.optionalString()
        e.errorType = try r.optionalString()
        e.errorMessage = try r.optionalString()
        e.promptHash = try r.optionalString()
        e.sdkVersion = try r.optionalString()
        e.sdkLanguage = try r.optionalString()
        e.hostname = try r.optionalString()
        e.cloudProvider = try r.optionalString()
        e.instanceID = try r.optionalString()
        e.k8sPod = try r.optionalString()
        e.k8sNamespace = try r.optionalString()
        e.k8sNode = try r.optionalString()
        return e
    }
}
