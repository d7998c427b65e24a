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

    mutating func finish(org policy: OrgPolicy, nowMs: Int64, priceTable: PriceTable) -> Result<UsageEvent, DecodeFailure> {
        func failure(_ code: EventErrorCode, _ message: String, field: String?) -> Result<UsageEvent, DecodeFailure> {
            .failure(DecodeFailure(error: EventError(code, message, field: field), requestID: requestIDText()))
        }
        if let pending { return .failure(DecodeFailure(error: pending, requestID: requestIDText())) }
        let derive = requestID == nil && tokenTrackr && !seenKey(named: "request_id")
        if requestID == nil && !derive {
            return failure(.missingField, "missing required field request_id", field: "request_id")
        }
        guard let timestampMs else { return failure(.missingField, "missing required field timestamp", field: "timestamp") }
        guard let provider else { return failure(.missingField, "missing required field provider", field: "provider") }
        guard let model else { return failure(.missingField, "missing required field model", field: "model") }

        let orgID: String
        switch policy {
        case .fixed(let keyOrg):
            if let org, org != keyOrg {
                return failure(
                    .orgMismatch, "field \(keyName(orgKey)) \"\(org)\" does not match the organization of the API key",
                    field: keyName(orgKey))
            }
            orgID = keyOrg
        case .fromEvent(let defaultOrg):
            if let org {
                guard orgValid else {
                    return failure(
                        .invalidValue,
                        "field \(keyName(orgKey)) must be 1 to 64 characters of letters, digits, '_', '.', ':' or '-', "
                            + "starting with a letter or digit",
                        field: keyName(orgKey))
                }
                orgID = org
            } else {
                orgID = defaultOrg
            }
        }
        let id = requestID ?? derivedRequestID(org: orgID)
        func reportID() -> String { requestIDText() ?? id.description }  // only built for a failure

        let (latest, o1) = nowMs.addingReportingOverflow(config.maxFutureSkewMs)
        if !o1 && timestampMs > latest {
            return .failure(
                DecodeFailure(
                    error: EventError(
                        .timestampInFuture,
                        "timestamp \(formatTimestamp(timestampMs)) is more than \(config.maxFutureSkewMs / 1000) s ahead "
                            + "of the server clock (\(formatTimestamp(nowMs)))",
                        field: "timestamp"),
                    requestID: reportID()))
        }
        if let maxAge = config.maxAgeMs {
            let (earliest, o2) = nowMs.subtractingReportingOverflow(maxAge)
            if !o2 && timestampMs < earliest {
                return .failure(
                    DecodeFailure(
                        error: EventError(
                            .timestampTooOld,
                            "timestamp \(formatTimestamp(timestampMs)) is older than the maximum age of \(maxAge / 1000) s "
                                + "(earliest accepted \(formatTimestamp(earliest)))",
                            field: "timestamp"),
                        requestID: reportID()))
            }
        }

        let input = inputTokens ?? 0
        let output = outputTokens ?? 0
        let cached = cachedTokens ?? 0
        let isCacheHit = wasCached ?? false
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
                    return .failure(
                        DecodeFailure(
                            error: EventError(.invalidCost, "the sum of the costs is out of range", field: "total_cost"),
                            requestID: reportID()))
                }
                costs.total = sum
            }
            // Re-importing an export keeps the recorded provenance; over HTTP a client can't claim it.
            if case .fromEvent = policy, let declared = declaredCostSource { costSource = declared } else { costSource = .client }
        } else if let price = priceTable.price(provider: provider, model: model, timestampMs: timestampMs) {
            costSource = .priceTable(version: priceTable.version)
            if !isCacheHit {  // a gateway cache hit did not call the provider: it costs nothing
                guard let parts = price.costs(input: input, output: output, cached: cached),
                    let sum = parts.input.adding(parts.output)?.adding(parts.cached)
                else {
                    return .failure(
                        DecodeFailure(
                            error: EventError(.invalidCost, "the computed cost is out of range", field: "total_cost"),
                            requestID: reportID()))
                }
                costs = (parts.input, parts.output, parts.cached, sum)
            }
        } else {
            costSource = .unpriced
        }
        // Built by a call so the event is moved into the result, not copied.
        return makeEvent(
                orgID: orgID, requestID: id, timestampMs: timestampMs, tokens: (input, output, cached), costs: costs,
                costSource: costSource)
    }

    /// Moves the parsed fields (`take()`, no retain/release pair per string) into a ``UsageEvent``.
    mutating func makeEvent(
        orgID: String, requestID: RequestID, timestampMs: Int64, tokens: (Int64, Int64, Int64),
        costs: (input: Money, output: Money, cached: Money, total: Money), costSource: CostSource
    ) -> Result<UsageEvent, DecodeFailure> {
        .success(UsageEvent(
            orgID: orgID, requestID: requestID, timestampMs: timestampMs, provider: provider.take()!, model: model.take()!,
            inputTokens: tokens.0, outputTokens: tokens.1, cachedTokens: tokens.2,
            totalTokens: totalTokens ?? (tokens.0 + tokens.1 + tokens.2),
            inputCost: costs.input, outputCost: costs.output, cachedCost: costs.cached, totalCost: costs.total,
            costSource: costSource, latencyMs: latencyMs, timeToFirstTokenMs: timeToFirstTokenMs,
            feature: feature.take(), team: team.take(), project: project.take(), costCenter: costCenter.take(),
            userID: userID.take(), environment: environment.take(), metadata: metadata.take(),
            wasCached: wasCached ?? false, cacheHitType: cacheHitType.take(), originalModel: originalModel.take(),
            routedByRule: routedByRule.take(), isError: isError ?? false, errorCode: errorCode.take(),
            errorType: errorType.take(), errorMessage: errorMessage.take(), promptHash: promptHash.take(),
            sdkVersion: sdkVersion.take(), sdkLanguage: sdkLanguage.take(), hostname: hostname.take(),
            cloudProvider: cloudProvider.take(), instanceID: instanceID.take(), k8sPod: k8sPod.take(),
            k8sNamespace: k8sNamespace.take(), k8sNode: k8sNode.take()))
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
