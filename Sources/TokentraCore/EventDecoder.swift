/// Limits and time windows applied by ``EventDecoder``.
///
/// | property | default | error when exceeded |
/// |---|---|---|
/// | ``maxStringLength`` | 256 bytes | `FIELD_TOO_LONG` |
/// | ``maxErrorMessageLength`` | 4096 bytes | `FIELD_TOO_LONG` |
/// | ``maxRequestIDLength`` | 128 bytes | `FIELD_TOO_LONG` |
/// | ``maxMetadataBytes`` | 16 KiB (compact JSON) | `METADATA_TOO_LARGE` |
/// | ``maxFutureSkewMs`` | 15 minutes | `TIMESTAMP_IN_FUTURE` |
/// | ``maxAgeMs`` | 30 days (`nil`: no limit) | `TIMESTAMP_TOO_OLD` |
/// | ``maxTokens`` | 10,000,000,000 per bucket | `INVALID_VALUE` |
/// | ``maxDepth`` | 64 nesting levels (max 64) | `INVALID_JSON` |
public struct EventDecoderConfiguration: Sendable, Hashable {
    /// Maximum UTF-8 length of a string field other than `error_message` and `request_id`.
    public var maxStringLength: Int = 256
    /// Maximum UTF-8 length of `error_message`.
    public var maxErrorMessageLength: Int = 4096
    /// Maximum UTF-8 length of `request_id`.
    public var maxRequestIDLength: Int = 128
    /// Maximum size of `metadata` re-serialized as compact JSON.
    public var maxMetadataBytes: Int = 16 * 1024
    /// How far in the future (relative to `nowMs`) a timestamp may be.
    public var maxFutureSkewMs: Int64 = 15 * 60 * 1000
    /// How far in the past a timestamp may be; `nil` accepts any age (for imports of history).
    public var maxAgeMs: Int64? = 30 * 86_400 * 1000
    /// Maximum of each token count.
    public var maxTokens: Int64 = 10_000_000_000
    /// Maximum JSON nesting depth of an event (the event object is level 1); capped at 64.
    public var maxDepth: Int = 64

    public init() {}
}

/// Which organization a decoded event belongs to.
public enum OrgPolicy: Sendable, Hashable {
    /// Operator import: the event's `org_id` (or Token Trackr `tenant_id`) if present, else `default`.
    case fromEvent(default: String)
    /// HTTP ingest: always this org (the API key's). An event naming another org fails with
    /// `ORG_MISMATCH`; an event naming this org, or none, is accepted.
    case fixed(String)
}

/// A rejected event: the error, plus the event's `request_id` text when it could be read, so
/// callers can report `{"index","request_id","code","message"}`.
public struct DecodeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var error: EventError
    /// The `request_id` as sent, when it was a string of acceptable length.
    public var requestID: String?

    public init(error: EventError, requestID: String? = nil) {
        self.error = error
        self.requestID = requestID
    }

    public var code: EventErrorCode { error.code }
    public var message: String { error.message }
    public var description: String { error.description }
}

