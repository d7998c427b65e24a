import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

@Suite struct OTLPDecoderTests {
    let mapper = GenAISpanMapper(decoder: EventDecoder())

    func decode(_ bytes: [UInt8], _ format: OTLPFormat = .protobuf, now: Int64 = GenAIFixture.now) throws -> OTLPDecodedBatch {
        try bytes.withUnsafeBytes { raw in try mapper.decode(raw, format: format, org: "org_1", nowMs: now) }
    }

    func decodeError(_ bytes: [UInt8], _ format: OTLPFormat = .protobuf) -> String? {
        do { _ = try decode(bytes, format); return nil } catch { return (error as? OTLPDecodeError)?.message ?? "\(error)" }
    }

    @Test func realExporterProtobufFixture() throws {
        let batch = try decode(try otlpFixture("genai-spans.pb"))
        #expect(batch.spanCount == 6)
        #expect(batch.rejected == [])
        #expect(batch.skipped == ["not_genai": 1, "operation": 1])
        let expected = GenAIFixture.events(org: "org_1")
        #expect(batch.events.count == expected.count)
        for (got, want) in zip(batch.events, expected) {
            #expect(got == want)
            #expect(got.requestID.text == want.requestID.text)
        }
    }

    @Test func otlpJSONFixtureMapsToTheSameEvents() throws {
        let batch = try decode(try otlpFixture("genai-spans.json"), .json)
        #expect(batch.spanCount == 6)
        #expect(batch.rejected == [])
        #expect(batch.skipped == ["not_genai": 1, "operation": 1])
        #expect(batch.events == GenAIFixture.events(org: "org_1"))
    }

    @Test func everyTruncationOfTheFixtureIsAnErrorNeverACrash() throws {
        let full = try otlpFixture("genai-spans.pb")
        var errors = 0
        for n in 1..<full.count where decodeError(Array(full[0..<n])) != nil { errors += 1 }
        // One top-level resource_spans field: every proper prefix cuts it.
        #expect(errors == full.count - 1)
        #expect(try decode([]).spanCount == 0)
    }

