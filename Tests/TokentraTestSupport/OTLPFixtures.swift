import Foundation
import TokentraCore

/// A minimal protobuf encoder for hand-built OTLP requests (independent of the decoder under test).
public struct PB {
    public init() {}
    public var bytes: [UInt8] = []
    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    public mutating func len(_ field: UInt64, _ payload: [UInt8]) { varint(field << 3 | 2); varint(UInt64(payload.count)); bytes += payload }
    public mutating func str(_ field: UInt64, _ s: String) { len(field, Array(s.utf8)) }
    public mutating func int(_ field: UInt64, _ v: Int64) { varint(field << 3); varint(UInt64(bitPattern: v)) }
    public mutating func fixed64(_ field: UInt64, _ v: UInt64) {
        varint(field << 3 | 1)
        for i in 0..<8 { bytes.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) }
    }
    public static func build(_ body: (inout PB) -> Void) -> [UInt8] { var p = PB(); body(&p); return p.bytes }

    public static func kv(_ key: String, string: String) -> [UInt8] { build { $0.str(1, key); $0.len(2, build { $0.str(1, string) }) } }
    public static func kv(_ key: String, rawString: [UInt8]) -> [UInt8] { build { $0.str(1, key); $0.len(2, build { $0.len(1, rawString) }) } }
    public static func kv(_ key: String, int: Int64) -> [UInt8] { build { $0.str(1, key); $0.len(2, build { $0.int(3, int) }) } }

    /// A chat span with the given ids, model and tokens.
    public static func span(trace: [UInt8], span: [UInt8], startNs: UInt64, endNs: UInt64, attributes: [[UInt8]]) -> [UInt8] {
        build { p in
            p.len(1, trace)
            p.len(2, span)
            p.str(5, "chat")
            p.fixed64(7, startNs)
            p.fixed64(8, endNs)
            for a in attributes { p.len(9, a) }
        }
    }

    public static func request(resource: [[UInt8]] = [], spans: [[UInt8]]) -> [UInt8] {
        build { r in
            r.len(1, build { rs in
                rs.len(1, build { res in for a in resource { res.len(1, a) } })
                rs.len(2, build { ss in for s in spans { ss.len(2, s) } })
            })
        }
    }
}

/// The repository's root directory.
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A file of `Tests/Fixtures/otlp/`.
public func otlpFixture(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/Tests/Fixtures/otlp/" + name)))
}

/// The spans the real Python SDK exported into `Tests/Fixtures/otlp/genai-spans.pb` (and, via the
/// SDK's encoder, `.json`), as the events the mapping must produce (hand-computed costs).
public enum GenAIFixture {
    public static let startMs: Int64 = 1_764_590_400_000  // 2025-12-01T12:00:00Z
    public static let now: Int64 = startMs + 60_000

    public static func id(_ base: Int, _ n: Int) -> String {
        let suffix = String(format: "%02x%02x", base, n)
        return "otel-0af7651916cd43dd8448eb211c80\(suffix)-00f067aa0ba9\(suffix)"
    }

    public static func requestID(_ text: String) -> RequestID {
        // The decoder's keying of an opaque request id: the same as `request_id` sent as text.
        let line = #"{"request_id":"\#(text)","timestamp":"2025-12-01T12:00:00Z","provider":"openai","model":"m"}"#
        return try! EventDecoder().decode(line, org: .fixed("o"), nowMs: now).get().requestID
    }

    public static func events(org: String, base: Int = 1, startMs: Int64 = startMs) -> [UsageEvent] {
        var a = UsageEvent(orgID: org, requestID: requestID(id(base, 1)), timestampMs: startMs, provider: "openai", model: "gpt-4o")
        a.inputTokens = 1000; a.outputTokens = 300; a.cachedTokens = 200; a.totalTokens = 1500
        a.inputCost = usd("0.005"); a.outputCost = usd("0.0045"); a.cachedCost = usd("0.001"); a.totalCost = usd("0.0105")
        a.costSource = .priceTable(version: 1); a.latencyMs = 1235
        a.feature = "search"; a.team = "growth"; a.costCenter = "cc-42"; a.userID = "user-17"

        var b = UsageEvent(orgID: org, requestID: requestID(id(base, 2)), timestampMs: startMs + 1000, provider: "anthropic",
                           model: "claude-3-5-haiku-20241022")
        b.inputTokens = 50; b.totalTokens = 50
        b.inputCost = usd("0.00004"); b.totalCost = usd("0.00004"); b.costSource = .priceTable(version: 1)
        b.latencyMs = 87; b.isError = true; b.errorType = "overloaded_error"; b.errorMessage = "upstream overloaded"

        var c = UsageEvent(orgID: org, requestID: requestID(id(base, 3)), timestampMs: startMs + 2000, provider: "openai",
                           model: "gpt-4o-mini-2024-07-18")
        c.originalModel = "gpt-4o-mini"
        c.inputTokens = 800; c.outputTokens = 150; c.totalTokens = 950
        c.inputCost = usd("0.00012"); c.outputCost = usd("0.00009"); c.totalCost = usd("0.00021")
        c.costSource = .priceTable(version: 1); c.latencyMs = 3000; c.timeToFirstTokenMs = 250; c.project = "assistant"

        var d = UsageEvent(orgID: org, requestID: requestID(id(base, 4)), timestampMs: startMs + 3000, provider: "anthropic",
                           model: "claude-sonnet-4-20250514")
        d.inputTokens = 700; d.outputTokens = 500; d.cachedTokens = 300; d.totalTokens = 1500
        d.totalCost = usd("0.0123"); d.costSource = .client; d.latencyMs = 2; d.userID = "user-9"
        d.metadata = #"{"cache_creation_input_tokens":100,"reasoning_output_tokens":40}"#

        return [a, b, c, d].map { e in
            var e = e
            if e.project == nil { e.project = "checkout-api" }
            e.environment = "staging"; e.hostname = "web-7"; e.sdkLanguage = "python"; e.sdkVersion = "1.45.2"
            return e
        }
    }
}


func usd(_ text: String) -> Money { try! Money(parsing: text) }
