import TokentraCore

/// Row-oriented binary encoding of events inside WAL records (see schema/wal-format.md).
enum EventRecordCodec {
    static func encode(_ p: UnsafePointer<UsageEvent>, into w: inout ByteWriter) {
        w.string(p.pointee.orgID)
        w.u64(p.pointee.requestID.high)
        w.u64(p.pointee.requestID.low)
        w.optionalString(p.pointee.requestID.text)
        w.varint(p.pointee.timestampMs)
        w.string(p.pointee.provider)
        w.string(p.pointee.model)
        w.uvarint(UInt64(p.pointee.inputTokens))
        w.uvarint(UInt64(p.pointee.outputTokens))
        w.uvarint(UInt64(p.pointee.cachedTokens))
        w.uvarint(UInt64(p.pointee.totalTokens))
        w.varint(p.pointee.inputCost.units)
        w.varint(p.pointee.outputCost.units)
        w.varint(p.pointee.cachedCost.units)
        w.varint(p.pointee.totalCost.units)
        w.uvarint(UInt64(p.pointee.costSource.code))
        w.uvarint(UInt64(p.pointee.latencyMs))
        w.uvarint(p.pointee.timeToFirstTokenMs.map { UInt64($0) + 1 } ?? 0)
        var flags: UInt8 = 0
        if p.pointee.wasCached { flags |= 1 }
        if p.pointee.isError { flags |= 2 }
        w.u8(flags)
        for s in [p.pointee.feature, p.pointee.team, p.pointee.project, p.pointee.costCenter, p.pointee.userID, p.pointee.environment, p.pointee.metadata,
                  p.pointee.cacheHitType, p.pointee.originalModel, p.pointee.routedByRule, p.pointee.errorCode, p.pointee.errorType, p.pointee.errorMessage,
                  p.pointee.promptHash, p.pointee.sdkVersion, p.pointee.sdkLanguage, p.pointee.hostname, p.pointee.cloudProvider, p.pointee.instanceID,
                  p.pointee.k8sPod, p.pointee.k8sNamespace, p.pointee.k8sNode] {
            w.optionalString(s)
        }
    }

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
