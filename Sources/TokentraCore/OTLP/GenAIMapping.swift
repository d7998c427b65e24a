/// Which span and resource attributes feed which event field. Each list is tried in order; for
/// each name the span's attribute wins over the resource's. The defaults follow the OpenTelemetry
/// GenAI semantic conventions plus the older OpenLLMetry names; `schema/otlp-genai-mapping.md`
/// is the table.
public struct OTLPAttributeMapping: Sendable, Hashable {
    public var operation = ["gen_ai.operation.name"]
    public var provider = ["gen_ai.provider.name", "gen_ai.system"]
    public var requestModel = ["gen_ai.request.model"]
    public var responseModel = ["gen_ai.response.model"]
    /// Per the conventions these INCLUDE cache reads and cache writes.
    public var inputTokens = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]
    public var outputTokens = ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"]
    public var totalTokens = ["gen_ai.usage.total_tokens", "llm.usage.total_tokens"]
    public var cacheReadTokens = ["gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"]
    public var cacheCreationTokens = ["gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"]
    public var reasoningTokens = ["gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"]
    /// USD (OpenLIT).
    public var cost = ["gen_ai.usage.cost"]
    /// Seconds.
    public var timeToFirstTokenSeconds = ["gen_ai.server.time_to_first_token", "gen_ai.response.time_to_first_chunk"]
    /// Milliseconds.
    public var timeToFirstTokenMs = ["tokentra.time_to_first_token_ms"]
    public var errorType = ["error.type"]
    public var feature = ["tokentra.feature"]
    public var team = ["tokentra.team"]
    public var project = ["tokentra.project", "service.name"]
    public var costCenter = ["tokentra.cost_center"]
    public var userID = ["user.id", "enduser.id"]
    public var environment = ["deployment.environment.name", "deployment.environment"]
    public var sdkLanguage = ["telemetry.sdk.language"]
    public var sdkVersion = ["telemetry.sdk.version"]
    public var hostname = ["host.name"]
    public var cloudProvider = ["cloud.provider"]
    public var instanceID = ["host.id"]
    public var k8sPod = ["k8s.pod.name"]
    public var k8sNamespace = ["k8s.namespace.name"]
    public var k8sNode = ["k8s.node.name"]
    /// GenAI operations that are not model calls (or whose usage sums the model calls below
    /// them): skipped, never stored.
    public var skippedOperations = ["execute_tool", "invoke_agent", "create_agent", "invoke_workflow"]

    public init() {}

    var all: [[String]] {
        [operation, provider, requestModel, responseModel, inputTokens, outputTokens, totalTokens, cacheReadTokens,
         cacheCreationTokens, reasoningTokens, cost, timeToFirstTokenSeconds, timeToFirstTokenMs, errorType, feature, team,
         project, costCenter, userID, environment, sdkLanguage, sdkVersion, hostname, cloudProvider, instanceID, k8sPod,
         k8sNamespace, k8sNode]
    }
}

/// The fate of one span.
public enum SpanOutcome: Sendable, Equatable {
    case event(UsageEvent)
    /// Not a model call (reason: `not_genai`, `operation`, `no_usage`); counted, not rejected.
    case skipped(String)
    case rejected(EventError)
}

/// Maps GenAI spans to ``UsageEvent``s (the table in `schema/otlp-genai-mapping.md`), with the
/// same limits, time window and price table as ``EventDecoder``.
///
/// ```swift
/// let mapper = GenAISpanMapper(decoder: EventDecoder())
/// let traces = try OTLPProtobuf.decodeRequest(body, keys: mapper.keys)
/// for span in traces.spans { _ = mapper.map(span, in: traces, org: "org_1", nowMs: now) }
/// ```
public struct GenAISpanMapper: Sendable {
    public let mapping: OTLPAttributeMapping
    /// The attribute keys the decoders keep.
    public let keys: OTLPKeyTable
    public var configuration: EventDecoderConfiguration
    public var priceTable: PriceTable
    let ix: [[Int]]

    enum Field: Int {
        case operation, provider, requestModel, responseModel, inputTokens, outputTokens, totalTokens, cacheRead
        case cacheCreation, reasoning, cost, ttftSeconds, ttftMs, errorType, feature, team, project, costCenter
        case userID, environment, sdkLanguage, sdkVersion, hostname, cloudProvider, instanceID, k8sPod, k8sNamespace, k8sNode
    }

