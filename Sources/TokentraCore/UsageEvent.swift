/// Where an event's costs came from.
public enum CostSource: Sendable, Hashable, CustomStringConvertible {
    /// The client sent the costs.
    case client
    /// Computed from the price table of the given version.
    case priceTable(version: Int)
    /// No costs were sent and the price table has no price for the model: costs are 0 and the
    /// event is counted as unpriced.
    case unpriced

    public var description: String {
        switch self {
        case .client: return "client"
        case .priceTable(let v): return "price_table@\(v)"
        case .unpriced: return "unpriced"
        }
    }

    /// Parses ``description`` back.
    public init?(text: some StringProtocol) {
        if text == "client" { self = .client; return }
        if text == "unpriced" { self = .unpriced; return }
        let prefix = "price_table@"
        guard text.hasPrefix(prefix), let v = Int(text.dropFirst(prefix.count)), v >= 0 else { return nil }
        self = .priceTable(version: v)
    }

    /// A compact code for storage: 0 client, 1 unpriced, 2+v price table version v.
    public var code: Int64 {
        switch self {
        case .client: return 0
        case .unpriced: return 1
        case .priceTable(let v): return 2 + Int64(v)
        }
    }

    public init(code: Int64) {
        switch code {
        case 0: self = .client
        case 1: self = .unpriced
        default: self = .priceTable(version: Int(code - 2))
        }
    }
}

/// One validated, normalized LLM usage event as stored.
///
/// Token buckets are mutually exclusive: ``inputTokens`` are uncached input tokens, ``cachedTokens``
/// are cache reads, ``outputTokens`` are output tokens. ``totalTokens`` is what the client sent,
/// or `input + output + cached` when absent. Timestamps are milliseconds since the Unix epoch, UTC.
public struct UsageEvent: Sendable, Equatable {
    public var orgID: String
    public var requestID: RequestID
    public var timestampMs: Int64
    public var provider: String
    public var model: String

    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cachedTokens: Int64 = 0
    public var totalTokens: Int64 = 0

    public var inputCost: Money = .zero
    public var outputCost: Money = .zero
    public var cachedCost: Money = .zero
    public var totalCost: Money = .zero
    public var costSource: CostSource = .client

    /// End-to-end latency; `nil` when the client did not report one (it is then left out of
    /// averages and percentiles, never counted as 0).
    public var latencyMs: Int64?
    public var timeToFirstTokenMs: Int64?

    public var feature: String?
    public var team: String?
    public var project: String?
    public var costCenter: String?
    public var userID: String?
    public var environment: String?
    /// The metadata object as compact JSON text, or `nil`.
    public var metadata: String?

    public var wasCached: Bool = false
    public var cacheHitType: String?
    public var originalModel: String?
    public var routedByRule: String?

    public var isError: Bool = false
    public var errorCode: String?
    public var errorType: String?
    public var errorMessage: String?

    public var promptHash: String?
    public var sdkVersion: String?
    public var sdkLanguage: String?

    // Token Trackr host metadata.
    public var hostname: String?
    public var cloudProvider: String?
    public var instanceID: String?
    public var k8sPod: String?
    public var k8sNamespace: String?
    public var k8sNode: String?

    public init(orgID: String, requestID: RequestID, timestampMs: Int64, provider: String, model: String) {
        self.orgID = orgID
        self.requestID = requestID
        self.timestampMs = timestampMs
        self.provider = provider
        self.model = model
    }

    /// Initializes every field at once (used by ``EventDecoder`` so the event is built in place).
    package init(
        orgID: String, requestID: RequestID, timestampMs: Int64, provider: String, model: String,
        inputTokens: Int64, outputTokens: Int64, cachedTokens: Int64, totalTokens: Int64,
        inputCost: Money, outputCost: Money, cachedCost: Money, totalCost: Money, costSource: CostSource,
        latencyMs: Int64?, timeToFirstTokenMs: Int64?,
        feature: String?, team: String?, project: String?, costCenter: String?, userID: String?, environment: String?,
        metadata: String?, wasCached: Bool, cacheHitType: String?, originalModel: String?, routedByRule: String?,
        isError: Bool, errorCode: String?, errorType: String?, errorMessage: String?,
        promptHash: String?, sdkVersion: String?, sdkLanguage: String?,
        hostname: String?, cloudProvider: String?, instanceID: String?, k8sPod: String?, k8sNamespace: String?,
        k8sNode: String?
    ) {
        self.orgID = orgID
        self.requestID = requestID
        self.timestampMs = timestampMs
        self.provider = provider
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedTokens = cachedTokens
        self.totalTokens = totalTokens
        self.inputCost = inputCost
        self.outputCost = outputCost
        self.cachedCost = cachedCost
        self.totalCost = totalCost
        self.costSource = costSource
        self.latencyMs = latencyMs
        self.timeToFirstTokenMs = timeToFirstTokenMs
        self.feature = feature
        self.team = team
        self.project = project
        self.costCenter = costCenter
        self.userID = userID
        self.environment = environment
        self.metadata = metadata
        self.wasCached = wasCached
        self.cacheHitType = cacheHitType
        self.originalModel = originalModel
        self.routedByRule = routedByRule
        self.isError = isError
        self.errorCode = errorCode
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.promptHash = promptHash
        self.sdkVersion = sdkVersion
        self.sdkLanguage = sdkLanguage
        self.hostname = hostname
        self.cloudProvider = cloudProvider
        self.instanceID = instanceID
        self.k8sPod = k8sPod
        self.k8sNamespace = k8sNamespace
        self.k8sNode = k8sNode
    }

