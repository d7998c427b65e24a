/// Events stored column by column: the unit that flows from the decoder through the WAL and the
/// memtable into segments.
///
/// Low-cardinality strings (org, provider, model and every attribute) are dictionary codes into a
/// per-batch ``StringColumn``; request ids are two `UInt64`s (texts kept only for non-UUID ids);
/// money is fixed point (`Int64` units of 1e-10 USD); prompt hashes that are 64 lowercase hex
/// digits are packed to 32 bytes. Rows can come from several orgs and days.
///
/// ```swift
/// var batch = EventBatch()
/// batch.append(event)
/// let again = batch.event(at: 0)   // == event
/// ```
public struct EventBatch: Sendable {
    /// The optional string attributes, in storage order (the segment columns 18…39 minus the
    /// numeric and hash ones).
    public enum Attribute: Int, CaseIterable, Sendable {
        case feature, team, project, costCenter, userID, environment, metadata, cacheHitType, originalModel
        case routedByRule, errorCode, errorType, errorMessage, sdkVersion, sdkLanguage, hostname
        case cloudProvider, instanceID, k8sPod, k8sNamespace, k8sNode
    }

    public private(set) var count = 0

    public var orgs = StringColumn()
    public var idHigh: [UInt64] = []
    public var idLow: [UInt64] = []
    /// Texts of non-UUID request ids, by row.
    public var idTexts: [Int32: String] = [:]
    public var timestamps: [Int64] = []
    public var providers = StringColumn()
    public var models = StringColumn()
    public var inputTokens: [Int64] = []
    public var outputTokens: [Int64] = []
    public var cachedTokens: [Int64] = []
    public var totalTokens: [Int64] = []
    /// Costs in 1e-10 USD units.
    public var inputCost: [Int64] = []
    public var outputCost: [Int64] = []
    public var cachedCost: [Int64] = []
    public var totalCost: [Int64] = []
    /// ``CostSource/code``.
    public var costSource: [Int64] = []
    /// -1 = absent.
    public var latencyMs: [Int64] = []
    /// 0 = absent, else value + 1.
    public var ttftPlusOne: [Int64] = []
    /// bit 0 was_cached, bit 1 is_error.
    public var flags: [UInt8] = []
    /// One column per ``Attribute``.
    public var attributes = [StringColumn](repeating: StringColumn(), count: Attribute.allCases.count)
    /// Per row: -1 = no prompt hash; `k ≥ 0` = the 32 bytes at ``hashRaw``[32k…]; `-2 - k` = ``hashTexts``[k].
    public var hashRef: [Int32] = []
    /// Packed 32-byte prompt hashes.
    public var hashRaw: [UInt8] = []
    /// Prompt hashes that are not 64 lowercase hex digits, kept as text.
    public var hashTexts: [String] = []

    public init() {}

    /// Reserves room for `n` more rows in the numeric columns.
    public mutating func reserveCapacity(_ n: Int) {
        let total = count + n
        idHigh.reserveCapacity(total)
        idLow.reserveCapacity(total)
        timestamps.reserveCapacity(total)
        inputTokens.reserveCapacity(total)
        outputTokens.reserveCapacity(total)
        cachedTokens.reserveCapacity(total)
        totalTokens.reserveCapacity(total)
        inputCost.reserveCapacity(total)
        outputCost.reserveCapacity(total)
        cachedCost.reserveCapacity(total)
        totalCost.reserveCapacity(total)
        costSource.reserveCapacity(total)
        latencyMs.reserveCapacity(total)
        ttftPlusOne.reserveCapacity(total)
        flags.reserveCapacity(total)
        hashRef.reserveCapacity(total)
    }

    public var isEmpty: Bool { count == 0 }

    // MARK: Rows in

