/// Validation and normalization of a parsed event (``EventParser/finish(org:nowMs:priceTable:)``).
extension EventParser {
    // MARK: Finish

    /// The request_id text for an error report, when it was read.
    func requestIDText() -> String? {
        guard let token = requestIDToken else { return nil }
        if !token.hasEscapes {
            return String(decoding: UnsafeBufferPointer(start: s.base + token.start, count: token.count), as: UTF8.self)
        }
        var bytes: [UInt8] = []
        s.decodeString(token, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Validates the parsed event and appends it to `batch` as one row; on failure `batch` keeps
    /// its rows (a rejected event may leave an unused value in a column's dictionary, nothing more).
    mutating func finish(org policy: OrgPolicy, nowMs: Int64, priceTable: PriceTable, into batch: inout EventBatch) -> DecodeFailure? {
        func failure(_ code: EventErrorCode, _ message: String, field: String?) -> DecodeFailure {
            DecodeFailure(error: EventError(code, message, field: field), requestID: requestIDText())
        }
        if let pending { return DecodeFailure(error: pending, requestID: requestIDText()) }
        let derive = requestID == nil && tokenTrackr && !seenKey(named: "request_id")
        if requestID == nil && !derive {
            return failure(.missingField, "missing required field request_id", field: "request_id")
        }
        guard let timestampMs else { return failure(.missingField, "missing required field timestamp", field: "timestamp") }
        guard let provider else { return failure(.missingField, "missing required field provider", field: "provider") }
        guard let model else { return failure(.missingField, "missing required field model", field: "model") }

        let row = batch.count
        let orgCode: UInt32
        switch policy {
        case .fixed(let keyOrg):
            if let org, !withText(org, { bytesEqual($0, keyOrg) }) {
                return failure(
                    .orgMismatch, "field \(keyName(orgKey)) \"\(string(org))\" does not match the organization of the API key",
                    field: keyName(orgKey))
            }
            orgCode = batch.orgs.intern(keyOrg)
        case .fromEvent(let defaultOrg):
            if let org {
                guard orgValid else {
                    return failure(
                        .invalidValue,
                        "field \(keyName(orgKey)) must be 1 to 64 characters of letters, digits, '_', '.', ':' or '-', "
                            + "starting with a letter or digit",
                        field: keyName(orgKey))
                }
                orgCode = withText(org) { batch.orgs.intern(bytes: $0) }
            } else {
                orgCode = batch.orgs.intern(defaultOrg)
            }
        }
        let id = requestID ?? derivedRequestID(org: batch.orgs.values[Int(orgCode) - 1])
        func reportID() -> String { requestIDText() ?? id.description }  // only built for a failure

        let (latest, o1) = nowMs.addingReportingOverflow(config.maxFutureSkewMs)
        if !o1 && timestampMs > latest {
            return DecodeFailure(
                error: EventError(
                    .timestampInFuture,
                    "timestamp \(formatTimestamp(timestampMs)) is more than \(config.maxFutureSkewMs / 1000) s ahead "
                        + "of the server clock (\(formatTimestamp(nowMs)))",
                    field: "timestamp"),
                requestID: reportID())
        }
        if let maxAge = config.maxAgeMs {
            let (earliest, o2) = nowMs.subtractingReportingOverflow(maxAge)
            if !o2 && timestampMs < earliest {
                return DecodeFailure(
                    error: EventError(
                        .timestampTooOld,
                        "timestamp \(formatTimestamp(timestampMs)) is older than the maximum age of \(maxAge / 1000) s "
                            + "(earliest accepted \(formatTimestamp(earliest)))",
                        field: "timestamp"),
                    requestID: reportID())
            }
        }

        let input = inputTokens ?? 0
        let output = outputTokens ?? 0
        let cached = cachedTokens ?? 0
        let isCacheHit = wasCached ?? false
        let providerCode = withText(provider) { batch.providers.intern(bytes: $0) }
        let modelCode = withText(model) { batch.models.intern(bytes: $0) }
        var costs: (input: Money, output: Money, cached: Money, total: Money) = (.zero, .zero, .zero, .zero)
        let costSource: CostSource
        if sawCost {
            costs.input = inputCost ?? .zero
            costs.output = outputCost ?? .zero
            costs.cached = cachedCost ?? .zero
            if let totalCost {
                costs.total = totalCost
            } else {
                guard let sum = costs.input.adding(costs.output)?.adding(costs.cached) else {
                    return DecodeFailure(
                        error: EventError(.invalidCost, "the sum of the costs is out of range", field: "total_cost"),
                        requestID: reportID())
                }
                costs.total = sum
            }
            // Re-importing an export keeps the recorded provenance; over HTTP a client can't claim it.
            if case .fromEvent = policy, let declared = declaredCostSource { costSource = declared } else { costSource = .client }
        } else if let price = priceTable.price(
            provider: batch.providers.values[Int(providerCode) - 1], model: batch.models.values[Int(modelCode) - 1],
            timestampMs: timestampMs)
        {
            costSource = .priceTable(version: priceTable.version)
            if !isCacheHit {  // a gateway cache hit did not call the provider: it costs nothing
                guard let parts = price.costs(input: input, output: output, cached: cached),
                    let sum = parts.input.adding(parts.output)?.adding(parts.cached)
                else {
                    return DecodeFailure(
                        error: EventError(.invalidCost, "the computed cost is out of range", field: "total_cost"),
                        requestID: reportID())
                }
                costs = (parts.input, parts.output, parts.cached, sum)
            }
        } else {
            costSource = .unpriced
        }

        // Valid: one row, column by column.
        batch.orgs.appendCode(orgCode, rowCount: row)
        batch.providers.appendCode(providerCode, rowCount: row)
        batch.models.appendCode(modelCode, rowCount: row)
        batch.appendNumbers(
            id: id, timestampMs: timestampMs, tokens: (input, output, cached, totalTokens ?? (input + output + cached)),
            costs: costs, costSource: costSource, latencyMs: latencyMs, timeToFirstTokenMs: timeToFirstTokenMs,
            wasCached: isCacheHit, isError: isError ?? false)
        let texts = (
            feature, team, project, costCenter, userID, environment, metadata, cacheHitType, originalModel,
            routedByRule, errorCode, errorType, errorMessage, sdkVersion, sdkLanguage, hostname,
            cloudProvider, instanceID, k8sPod, k8sNamespace, k8sNode, promptHash)
        let source = s.base
        arena.withUnsafeBufferPointer { arena in
            @inline(__always) func bytes(_ ref: TextRef) -> UnsafeBufferPointer<UInt8> {
                UnsafeBufferPointer(start: (ref.inArena ? arena.baseAddress! : source) + ref.start, count: ref.count)
            }
            @inline(__always) func put(_ ref: TextRef?, _ a: EventBatch.Attribute) {
                if let ref {
                    batch.attributes[a.rawValue].append(bytes: bytes(ref), rowCount: row)
                } else {
                    batch.attributes[a.rawValue].append(nil, rowCount: row)
                }
            }
            put(texts.0, .feature)
            put(texts.1, .team)
            put(texts.2, .project)
            put(texts.3, .costCenter)
            put(texts.4, .userID)
            put(texts.5, .environment)
            put(texts.6, .metadata)
            put(texts.7, .cacheHitType)
            put(texts.8, .originalModel)
            put(texts.9, .routedByRule)
            put(texts.10, .errorCode)
            put(texts.11, .errorType)
            put(texts.12, .errorMessage)
            put(texts.13, .sdkVersion)
            put(texts.14, .sdkLanguage)
            put(texts.15, .hostname)
            put(texts.16, .cloudProvider)
            put(texts.17, .instanceID)
            put(texts.18, .k8sPod)
            put(texts.19, .k8sNamespace)
            put(texts.20, .k8sNode)
            if let hash = texts.21 {
                batch.appendPromptHash(bytes: bytes(hash))
            } else {
                batch.hashRef.append(-1)
            }
        }
        batch.endRow()
        return nil
    }

    func seenKey(named name: String) -> Bool {
        guard let index = table.names.firstIndex(of: name) else { return false }
        return seenKeys & (1 << UInt128(index)) != 0
    }

    /// The id of a Token Trackr event sent without `request_id`: the text `tt-` + 32 hex digits of
    /// SHA-256 over a domain tag, the org, and the event object re-serialized compactly (whitespace
    /// outside strings removed), so the same event retried (even re-indented, e.g. from a fallback
    /// file) gets the same id. The text is then keyed like any opaque id (first 16 bytes of its
    /// SHA-256), so an exported event re-imported with that `request_id` deduplicates too.
    mutating func derivedRequestID(org: String) -> RequestID {
        var hasher = SHA256()
        hasher.update("tokentra:derived-request-id:v1\u{0}".utf8)
        hasher.update(org.utf8)
        hasher.update([0])
        scratch.removeAll(keepingCapacity: true)
        JSONScanner.appendCompact(UnsafeBufferPointer(start: s.base + objectStart, count: objectEnd - objectStart), to: &scratch)
        scratch.withUnsafeBytes { hasher.update($0) }
        let w = hasher.finalizeWords()
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array("tt-".utf8)
        for word in [w.0, w.1, w.2, w.3] {
            for k in stride(from: 28, through: 0, by: -4) { text.append(hex[Int((word >> UInt32(k)) & 0xF)]) }
        }
        let key = text.withUnsafeBytes { SHA256.digest128($0) }
        return RequestID(high: key.high, low: key.low, text: String(decoding: text, as: UTF8.self))
    }
}