    public init(mapping: OTLPAttributeMapping = .init(), decoder: EventDecoder) {
        self.mapping = mapping
        let lists = mapping.all
        let keys = OTLPKeyTable(lists.flatMap { $0 })
        self.keys = keys
        self.ix = lists.map { $0.compactMap { keys.index(of: $0) } }
        self.configuration = decoder.configuration
        self.priceTable = decoder.priceTable
    }

    /// The request id of a span: `otel-<trace id hex>-<span id hex>`, keyed like any opaque id,
    /// so an exporter retry (or a re-import of an export) deduplicates.
    public static func requestID(of span: OTLPSpan) -> RequestID {
        let text = "otel-" + span.idText
        let digest = Array(text.utf8).withUnsafeBytes { SHA256.digest128($0) }
        return RequestID(high: digest.high, low: digest.low, text: text)
    }

    struct Rejection: Error { var error: EventError }

    public func map(_ span: OTLPSpan, in traces: OTLPTraces, org: String, nowMs: Int64) -> SpanOutcome {
        do {
            return try mapOrThrow(span, resource: traces.resources[span.resource],
                                  resourceProblem: traces.resourceProblems[span.resource], org: org, nowMs: nowMs)
        } catch {
            return .rejected(error.error)
        }
    }

    func mapOrThrow(_ span: OTLPSpan, resource: OTLPAttributes, resourceProblem: String?, org: String, nowMs: Int64) throws(Rejection) -> SpanOutcome {
        func reject(_ code: EventErrorCode, _ message: String, field: String? = nil) -> Rejection {
            Rejection(error: EventError(code, message, field: field))
        }
        if let p = span.problem ?? resourceProblem { throw reject(.invalidValue, p) }
        func find(_ f: Field) -> (name: String, value: OTLPValue)? {
            for k in ix[f.rawValue] {
                if let v = span.attributes.value(k) ?? resource.value(k) { return (keys.names[k], v) }
            }
            return nil
        }
        let operation = find(.operation)
        let providerAttr = find(.provider)
        guard operation != nil || providerAttr != nil else { return .skipped("not_genai") }
        if case .string(let op)? = operation?.value, mapping.skippedOperations.contains(op) { return .skipped("operation") }

        func text(_ f: Field, limit: Int? = nil) throws(Rejection) -> String? {
            guard let (name, v) = find(f) else { return nil }
            let s: String
            switch v {
            case .string(let t): s = t
            case .int(let n): s = String(n)
            case .bool(let b): s = b ? "true" : "false"
            case .double, .other: throw reject(.unknownFieldType, "attribute \(name) must be a string (got \(v.typeName))", field: name)
            }
            if s.isEmpty { return nil }
            let max = limit ?? configuration.maxStringLength
            guard s.utf8.count <= max else {
                throw reject(.fieldTooLong, "attribute \(name) is \(s.utf8.count) bytes (maximum \(max))", field: name)
            }
            return s
        }
        func tokens(_ f: Field) throws(Rejection) -> Int64? {
            guard let (name, v) = find(f) else { return nil }
            let n: Int64
            switch v {
            case .int(let i): n = i
            case .double(let d):
                guard d.isFinite else { throw reject(.nonFiniteNumber, "attribute \(name) is not a finite number", field: name) }
                guard d == d.rounded(), abs(d) < 9.0e18 else { throw reject(.invalidValue, "attribute \(name) must be a whole number of tokens (got \(d))", field: name) }
                n = Int64(d)
            default: throw reject(.unknownFieldType, "attribute \(name) must be an integer (got \(v.typeName))", field: name)
            }
            guard n >= 0 else { throw reject(.negativeTokens, "attribute \(name) is negative (\(n))", field: name) }
            guard n <= configuration.maxTokens else {
                throw reject(.invalidValue, "attribute \(name) is \(n), above the maximum of \(configuration.maxTokens)", field: name)
            }
            return n
        }

        let inputAll = try tokens(.inputTokens)
        let output = try tokens(.outputTokens)
        let cacheRead = try tokens(.cacheRead)
        let cacheCreation = try tokens(.cacheCreation)
        let reasoning = try tokens(.reasoning)
        let total = try tokens(.totalTokens)
        let requestModel = try text(.requestModel)
        let responseModel = try text(.responseModel)
        let hasUsage = inputAll != nil || output != nil || cacheRead != nil || total != nil || find(.cost) != nil
        guard let model = responseModel ?? requestModel else {
            if !hasUsage { return .skipped("no_usage") }
            throw reject(.missingField, "a GenAI span with token usage needs gen_ai.response.model or gen_ai.request.model", field: "gen_ai.request.model")
        }
        guard let providerAttr else {
            throw reject(.missingField, "a GenAI span needs gen_ai.provider.name (or gen_ai.system)", field: "gen_ai.provider.name")
        }
        guard case .string(let providerText) = providerAttr.value, let provider = ProviderName.normalize(providerText) else {
            throw reject(.invalidValue, "attribute \(providerAttr.name) must be a provider name of letters, digits, '_', '.' or '-'", field: providerAttr.name)
        }

        guard span.traceIDLength == 16, span.traceHigh | span.traceLow != 0 else {
            throw reject(.missingField, "trace_id must be 16 bytes and not all zero (got \(max(span.traceIDLength, 0)) bytes)", field: "trace_id")
        }
        guard span.spanIDLength == 8, span.spanID != 0 else {
            throw reject(.missingField, "span_id must be 8 bytes and not all zero (got \(max(span.spanIDLength, 0)) bytes)", field: "span_id")
        }
        guard span.startNs > 0 else { throw reject(.missingField, "start_time_unix_nano is missing", field: "start_time_unix_nano") }
        guard span.endNs >= span.startNs else {
            throw reject(.invalidValue, "end_time_unix_nano is before start_time_unix_nano", field: "end_time_unix_nano")
        }
        let timestampMs = Int64(span.startNs / 1_000_000)
        let (latest, o1) = nowMs.addingReportingOverflow(configuration.maxFutureSkewMs)
        if !o1 && timestampMs > latest {
            throw reject(.timestampInFuture, "span start \(formatTimestamp(timestampMs)) is more than \(configuration.maxFutureSkewMs / 1000) s ahead of the server clock (\(formatTimestamp(nowMs)))", field: "start_time_unix_nano")
        }
        if let maxAge = configuration.maxAgeMs {
            let (earliest, o2) = nowMs.subtractingReportingOverflow(maxAge)
            if !o2 && timestampMs < earliest {
                throw reject(.timestampTooOld, "span start \(formatTimestamp(timestampMs)) is older than the maximum age of \(maxAge / 1000) s", field: "start_time_unix_nano")
            }
        }
        let latencyMs = Int64((span.endNs - span.startNs + 500_000) / 1_000_000)

        let cached = cacheRead ?? 0
        let inputIncl = inputAll ?? 0
        guard cached <= inputIncl else {
            throw reject(.invalidValue, "cache reads (\(cached)) exceed gen_ai.usage.input_tokens (\(inputIncl)), which includes them", field: find(.cacheRead)?.name)
        }
        if let cacheCreation, cacheCreation > inputIncl - cached {
            throw reject(.invalidValue, "cache writes (\(cacheCreation)) exceed the uncached input tokens (\(inputIncl - cached))", field: find(.cacheCreation)?.name)
        }
        let input = inputIncl - cached
        let out = output ?? 0

        var ttft: Int64?
        if let (name, v) = find(.ttftMs) {
            ttft = try duration(v, name: name, scale: 1)
        } else if let (name, v) = find(.ttftSeconds) {
            ttft = try duration(v, name: name, scale: 1000)
        }

        let errorType = try text(.errorType)
        let isError = span.statusCode == 2 || errorType != nil
        var errorMessage: String?
        if isError, let m = span.statusMessage {
            errorMessage = Self.truncate(m, toBytes: configuration.maxErrorMessageLength)
        }

        var costs: (input: Money, output: Money, cached: Money, total: Money) = (.zero, .zero, .zero, .zero)
        let costSource: CostSource
        if let (name, v) = find(.cost) {
            costSource = .client
            costs.total = try money(v, name: name)
        } else if let price = priceTable.price(provider: provider, model: model, timestampMs: timestampMs)
            ?? requestModel.flatMap({ priceTable.price(provider: provider, model: $0, timestampMs: timestampMs) })
        {  // a dated response model (`gpt-4o-mini-2024-07-18`) is priced as the requested model
            costSource = .priceTable(version: priceTable.version)
            guard let parts = price.costs(input: input, output: out, cached: cached),
                let sum = parts.input.adding(parts.output)?.adding(parts.cached)
            else { throw reject(.invalidCost, "the computed cost is out of range", field: "gen_ai.usage.input_tokens") }
            costs = (parts.input, parts.output, parts.cached, sum)
        } else {
            costSource = .unpriced
        }

        var metadata: String?
        if cacheCreation != nil || reasoning != nil {
            var w = JSONWriter()
            w.object { o in
                if let cacheCreation { o.field("cache_creation_input_tokens", cacheCreation) }
                if let reasoning { o.field("reasoning_output_tokens", reasoning) }
            }
            metadata = w.text
        }

        var e = UsageEvent(orgID: org, requestID: Self.requestID(of: span), timestampMs: timestampMs, provider: provider, model: model)
        e.inputTokens = input
        e.outputTokens = out
        e.cachedTokens = cached
        e.totalTokens = total ?? (input + out + cached)
        e.inputCost = costs.input
        e.outputCost = costs.output
        e.cachedCost = costs.cached
        e.totalCost = costs.total
        e.costSource = costSource
        e.latencyMs = latencyMs
        e.timeToFirstTokenMs = ttft
        if let requestModel, requestModel != model { e.originalModel = requestModel }
        e.isError = isError
        e.errorType = errorType
        e.errorMessage = errorMessage
        e.metadata = metadata
        e.feature = try text(.feature)
        e.team = try text(.team)
        e.project = try text(.project)
        e.costCenter = try text(.costCenter)
        e.userID = try text(.userID)
        e.environment = try text(.environment)
        e.sdkLanguage = try text(.sdkLanguage)
        e.sdkVersion = try text(.sdkVersion)
        e.hostname = try text(.hostname)
        e.cloudProvider = try text(.cloudProvider)
        e.instanceID = try text(.instanceID)
        e.k8sPod = try text(.k8sPod)
        e.k8sNamespace = try text(.k8sNamespace)
        e.k8sNode = try text(.k8sNode)
        return .event(e)
    }