    /// Appends one event.
    public mutating func append(_ e: UsageEvent) {
        let n = count
        orgs.append(e.orgID, rowCount: n)
        providers.append(e.provider, rowCount: n)
        models.append(e.model, rowCount: n)
        appendNumbers(
            id: e.requestID, timestampMs: e.timestampMs,
            tokens: (e.inputTokens, e.outputTokens, e.cachedTokens, e.totalTokens),
            costs: (e.inputCost, e.outputCost, e.cachedCost, e.totalCost), costSource: e.costSource,
            latencyMs: e.latencyMs, timeToFirstTokenMs: e.timeToFirstTokenMs, wasCached: e.wasCached, isError: e.isError)
        attributes[0].append(e.feature, rowCount: n)
        attributes[1].append(e.team, rowCount: n)
        attributes[2].append(e.project, rowCount: n)
        attributes[3].append(e.costCenter, rowCount: n)
        attributes[4].append(e.userID, rowCount: n)
        attributes[5].append(e.environment, rowCount: n)
        attributes[6].append(e.metadata, rowCount: n)
        attributes[7].append(e.cacheHitType, rowCount: n)
        attributes[8].append(e.originalModel, rowCount: n)
        attributes[9].append(e.routedByRule, rowCount: n)
        attributes[10].append(e.errorCode, rowCount: n)
        attributes[11].append(e.errorType, rowCount: n)
        attributes[12].append(e.errorMessage, rowCount: n)
        attributes[13].append(e.sdkVersion, rowCount: n)
        attributes[14].append(e.sdkLanguage, rowCount: n)
        attributes[15].append(e.hostname, rowCount: n)
        attributes[16].append(e.cloudProvider, rowCount: n)
        attributes[17].append(e.instanceID, rowCount: n)
        attributes[18].append(e.k8sPod, rowCount: n)
        attributes[19].append(e.k8sNamespace, rowCount: n)
        attributes[20].append(e.k8sNode, rowCount: n)
        appendPromptHash(e.promptHash)
        count += 1
    }

    /// Appends the request id and the numeric columns of one row (the one place their stored
    /// conventions live: latency -1 = absent, time to first token + 1, flag bits).
    mutating func appendNumbers(
        id: RequestID, timestampMs: Int64, tokens: (input: Int64, output: Int64, cached: Int64, total: Int64),
        costs: (input: Money, output: Money, cached: Money, total: Money), costSource source: CostSource,
        latencyMs latency: Int64?, timeToFirstTokenMs ttft: Int64?, wasCached: Bool, isError: Bool
    ) {
        idHigh.append(id.high)
        idLow.append(id.low)
        if let t = id.text { idTexts[Int32(count)] = t }
        timestamps.append(timestampMs)
        inputTokens.append(tokens.input)
        outputTokens.append(tokens.output)
        cachedTokens.append(tokens.cached)
        totalTokens.append(tokens.total)
        inputCost.append(costs.input.units)
        outputCost.append(costs.output.units)
        cachedCost.append(costs.cached.units)
        totalCost.append(costs.total.units)
        costSource.append(source.code)
        latencyMs.append(latency ?? -1)
        ttftPlusOne.append(ttft.map { $0 + 1 } ?? 0)
        flags.append((wasCached ? 1 : 0) | (isError ? 2 : 0))
    }

    /// Appends every event of `events`.
    public mutating func append(contentsOf events: some Sequence<UsageEvent>) {
        for e in events { append(e) }
    }

    /// A batch holding `events`.
    public init(_ events: some Sequence<UsageEvent>) {
        self.init()
        append(contentsOf: events)
    }

    mutating func appendPromptHash(_ h: String?) {
        guard var h else { hashRef.append(-1); return }
        h.withUTF8 { appendPromptHash(bytes: $0) }
    }