    @Test func malformedWireFormatNamesTheProblem() {
        #expect(decodeError([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) == "varint too long at byte 1")
        #expect(decodeError([0x0A, 0x85]) == "truncated varint at byte 1")
        #expect(decodeError([0x08, 0x01]) == "ExportTraceServiceRequest.resource_spans has wire type varint, expected length-delimited (before byte 1)")
        #expect(decodeError([0x0A, 0x80, 0x80, 0x80, 0x80, 0x10]) == "length 4294967296 at byte 1 runs past the end of the enclosing message (0 bytes left)")
        #expect(decodeError([0x0B]) == "unsupported wire type 3 for field 1 at byte 0")
        #expect(decodeError([0x00]) == "invalid field number 0 at byte 0")
        // A span whose start time is a varint instead of fixed64.
        let span = PB.build { $0.int(7, 5) }
        #expect(decodeError(PB.request(spans: [span])) == "Span.start_time_unix_nano has wire type varint, expected fixed64 (before byte 9)")
        // Unknown fields of every wire type are skipped.
        let unknown = PB.build { p in p.int(99, 7); p.fixed64(98, 1); p.str(97, "x"); p.varint(96 << 3 | 5); p.bytes += [1, 2, 3, 4] }
        #expect(try! decode(unknown).spanCount == 0)
        #expect(decodeError(Array("{}".utf8), .json) == nil)
        #expect(decodeError(Array("{\"resourceSpans\":5}".utf8), .json) == "resourceSpans must be an array")
        #expect(decodeError(Array("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":7}]}]}]}".utf8), .json)
            == "resourceSpans[0].scopeSpans[0].spans[0].traceId must be a hex string")
        #expect(decodeError(Array("{\"resourceSpans\":[".utf8), .json) == "invalid JSON at byte 18: unexpected end of input")
    }

    static let trace: [UInt8] = (1...16).map { UInt8($0) }
    static func spanID(_ n: UInt8) -> [UInt8] { [0, 0, 0, 0, 0, 0, 0, n] }
    static let start: UInt64 = UInt64(GenAIFixture.startMs) * 1_000_000

    static func chat(_ n: UInt8, extra: [[UInt8]] = [], trace: [UInt8] = OTLPDecoderTests.trace, spanID: [UInt8]? = nil) -> [UInt8] {
        PB.span(trace: trace, span: spanID ?? Self.spanID(n), startNs: start, endNs: start + 10_000_000, attributes: [
            PB.kv("gen_ai.operation.name", string: "chat"), PB.kv("gen_ai.provider.name", string: "openai"),
            PB.kv("gen_ai.request.model", string: "gpt-4o"), PB.kv("gen_ai.usage.output_tokens", int: 10),
        ] + extra)
    }

    @Test func badSpansAreRejectedAndGoodOnesKept() throws {
        let spans = [
            Self.chat(1, extra: [PB.kv("gen_ai.usage.input_tokens", int: 100)]),
            Self.chat(2, extra: [PB.kv("gen_ai.usage.input_tokens", int: -5)]),
            Self.chat(3, extra: [PB.kv("gen_ai.usage.input_tokens", int: 20_000_000_000)]),
            Self.chat(4, extra: [PB.kv("gen_ai.usage.input_tokens", int: 10), PB.kv("gen_ai.usage.cache_read.input_tokens", int: 11)]),
            Self.chat(5, extra: [PB.kv("user.id", rawString: [0x61, 0xC3, 0x28])]),
            Self.chat(6, extra: [PB.kv("some.other", rawString: [0xED, 0xA0, 0x80])]),
            Self.chat(7, trace: []),
            Self.chat(8, spanID: [0, 0, 0, 0, 0, 0, 0, 0]),
            Self.chat(9, extra: [PB.kv("gen_ai.usage.input_tokens", rawString: Array("12".utf8))]),
            Self.chat(10, extra: [PB.kv("tokentra.team", string: String(repeating: "x", count: 257))]),
        ]
        let batch = try decode(PB.request(spans: spans))
        #expect(batch.events.count == 1)
        #expect(batch.events.first?.inputTokens == 100)
        #expect(batch.events.first?.requestID.text == "otel-0102030405060708090a0b0c0d0e0f10-0000000000000001")
        let got = batch.rejected.map { "\($0.index) \($0.error.code.rawValue) \($0.error.message)" }
        #expect(got == [
            "1 NEGATIVE_TOKENS attribute gen_ai.usage.input_tokens is negative (-5)",
            "2 INVALID_VALUE attribute gen_ai.usage.input_tokens is 20000000000, above the maximum of 10000000000",
            "3 INVALID_VALUE cache reads (11) exceed gen_ai.usage.input_tokens (10), which includes them",
            "4 INVALID_VALUE attribute user.id is not valid UTF-8",
            "5 INVALID_VALUE attribute some.other is not valid UTF-8",
            "6 MISSING_FIELD trace_id must be 16 bytes and not all zero (got 0 bytes)",
            "7 MISSING_FIELD span_id must be 8 bytes and not all zero (got 8 bytes)",
            "8 UNKNOWN_FIELD_TYPE attribute gen_ai.usage.input_tokens must be an integer (got string)",
            "9 FIELD_TOO_LONG attribute tokentra.team is 257 bytes (maximum 256)",
        ])
        #expect(batch.rejected[0].id == "0102030405060708090a0b0c0d0e0f10-0000000000000002")
        let message = OTLPResponse.rejectionMessage(Array(batch.rejected.prefix(2)))
        #expect(message == "2 spans rejected: span 1 (0102030405060708090a0b0c0d0e0f10-0000000000000002): NEGATIVE_TOKENS: attribute gen_ai.usage.input_tokens is negative (-5); span 2 (0102030405060708090a0b0c0d0e0f10-0000000000000003): INVALID_VALUE: attribute gen_ai.usage.input_tokens is 20000000000, above the maximum of 10000000000")
    }

    @Test func timeWindowAndDurations() throws {
        // A span an hour in the future is rejected; end before start is rejected.
        let future = PB.span(trace: Self.trace, span: Self.spanID(1), startNs: Self.start + 3_600_000_000_000,
                             endNs: Self.start + 3_600_000_000_000, attributes: [PB.kv("gen_ai.system", string: "openai"), PB.kv("gen_ai.request.model", string: "gpt-4o")])
        let backwards = PB.span(trace: Self.trace, span: Self.spanID(2), startNs: Self.start, endNs: Self.start - 1,
                                attributes: [PB.kv("gen_ai.system", string: "openai"), PB.kv("gen_ai.request.model", string: "gpt-4o")])
        // 499_999 ns rounds down, 500_000 ns rounds up (half up to whole milliseconds).
        let short = PB.span(trace: Self.trace, span: Self.spanID(3), startNs: Self.start, endNs: Self.start + 2_499_999,
                            attributes: [PB.kv("gen_ai.system", string: "openai"), PB.kv("gen_ai.request.model", string: "gpt-4o")])
        let half = PB.span(trace: Self.trace, span: Self.spanID(4), startNs: Self.start + 999_999, endNs: Self.start + 999_999 + 2_500_000,
                           attributes: [PB.kv("gen_ai.system", string: "openai"), PB.kv("gen_ai.request.model", string: "gpt-4o")])
        let batch = try decode(PB.request(spans: [future, backwards, short, half]))
        #expect(batch.rejected.map(\.error.code.rawValue) == ["TIMESTAMP_IN_FUTURE", "INVALID_VALUE"])
        #expect(batch.events.map(\.latencyMs) == [2, 3])
        #expect(batch.events.map(\.timestampMs) == [GenAIFixture.startMs, GenAIFixture.startMs])
        // A GenAI span with neither model nor usage is skipped, not rejected.
        let noUsage = PB.span(trace: Self.trace, span: Self.spanID(5), startNs: Self.start, endNs: Self.start,
                              attributes: [PB.kv("gen_ai.operation.name", string: "chat")])
        #expect(try decode(PB.request(spans: [noUsage])).skipped == ["no_usage": 1])
    }

    @Test func configuredAttributeMapping() throws {
        var mapping = OTLPAttributeMapping()
        mapping.team = ["app.team"]
        mapping.skippedOperations = []
        let custom = GenAISpanMapper(mapping: mapping, decoder: EventDecoder())
        let spans = [
            Self.chat(1, extra: [PB.kv("app.team", string: "payments"), PB.kv("tokentra.team", string: "ignored")]),
            PB.span(trace: Self.trace, span: Self.spanID(2), startNs: Self.start, endNs: Self.start, attributes: [
                PB.kv("gen_ai.operation.name", string: "invoke_agent"), PB.kv("gen_ai.provider.name", string: "openai"),
                PB.kv("gen_ai.request.model", string: "gpt-4o"), PB.kv("gen_ai.usage.input_tokens", int: 3),
            ]),
        ]
        let body = PB.request(resource: [PB.kv("app.team", string: "resource-team")], spans: spans)
        let batch = try body.withUnsafeBytes { try custom.decode($0, format: .protobuf, org: "o", nowMs: GenAIFixture.now) }
        #expect(batch.events.map(\.team) == ["payments", "resource-team"])
        #expect(batch.events.map(\.inputTokens) == [0, 3])
        // With the default mapping the agent span is skipped and `tokentra.team` is read.
        let defaults = try decode(body)
        #expect(defaults.events.map(\.team) == ["ignored"])
        #expect(defaults.skipped == ["operation": 1])
    }

    @Test func responseEncodings() {
        #expect(OTLPResponse.export(rejected: 0, message: "", format: .protobuf) == [])
        #expect(OTLPResponse.export(rejected: 2, message: "x", format: .protobuf) == [0x0A, 0x05, 0x08, 0x02, 0x12, 0x01, 0x78])
        #expect(String(decoding: OTLPResponse.export(rejected: 0, message: "", format: .json), as: UTF8.self) == "{}")
        #expect(String(decoding: OTLPResponse.export(rejected: 300, message: "bad \"x\"", format: .json), as: UTF8.self)
            == #"{"partialSuccess":{"rejectedSpans":"300","errorMessage":"bad \"x\""}}"#)
        #expect(OTLPResponse.status(code: 3, message: "no", format: .protobuf) == [0x08, 0x03, 0x12, 0x02, 0x6E, 0x6F])
        #expect(String(decoding: OTLPResponse.status(code: 16, message: "no", format: .json), as: UTF8.self) == #"{"code":16,"message":"no"}"#)
        #expect(OTLPFormat(contentType: "application/x-protobuf") == .protobuf)
        #expect(OTLPFormat(contentType: "Application/JSON; charset=utf-8") == .json)
        #expect(OTLPFormat(contentType: "text/plain") == nil)
    }
}

@Suite struct OTelProviderNameTests {
    @Test func openTelemetryProviderNamesFoldToTheStoredProviders() {
        #expect(ProviderName.normalize("aws.bedrock") == "aws")
        #expect(ProviderName.normalize("gcp.vertex_ai") == "google")
        #expect(ProviderName.normalize("gcp.gemini") == "google")
        #expect(ProviderName.normalize("gcp.gen_ai") == "google")
        #expect(ProviderName.normalize("azure.ai.openai") == "azure")
        #expect(ProviderName.normalize("az.ai.inference") == "azure")
        #expect(ProviderName.normalize("mistral_ai") == "mistral_ai")
    }
}