/// Decodes and validates one JSON event object into a ``UsageEvent``.
///
/// The decoder is a purpose-built single-pass scanner over the raw bytes (no Foundation): keys may
/// come in any order, unknown keys are skipped (their values are still validated as JSON), numbers
/// are kept as text until converted exactly (costs through ``Money``, never `Double`), strings may
/// use any JSON escape including `\uXXXX` surrogate pairs, UTF-8 is validated, and nesting is
/// handled iteratively and capped at 64 levels. It allocates only for the `String` fields it keeps.
/// The accepted schema is `schema/event.schema.json`; the cost rules are `schema/price-table.md`.
///
/// Decisions worth knowing:
/// - **Errors**: `INVALID_JSON` wins over everything; otherwise the first field-level problem in
///   document order is reported, then missing fields (request_id, timestamp, provider, model),
///   org, time window and costs. ``DecodeFailure/requestID`` carries the `request_id` whenever it
///   was read, even if it comes after the faulty field.
/// - **Tokens** are integers ≥ 0 and ≤ ``EventDecoderConfiguration/maxTokens``: `12.0` and `1.2e3`
///   are accepted (JSON has no integer type and some SDKs send floats), `12.5` is `INVALID_VALUE`,
///   `-1` is `NEGATIVE_TOKENS`, a string is `UNKNOWN_FIELD_TYPE`.
/// - **Durations** (`latency_ms`, `time_to_first_token_ms`) are numbers ≥ 0 rounded half-up to
///   whole milliseconds (`12.5` → 13); an absent latency is stored as 0.
/// - **Timestamps** need a time zone; sub-millisecond digits are truncated (see ``UTCTimestamp``).
/// - **Costs** are JSON numbers stored with 10 decimals; more digits (float noise such as
///   `0.30000000000000004`) are rounded half to even (`0.3`); out of range or negative is
///   `INVALID_COST`; a string cost is `UNKNOWN_FIELD_TYPE`.
/// - **Strings**: `""` and `null` mean absent for optional fields; no trimming or case folding
///   (except `provider`, see ``ProviderName``). `error_code` may be a number (kept as its text).
/// - **metadata** is stored as compact JSON (whitespace removed; key order, escapes and number
///   text preserved); `{}` is absent.
/// - **Duplicates**: a repeated key is `INVALID_VALUE`; two spellings of one field
///   (`prompt_tokens`/`input_tokens`, `tenant_id`/`org_id`, flat and nested host fields) must agree.
/// - **Token Trackr** events (`prompt_tokens`, `completion_tokens`, `tenant_id`) may omit
///   `request_id`: it is derived from SHA-256 of the org and the compact event, text `tt-<32 hex>`
///   (keyed like any opaque id), so an identical retry, or a re-import of an export, deduplicates. Host metadata is read from flat keys (`hostname`,
///   `cloud_provider`, `instance_id`, `k8s_pod`/`kubernetes_pod`/`pod_name`, `k8s_namespace`/
///   `kubernetes_namespace`/`pod_namespace`, `k8s_node`/`kubernetes_node`/`node_name`, and the
///   camelCase `cloudProvider`/`instanceId`) or from a nested `host` object (also `host_metadata`)
///   with an optional `k8s`/`kubernetes` object `{pod, namespace, node}`.
///
/// ```swift
/// let decoder = EventDecoder()
/// let line = Array(#"{"request_id":"...","timestamp":"2026-11-24T19:30:00Z", ...}"#.utf8)
/// let result = line.withUnsafeBufferPointer {
///     decoder.decode($0, org: .fixed("org_1"), nowMs: nowMs)
/// }
/// switch result {
/// case .success(let event): store(event)
/// case .failure(let failure): report(failure.requestID, failure.error.code, failure.error.message)
/// }
/// ```
public struct EventDecoder: Sendable {
    public var configuration: EventDecoderConfiguration
    /// Prices used when an event carries no costs.
    public var priceTable: PriceTable

    public init(configuration: EventDecoderConfiguration = .init(), priceTable: PriceTable = .default) {
        self.configuration = configuration
        self.priceTable = priceTable
    }

    /// Decodes one event object and appends it to `batch` as one row.
    ///
    /// Strings go from the input bytes straight into the batch's dictionary columns (a `String` is
    /// made only for a value the batch has not seen), so decoding a typical event allocates nothing.
    ///
    /// - Parameters:
    ///   - object: the bytes of one JSON object (surrounding whitespace allowed). The bytes are
    ///     only read during the call.
    ///   - org: how the event's organization is chosen (see ``OrgPolicy``).
    ///   - nowMs: the current time in milliseconds since the epoch, for the time-window checks.
    ///   - batch: where the event is appended; left with the same rows when the event is rejected.
    /// - Returns: `nil` when the event was appended, else the first problem found (see ``EventErrorCode``).
    public func decode(_ object: UnsafeBufferPointer<UInt8>, org: OrgPolicy, nowMs: Int64, into batch: inout EventBatch) -> DecodeFailure? {
        guard let base = object.baseAddress, object.count > 0 else {
            return DecodeFailure(error: EventError(.invalidJSON, "empty event"))
        }
        var parser = EventParser(base: base, count: object.count, configuration: configuration)
        do {
            try parser.parseObject()
        } catch {
            var syntax = error
            if case .tooDeep = syntax.reason {  // report the limit as configured (the event object is level 1)
                syntax.reason = .tooDeep(min(max(configuration.maxDepth, 2), 64))
            }
            return DecodeFailure(error: EventError(.invalidJSON, syntax.message), requestID: parser.requestIDText())
        }
        return parser.finish(org: org, nowMs: nowMs, priceTable: priceTable, into: &batch)
    }

    /// Decodes one event object into a ``UsageEvent`` (see ``decode(_:org:nowMs:into:)``, which the
    /// ingest paths use).
    public func decode(_ object: UnsafeBufferPointer<UInt8>, org: OrgPolicy, nowMs: Int64) -> Result<UsageEvent, DecodeFailure> {
        var batch = EventBatch()
        if let failure = decode(object, org: org, nowMs: nowMs, into: &batch) { return .failure(failure) }
        return .success(batch.event(at: 0))
    }

    /// Decodes one event object from an array of bytes (see ``decode(_:org:nowMs:)-(UnsafeBufferPointer<UInt8>,_,_)``).
    public func decode(_ bytes: [UInt8], org: OrgPolicy, nowMs: Int64) -> Result<UsageEvent, DecodeFailure> {
        bytes.withUnsafeBufferPointer { decode($0, org: org, nowMs: nowMs) }
    }

    /// Decodes one event object from JSON text.
    public func decode(_ text: String, org: OrgPolicy, nowMs: Int64) -> Result<UsageEvent, DecodeFailure> {
        decode(Array(text.utf8), org: org, nowMs: nowMs)
    }
}