    /// Appends a prompt hash from its UTF-8 text: packed when it is 64 lowercase hex digits.
    mutating func appendPromptHash(bytes: UnsafeBufferPointer<UInt8>) {
        let start = hashRaw.count
        if Hex32.decode(bytes, appendingTo: &hashRaw) {
            hashRef.append(Int32(start / 32))
        } else {
            hashRef.append(-2 - Int32(hashTexts.count))
            hashTexts.append(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// Ends a row written column by column (the decoder's ``EventParser/finish(org:nowMs:priceTable:into:)``).
    mutating func endRow() { count += 1 }

    /// Removes the last row (a row the caller rejected after decoding it). Dictionary values only
    /// that row used stay in their dictionaries, unused.
    public mutating func removeLast() {
        precondition(count > 0, "removeLast on an empty batch")
        let n = count - 1
        idHigh.removeLast()
        idLow.removeLast()
        idTexts[Int32(n)] = nil
        timestamps.removeLast()
        inputTokens.removeLast()
        outputTokens.removeLast()
        cachedTokens.removeLast()
        totalTokens.removeLast()
        inputCost.removeLast()
        outputCost.removeLast()
        cachedCost.removeLast()
        totalCost.removeLast()
        costSource.removeLast()
        latencyMs.removeLast()
        ttftPlusOne.removeLast()
        flags.removeLast()
        orgs.removeLastRow()
        providers.removeLastRow()
        models.removeLastRow()
        for a in 0..<attributes.count { attributes[a].removeLastRow() }
        let ref = hashRef.removeLast()
        if ref >= 0 {
            hashRaw.removeLast(32)
        } else if ref < -1 {
            hashTexts.removeLast()
        }
        count = n
    }

    /// Appends the given rows of `other` (in that order), column by column, remapping dictionary
    /// codes once per column.
    public mutating func append(rows: some Collection<Int>, of other: EventBatch) {
        let k = rows.count
        guard k > 0 else { return }
        let rows = Array(rows)
        let n = count
        @inline(__always) func gather<T>(_ dst: inout [T], _ src: [T]) {
            dst.reserveCapacity(dst.count + k)
            src.withUnsafeBufferPointer { s in
                for r in rows { dst.append(s[r]) }
            }
        }
        gather(&idHigh, other.idHigh)
        gather(&idLow, other.idLow)
        gather(&timestamps, other.timestamps)
        gather(&inputTokens, other.inputTokens)
        gather(&outputTokens, other.outputTokens)
        gather(&cachedTokens, other.cachedTokens)
        gather(&totalTokens, other.totalTokens)
        gather(&inputCost, other.inputCost)
        gather(&outputCost, other.outputCost)
        gather(&cachedCost, other.cachedCost)
        gather(&totalCost, other.totalCost)
        gather(&costSource, other.costSource)
        gather(&latencyMs, other.latencyMs)
        gather(&ttftPlusOne, other.ttftPlusOne)
        gather(&flags, other.flags)
        if !other.idTexts.isEmpty {
            for (j, r) in rows.enumerated() {
                if let t = other.idTexts[Int32(r)] { idTexts[Int32(n + j)] = t }
            }
        }
        orgs.append(rows: rows, of: other.orgs, rowCount: n)
        providers.append(rows: rows, of: other.providers, rowCount: n)
        models.append(rows: rows, of: other.models, rowCount: n)
        for a in 0..<attributes.count {
            attributes[a].append(rows: rows, of: other.attributes[a], rowCount: n)
        }
        hashRef.reserveCapacity(hashRef.count + k)
        for r in rows {
            let ref = other.hashRef[r]
            if ref >= 0 {
                hashRef.append(Int32(hashRaw.count / 32))
                let start = Int(ref) * 32
                hashRaw.append(contentsOf: other.hashRaw[start..<(start + 32)])
            } else if ref == -1 {
                hashRef.append(-1)
            } else {
                hashRef.append(-2 - Int32(hashTexts.count))
                hashTexts.append(other.hashTexts[Int(-2 - ref)])
            }
        }
        count += k
    }

    /// Appends every row of `other`.
    public mutating func append(_ other: EventBatch) {
        append(rows: 0..<other.count, of: other)
    }

    // MARK: Rows out

    /// The request id of row `i`.
    @inline(__always)
    public func requestID(at i: Int) -> RequestID {
        RequestID(high: idHigh[i], low: idLow[i], text: idTexts.isEmpty ? nil : idTexts[Int32(i)])
    }

    /// The org of row `i`.
    @inline(__always)
    public func orgID(at i: Int) -> String { orgs.value(at: i) ?? "" }

    /// The prompt hash of row `i`, as received.
    public func promptHash(at i: Int) -> String? {
        let ref = hashRef[i]
        if ref == -1 { return nil }
        if ref >= 0 { return Hex32.encode(hashRaw[(Int(ref) * 32)..<(Int(ref) * 32 + 32)]) }
        return hashTexts[Int(-2 - ref)]
    }

    /// Row `i` as a full event.
    public func event(at i: Int) -> UsageEvent {
        var e = UsageEvent(orgID: orgID(at: i), requestID: requestID(at: i), timestampMs: timestamps[i],
                           provider: providers.value(at: i) ?? "", model: models.value(at: i) ?? "")
        e.inputTokens = inputTokens[i]
        e.outputTokens = outputTokens[i]
        e.cachedTokens = cachedTokens[i]
        e.totalTokens = totalTokens[i]
        e.inputCost = Money(units: inputCost[i])
        e.outputCost = Money(units: outputCost[i])
        e.cachedCost = Money(units: cachedCost[i])
        e.totalCost = Money(units: totalCost[i])
        e.costSource = CostSource(code: costSource[i])
        e.latencyMs = latencyMs[i] < 0 ? nil : latencyMs[i]
        e.timeToFirstTokenMs = ttftPlusOne[i] == 0 ? nil : ttftPlusOne[i] - 1
        e.wasCached = flags[i] & 1 != 0
        e.isError = flags[i] & 2 != 0
        e.feature = attributes[0].value(at: i)
        e.team = attributes[1].value(at: i)
        e.project = attributes[2].value(at: i)
        e.costCenter = attributes[3].value(at: i)
        e.userID = attributes[4].value(at: i)
        e.environment = attributes[5].value(at: i)
        e.metadata = attributes[6].value(at: i)
        e.cacheHitType = attributes[7].value(at: i)
        e.originalModel = attributes[8].value(at: i)
        e.routedByRule = attributes[9].value(at: i)
        e.errorCode = attributes[10].value(at: i)
        e.errorType = attributes[11].value(at: i)
        e.errorMessage = attributes[12].value(at: i)
        e.sdkVersion = attributes[13].value(at: i)
        e.sdkLanguage = attributes[14].value(at: i)
        e.hostname = attributes[15].value(at: i)
        e.cloudProvider = attributes[16].value(at: i)
        e.instanceID = attributes[17].value(at: i)
        e.k8sPod = attributes[18].value(at: i)
        e.k8sNamespace = attributes[19].value(at: i)
        e.k8sNode = attributes[20].value(at: i)
        e.promptHash = promptHash(at: i)
        return e
    }

    /// Every row as a full event, in row order.
    public var events: [UsageEvent] { (0..<count).map(event(at:)) }

    /// Row indices sorted by timestamp, then request id (the order rows are stored in a segment).
    public func sortedOrder(_ rows: [Int]? = nil) -> [Int] {
        var order = rows ?? Array(0..<count)
        order.sort { a, b in
            let ta = timestamps[a], tb = timestamps[b]
            if ta != tb { return ta < tb }
            if idHigh[a] != idHigh[b] { return idHigh[a] < idHigh[b] }
            return idLow[a] < idLow[b]
        }
        return order
    }

    /// The subset of rows, as a new batch.
    public func selecting(_ rows: some Collection<Int>) -> EventBatch {
        var out = EventBatch()
        out.append(rows: rows, of: self)
        return out
    }

    /// Approximate bytes held in memory.
    public var memoryBytes: Int {
        let numeric = idHigh.capacity * 8 * 2 + timestamps.capacity * 8 + inputTokens.capacity * 8 * 4
            + inputCost.capacity * 8 * 4 + costSource.capacity * 8 + latencyMs.capacity * 8 + ttftPlusOne.capacity * 8
            + flags.capacity + hashRef.capacity * 4 + hashRaw.capacity
        let strings = orgs.memoryBytes + providers.memoryBytes + models.memoryBytes
            + attributes.reduce(0) { $0 + $1.memoryBytes } + hashTexts.count * 80 + idTexts.count * 100
        return numeric + strings
    }

    /// Assembles a batch from stored columns (the WAL and segment decoders).
    /// - Returns: `nil` when the columns do not all have `count` rows.
    public static func assemble(_ build: (inout EventBatch) -> Void, count: Int) -> EventBatch? {
        var b = EventBatch()
        build(&b)
        b.count = count
        var lengths: [Int] = [b.idHigh.count, b.idLow.count, b.timestamps.count, b.inputTokens.count]
        lengths += [b.outputTokens.count, b.cachedTokens.count, b.totalTokens.count, b.inputCost.count]
        lengths += [b.outputCost.count, b.cachedCost.count, b.totalCost.count, b.costSource.count]
        lengths += [b.latencyMs.count, b.ttftPlusOne.count, b.flags.count, b.hashRef.count]
        guard lengths.allSatisfy({ $0 == count }) else { return nil }
        for c in [b.orgs, b.providers, b.models] + b.attributes where !c.isAllNull && c.codes.count != count { return nil }
        guard b.hashRaw.count % 32 == 0 else { return nil }
        let raws = Int32(b.hashRaw.count / 32), texts = Int32(b.hashTexts.count)
        for r in b.hashRef where r >= raws || (r < -1 && -2 - r >= texts) { return nil }
        return b
    }
}

/// 64 lowercase hex digits ⇄ 32 bytes (prompt hashes). Uppercase hex is not packed, so it round-trips as text.
public enum Hex32 {
    /// Appends the 32 bytes of `s` to `out` when `s` is 64 lowercase hex digits; else leaves `out` as it was.
    public static func decode(_ s: String, appendingTo out: inout [UInt8]) -> Bool {
        var s = s
        return s.withUTF8 { decode($0, appendingTo: &out) }
    }

    /// Appends the 32 bytes of the UTF-8 text `u` when it is 64 lowercase hex digits.
    public static func decode(_ u: UnsafeBufferPointer<UInt8>, appendingTo out: inout [UInt8]) -> Bool {
        guard u.count == 64 else { return false }
        let start = out.count
        for i in 0..<32 {
            guard let hi = nibble(u[2 * i]), let lo = nibble(u[2 * i + 1]) else {
                out.removeLast(out.count - start)
                return false
            }
            out.append(hi << 4 | lo)
        }
        return true
    }

    @inline(__always) static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        default: return nil
        }
    }

    public static func encode(_ bytes: ArraySlice<UInt8>) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            digits.withUTF8Buffer { d in
                var k = 0
                for b in bytes {
                    out[k] = d[Int(b >> 4)]
                    out[k + 1] = d[Int(b & 0xF)]
                    k += 2
                }
            }
            return bytes.count * 2
        }
    }
}
