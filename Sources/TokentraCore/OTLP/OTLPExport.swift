/// The two OTLP/HTTP encodings.
public enum OTLPFormat: Sendable, Equatable {
    case protobuf
    case json

    public var contentType: String {
        switch self {
        case .protobuf: return "application/x-protobuf"
        case .json: return "application/json"
        }
    }

    /// The format of a `Content-Type` header value (parameters such as `charset` ignored), or `nil`.
    public init?(contentType: String) {
        let media = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingASCIISpaces().lowercased() } ?? ""
        switch media {
        case "application/x-protobuf", "application/protobuf": self = .protobuf
        case "application/json": self = .json
        default: return nil
        }
    }
}

extension Substring {
    func trimmingASCIISpaces() -> Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}

/// One span that was not stored, and why.
public struct OTLPRejectedSpan: Sendable, Equatable {
    /// Position of the span in the request (0-based, across resources and scopes).
    public var index: Int
    /// `<trace id hex>-<span id hex>`.
    public var id: String
    public var error: EventError

    public init(index: Int, id: String, error: EventError) {
        self.index = index
        self.id = id
        self.error = error
    }
}

/// The spans of one request after decoding and mapping.
public struct OTLPDecodedBatch: Sendable {
    public var spanCount = 0
    /// The GenAI spans as events, in request order.
    public var events: [UsageEvent] = []
    /// The request position of each event's span.
    public var eventSpanIndex: [Int] = []
    public var rejected: [OTLPRejectedSpan] = []
    /// Skipped spans by reason (`not_genai`, `operation`, `no_usage`).
    public var skipped: [String: Int] = [:]
}

extension GenAISpanMapper {
    /// Decodes an `ExportTraceServiceRequest` body and maps every span.
    /// - Throws: ``OTLPDecodeError`` when the body itself is malformed (nothing is kept then).
    public func decode(_ body: UnsafeRawBufferPointer, format: OTLPFormat, org: String, nowMs: Int64) throws(OTLPDecodeError) -> OTLPDecodedBatch {
        let traces: OTLPTraces
        switch format {
        case .protobuf: traces = try OTLPProtobuf.decodeRequest(body, keys: keys)
        case .json: traces = try OTLPJSON.decodeRequest(body, keys: keys)
        }
        var out = OTLPDecodedBatch()
        out.spanCount = traces.spans.count
        out.events.reserveCapacity(traces.spans.count)
        for span in traces.spans {
            switch map(span, in: traces, org: org, nowMs: nowMs) {
            case .event(let e):
                out.events.append(e)
                out.eventSpanIndex.append(span.index)
            case .skipped(let reason): out.skipped[reason, default: 0] += 1
            case .rejected(let error): out.rejected.append(OTLPRejectedSpan(index: span.index, id: span.idText, error: error))
            }
        }
        return out
    }
}

/// Encodes OTLP/HTTP response bodies: `ExportTraceServiceResponse` and, for errors,
/// `google.rpc.Status`, in the request's encoding.
public enum OTLPResponse {
    /// `ExportTraceServiceResponse`; `partial_success` is present when `rejected > 0` or a message is given.
    public static func export(rejected: Int, message: String, format: OTLPFormat) -> [UInt8] {
        let partial = rejected > 0 || !message.isEmpty
        switch format {
        case .protobuf:
            guard partial else { return [] }
            var inner = ProtobufWriter()
            if rejected > 0 { inner.field(1, int64: Int64(rejected)) }
            if !message.isEmpty { inner.field(2, string: message) }
            var w = ProtobufWriter()
            w.field(1, message: inner.bytes)
            return w.bytes
        case .json:
            var w = JSONWriter()
            w.object { o in
                if partial {
                    o.field("partialSuccess", object: { p in
                        if rejected > 0 { p.field("rejectedSpans", String(rejected)) }  // int64 as a string (proto3 JSON)
                        if !message.isEmpty { p.field("errorMessage", message) }
                    })
                }
            }
            return Array(w.text.utf8)
        }
    }

    /// `google.rpc.Status{code, message}` (`code` is a gRPC status code).
    public static func status(code: Int32, message: String, format: OTLPFormat) -> [UInt8] {
        switch format {
        case .protobuf:
            var w = ProtobufWriter()
            if code != 0 { w.field(1, int64: Int64(code)) }
            if !message.isEmpty { w.field(2, string: message) }
            return w.bytes
        case .json:
            var w = JSONWriter()
            w.object { o in
                o.field("code", Int(code))
                o.field("message", message)
            }
            return Array(w.text.utf8)
        }
    }

    /// The `error_message` of a partial success: the count, then the first `limit` rejections
    /// (`span <index> (<ids>): <CODE>: <message>`).
    public static func rejectionMessage(_ rejected: [OTLPRejectedSpan], limit: Int = 10) -> String {
        guard !rejected.isEmpty else { return "" }
        var parts = rejected.prefix(limit).map { "span \($0.index) (\($0.id)): \($0.error.code.rawValue): \($0.error.message)" }
        if rejected.count > limit { parts.append("and \(rejected.count - limit) more") }
        return "\(rejected.count) span\(rejected.count == 1 ? "" : "s") rejected: " + parts.joined(separator: "; ")
    }
}