    public static func == (lhs: UsageEvent, rhs: UsageEvent) -> Bool {
        lhs.orgID == rhs.orgID && lhs.requestID == rhs.requestID && lhs.requestID.text == rhs.requestID.text
            && lhs.timestampMs == rhs.timestampMs && lhs.provider == rhs.provider && lhs.model == rhs.model
            && lhs.inputTokens == rhs.inputTokens && lhs.outputTokens == rhs.outputTokens
            && lhs.cachedTokens == rhs.cachedTokens && lhs.totalTokens == rhs.totalTokens
            && lhs.inputCost == rhs.inputCost && lhs.outputCost == rhs.outputCost
            && lhs.cachedCost == rhs.cachedCost && lhs.totalCost == rhs.totalCost
            && lhs.costSource == rhs.costSource && lhs.latencyMs == rhs.latencyMs
            && lhs.timeToFirstTokenMs == rhs.timeToFirstTokenMs && lhs.feature == rhs.feature
            && lhs.team == rhs.team && lhs.project == rhs.project && lhs.costCenter == rhs.costCenter
            && lhs.userID == rhs.userID && lhs.environment == rhs.environment && lhs.metadata == rhs.metadata
            && lhs.wasCached == rhs.wasCached && lhs.cacheHitType == rhs.cacheHitType
            && lhs.originalModel == rhs.originalModel && lhs.routedByRule == rhs.routedByRule
            && lhs.isError == rhs.isError && lhs.errorCode == rhs.errorCode && lhs.errorType == rhs.errorType
            && lhs.errorMessage == rhs.errorMessage && lhs.promptHash == rhs.promptHash
            && lhs.sdkVersion == rhs.sdkVersion && lhs.sdkLanguage == rhs.sdkLanguage
            && lhs.hostname == rhs.hostname && lhs.cloudProvider == rhs.cloudProvider
            && lhs.instanceID == rhs.instanceID && lhs.k8sPod == rhs.k8sPod
            && lhs.k8sNamespace == rhs.k8sNamespace && lhs.k8sNode == rhs.k8sNode
    }
}

/// The code of a rejected event.
public struct EventErrorCode: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let missingField = EventErrorCode("MISSING_FIELD")
    public static let invalidTimestamp = EventErrorCode("INVALID_TIMESTAMP")
    public static let negativeTokens = EventErrorCode("NEGATIVE_TOKENS")
    public static let negativeValue = EventErrorCode("NEGATIVE_VALUE")
    public static let nonFiniteNumber = EventErrorCode("NON_FINITE_NUMBER")
    public static let fieldTooLong = EventErrorCode("FIELD_TOO_LONG")
    public static let metadataTooLarge = EventErrorCode("METADATA_TOO_LARGE")
    public static let timestampInFuture = EventErrorCode("TIMESTAMP_IN_FUTURE")
    public static let timestampTooOld = EventErrorCode("TIMESTAMP_TOO_OLD")
    public static let rawDataRetired = EventErrorCode("RAW_DATA_RETIRED")
    public static let unknownFieldType = EventErrorCode("UNKNOWN_FIELD_TYPE")
    public static let invalidValue = EventErrorCode("INVALID_VALUE")
    public static let invalidJSON = EventErrorCode("INVALID_JSON")
    public static let invalidCost = EventErrorCode("INVALID_COST")
    public static let orgMismatch = EventErrorCode("ORG_MISMATCH")
}

/// Why one event was rejected: a code, a human message and the field it concerns.
public struct EventError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: EventErrorCode
    public var message: String
    public var field: String?

    public init(_ code: EventErrorCode, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(code): \(message)" }
}