    /// A duration attribute in milliseconds (`scale` ms per unit), rounded half up.
    func duration(_ v: OTLPValue, name: String, scale: Double) throws(Rejection) -> Int64 {
        let x: Double
        switch v {
        case .int(let n): x = Double(n)
        case .double(let d): x = d
        default: throw Rejection(error: EventError(.unknownFieldType, "attribute \(name) must be a number (got \(v.typeName))", field: name))
        }
        guard x.isFinite else { throw Rejection(error: EventError(.nonFiniteNumber, "attribute \(name) is not a finite number", field: name)) }
        guard x >= 0 else { throw Rejection(error: EventError(.negativeValue, "attribute \(name) is negative", field: name)) }
        let ms = (x * scale).rounded(.toNearestOrAwayFromZero)
        guard ms < 1e15 else { throw Rejection(error: EventError(.invalidValue, "attribute \(name) is out of range", field: name)) }
        return Int64(ms)
    }

    /// A USD cost attribute as exact money: a double through its shortest decimal text, rounded
    /// half to even at 1e-10.
    func money(_ v: OTLPValue, name: String) throws(Rejection) -> Money {
        let text: String
        switch v {
        case .double(let d):
            guard d.isFinite else { throw Rejection(error: EventError(.invalidCost, "attribute \(name) is not a finite number", field: name)) }
            text = "\(d)"
        case .int(let n): text = String(n)
        case .string(let s): text = s
        default: throw Rejection(error: EventError(.unknownFieldType, "attribute \(name) must be a number (got \(v.typeName))", field: name))
        }
        var bytes = Array(text.utf8)
        let parsed: Money? = bytes.withUnsafeMutableBufferPointer { b in try? Money.parse(UnsafeBufferPointer(b), rounding: true) }
        guard let m = parsed, m.units >= 0 else {
            throw Rejection(error: EventError(.invalidCost, "attribute \(name) must be a cost in USD ≥ 0 (got \(text.prefix(40)))", field: name))
        }
        return m
    }

    /// `s` cut to at most `n` UTF-8 bytes at a character boundary.
    static func truncate(_ s: String, toBytes n: Int) -> String {
        guard s.utf8.count > n else { return s }
        var out = ""
        var used = 0
        for ch in s {
            let k = ch.utf8.count
            if used + k > n { break }
            out.append(ch)
            used += k
        }
        return out
    }
}
