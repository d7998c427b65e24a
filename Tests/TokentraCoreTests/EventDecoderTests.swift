import Foundation
import Testing
import TokentraCore

@Suite struct EventDecoderSampleTests {
    // Lines from the benchmark generator (gen_events.py --events 10000 --days 30 --seed 42).
    static let azureLineJSON = #"{"request_id":"1612ea05-b3da-4117-a82f-ff25bc34e5c9","timestamp":"2026-10-21T00:08:49.538Z","org_id":"org_fcj9ju8z","provider":"azure","model":"gpt-4o-mini","input_tokens":168,"output_tokens":558,"cached_tokens":0,"input_cost":0.0000252,"output_cost":0.0003348,"cached_cost":0,"total_cost":0.00036,"latency_ms":628,"feature":"translation","team":"platform","project":"beacon","cost_center":"CC-1100-product","user_id":"user_14942","environment":"production","was_cached":false,"cache_hit_type":null,"is_error":false,"sdk_version":"2.0.0","sdk_language":"python"}"#
    static let metadataLineJSON = #"{"request_id":"0936aa84-b596-465e-93c0-8860e0e07bc8","timestamp":"2026-10-21T00:13:22.904Z","org_id":"org_ybnyr2xz","provider":"openai","model":"gpt-4o-mini","input_tokens":351,"output_tokens":903,"cached_tokens":0,"input_cost":0.00005265,"output_cost":0.0005418,"cached_cost":0,"total_cost":0.00059445,"latency_ms":1452,"time_to_first_token_ms":590,"feature":"code_review","team":"web","project":"atlas","cost_center":null,"user_id":"user_15610","environment":"production","metadata":{"route":"/internal/batch","job":"nightly-tagging"},"was_cached":false,"cache_hit_type":null,"is_error":false,"prompt_hash":"7a3065fdb83909fbb1bc1eb23ebdf33d8a73494c29975582ee553b8c48dc1e45","sdk_version":"2.0.0","sdk_language":"python"}"#
    static let cachedLineJSON = #"{"request_id":"a353ca6d-b3be-48c1-a2a2-57ba2f40b86f","timestamp":"2026-10-21T00:42:13.601Z","org_id":"org_qk24n7zf","provider":"anthropic","model":"claude-3-5-haiku-20241022","input_tokens":519,"output_tokens":791,"cached_tokens":1873,"input_cost":0.0004152,"output_cost":0.003164,"cached_cost":0.001873,"total_cost":0.0054522,"latency_ms":792,"feature":"chat","team":"platform","project":"orbit","cost_center":null,"user_id":"user_00950","environment":"staging","was_cached":false,"cache_hit_type":null,"is_error":false,"prompt_hash":"3a4c3ab691e197fc162382f896c89680b24149dbf8631e1fa42ae98bb9b5ad4a","sdk_version":"2.0.0","sdk_language":"python"}"#
    static let errorLineJSON = #"{"request_id":"935467c3-590b-407d-bcd4-103d62a5a461","timestamp":"2026-10-21T11:06:09.093Z","org_id":"org_696dcjjz","provider":"openai","model":"gpt-4o","input_tokens":2219,"output_tokens":0,"cached_tokens":0,"input_cost":0.011095,"output_cost":0,"cached_cost":0,"total_cost":0.011095,"latency_ms":1418,"feature":"chat","team":"data","project":"atlas","cost_center":null,"user_id":"user_00438","environment":"production","was_cached":false,"cache_hit_type":null,"is_error":true,"error_code":"500","error_type":"server_error","sdk_version":"2.0.0","sdk_language":"python"}"#
    static let routedLineJSON = #"{"request_id":"1247f710-e12e-4891-bc2e-8a2f7992cfe7","timestamp":"2026-10-21T02:16:48.667Z","org_id":"org_696dcjjz","provider":"azure","model":"gpt-4o-mini","input_tokens":337,"output_tokens":86,"cached_tokens":0,"input_cost":0.00005055,"output_cost":0.0000516,"cached_cost":0,"total_cost":0.00010215,"latency_ms":438,"feature":"summarize","team":"search","project":"delta","cost_center":null,"user_id":"user_13215","environment":"production","metadata":{"route":"/api/chat","region":"eu-west-1"},"was_cached":false,"cache_hit_type":null,"original_model":"gpt-4o","routed_by_rule":"ab-test-cheap-model","is_error":false,"prompt_hash":"5b4b093475cd02cc85a5874bf4d24efe52fda3082cc43521e9ddf45df50cf11c","sdk_version":"2.0.0","sdk_language":"python"}"#
    static let gatewayHitLineJSON = #"{"request_id":"a7e77945-11cc-4a93-91ec-1aec8ea76eb7","timestamp":"2026-10-21T00:48:39.262Z","org_id":"org_dhbezjrb","provider":"anthropic","model":"claude-3-5-haiku-20241022","input_tokens":1723,"output_tokens":29,"cached_tokens":1979,"input_cost":0,"output_cost":0,"cached_cost":0,"total_cost":0,"latency_ms":27,"feature":"chat","team":"mobile","project":"relay","cost_center":null,"user_id":"user_02143","environment":"production","was_cached":true,"cache_hit_type":"exact","is_error":false,"prompt_hash":"1f52aace5524956c0687d27c99e04a06f7d17966a071a28cb1a32ccfa1c25364","sdk_version":"2.0.0","sdk_language":"python"}"#
    static let bedrockLineJSON = #"{"request_id":"08ec643e-8add-49a7-a8a4-2bff748907fe","timestamp":"2026-10-21T00:34:54.167Z","org_id":"org_fgjpn35j","provider":"aws","model":"anthropic.claude-3-sonnet-20240229-v1:0","input_tokens":243,"output_tokens":1359,"cached_tokens":0,"input_cost":0.000729,"output_cost":0.020385,"cached_cost":0,"total_cost":0.021114,"latency_ms":3368,"time_to_first_token_ms":877,"feature":"code_review","team":"search","project":"atlas","cost_center":null,"user_id":"user_11146","environment":"development","metadata":{"route":"/api/search","region":"us-east-1"},"was_cached":false,"cache_hit_type":null,"is_error":false,"sdk_version":"2.0.0","sdk_language":"python"}"#

    @Test func azureLine() throws {
        let e = try #require(event(Self.azureLineJSON))
        var expected = UsageEvent(
            orgID: "org_fcj9ju8z", requestID: try #require(RequestID(uuid: "1612ea05-b3da-4117-a82f-ff25bc34e5c9")),
            timestampMs: 1_792_541_329_538, provider: "azure", model: "gpt-4o-mini")
        expected.inputTokens = 168
        expected.outputTokens = 558
        expected.cachedTokens = 0
        expected.totalTokens = 726
        expected.inputCost = money("0.0000252")
        expected.outputCost = money("0.0003348")
        expected.cachedCost = .zero
        expected.totalCost = money("0.00036")
        expected.costSource = .client
        expected.latencyMs = 628
        expected.feature = "translation"
        expected.team = "platform"
        expected.project = "beacon"
        expected.costCenter = "CC-1100-product"
        expected.userID = "user_14942"
        expected.environment = "production"
        expected.sdkVersion = "2.0.0"
        expected.sdkLanguage = "python"
        #expect(e == expected)
        #expect(e.requestID.description == "1612ea05-b3da-4117-a82f-ff25bc34e5c9")
        #expect(e.requestID.text == nil)
        #expect(formatTimestamp(e.timestampMs) == "2026-10-21T00:08:49.538Z")
    }

    @Test func metadataLine() throws {
        let e = try #require(event(Self.metadataLineJSON))
        #expect(e.orgID == "org_ybnyr2xz")
        #expect(e.timestampMs == 1_792_541_602_904)
        #expect(e.provider == "openai")
        #expect(e.model == "gpt-4o-mini")
        #expect((e.inputTokens, e.outputTokens, e.cachedTokens, e.totalTokens) == (351, 903, 0, 1254))
        #expect(e.inputCost.description == "0.00005265")
        #expect(e.outputCost.description == "0.0005418")
        #expect(e.cachedCost.description == "0")
        #expect(e.totalCost.description == "0.00059445")
        #expect(e.latencyMs == 1452)
        #expect(e.timeToFirstTokenMs == 590)
        #expect(e.costCenter == nil)
        #expect(e.metadata == #"{"route":"/internal/batch","job":"nightly-tagging"}"#)
        #expect(e.cacheHitType == nil)
        #expect(e.promptHash == "7a3065fdb83909fbb1bc1eb23ebdf33d8a73494c29975582ee553b8c48dc1e45")
        #expect(e.wasCached == false && e.isError == false)
    }

    @Test func cachedTokensLine() throws {
        let e = try #require(event(Self.cachedLineJSON))
        #expect(e.provider == "anthropic")
        #expect((e.inputTokens, e.outputTokens, e.cachedTokens, e.totalTokens) == (519, 791, 1873, 3183))
        #expect(e.inputCost.description == "0.0004152")
        #expect(e.outputCost.description == "0.003164")
        #expect(e.cachedCost.description == "0.001873")
        #expect(e.totalCost.description == "0.0054522")
        #expect(e.environment == "staging")
        // The built-in price table predicts exactly what the client sent.
        let p = try #require(
            PriceTable.builtIn.predictedCosts(
                provider: e.provider, model: e.model, timestampMs: e.timestampMs, input: e.inputTokens,
                output: e.outputTokens, cached: e.cachedTokens))
        #expect(p.input == e.inputCost && p.output == e.outputCost && p.cached == e.cachedCost)
    }

    @Test func errorLine() throws {
        let e = try #require(event(Self.errorLineJSON))
        #expect(e.isError)
        #expect(e.errorCode == "500")
        #expect(e.errorType == "server_error")
        #expect(e.errorMessage == nil)
        #expect(e.outputTokens == 0)
        #expect(e.totalCost.description == "0.011095")
        #expect(e.timestampMs == 1_792_580_769_093)
    }

    @Test func routedLine() throws {
        let e = try #require(event(Self.routedLineJSON))
        #expect(e.originalModel == "gpt-4o")
        #expect(e.routedByRule == "ab-test-cheap-model")
        #expect(e.metadata == #"{"route":"/api/chat","region":"eu-west-1"}"#)
        #expect(e.inputCost.description == "0.00005055")
        #expect(e.outputCost.description == "0.0000516")
        #expect(e.totalCost.description == "0.00010215")
    }

    @Test func gatewayCacheHitLine() throws {
        let e = try #require(event(Self.gatewayHitLineJSON))
        #expect(e.wasCached)
        #expect(e.cacheHitType == "exact")
        #expect(e.totalCost == .zero)
        #expect(e.costSource == .client)
        #expect(e.latencyMs == 27)
    }

    @Test func bedrockLine() throws {
        let e = try #require(event(Self.bedrockLineJSON))
        #expect(e.provider == "aws")
        #expect(e.model == "anthropic.claude-3-sonnet-20240229-v1:0")
        #expect(e.timeToFirstTokenMs == 877)
        #expect(e.environment == "development")
        #expect(e.totalCost.description == "0.021114")
        #expect(e.timestampMs == 1_792_542_894_167)
    }

    /// The same sample events without costs are priced by the built-in table to the same amounts.
    @Test(arguments: [azureLineJSON, metadataLineJSON, cachedLineJSON, errorLineJSON, routedLineJSON, bedrockLineJSON])
    func priceTableReproducesClientCosts(line: String) throws {
        let withCosts = try #require(event(line))
        var stripped = line
        for key in ["input_cost", "output_cost", "cached_cost", "total_cost"] {
            let range = try #require(stripped.range(of: #""\#(key)":[0-9.e-]+,"#, options: .regularExpression))
            stripped.removeSubrange(range)
        }
        let priced = try #require(event(stripped))
        #expect(priced.costSource == .priceTable(version: 1))
        #expect(priced.inputCost == withCosts.inputCost)
        #expect(priced.outputCost == withCosts.outputCost)
        #expect(priced.cachedCost == withCosts.cachedCost)
        #expect(priced.totalCost == withCosts.totalCost)
    }
}

@Suite struct EventDecoderErrorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var json: String
        var code: EventErrorCode
        var field: String?
        var message: String? = nil
        var testDescription: String { "\(code) \(field ?? "-") \(json.prefix(80))" }
    }

    static let body = #""timestamp":"2026-11-19T12:00:00Z","provider":"openai","model":"gpt-4o""#
    static let rid = #""request_id":"8c1a8a37-5b0c-4e0c-9d3e-0f6f1e2a3b4c""#

    static let cases: [Case] = [
        Case(json: "{\(body)}", code: .missingField, field: "request_id", message: "missing required field request_id"),
        Case(json: #"{"request_id":null,\#(body)}"#, code: .missingField, field: "request_id"),
        Case(json: #"{\#(rid),"provider":"openai","model":"gpt-4o"}"#, code: .missingField, field: "timestamp",
             message: "missing required field timestamp"),
        Case(json: #"{\#(rid),"timestamp":"2026-11-19T12:00:00Z","model":"gpt-4o"}"#, code: .missingField, field: "provider"),
        Case(json: #"{\#(rid),"timestamp":"2026-11-19T12:00:00Z","provider":"openai"}"#, code: .missingField, field: "model"),
        Case(json: #"{\#(rid),"timestamp":"2026-11-19T12:00:00Z","provider":"openai","model":null}"#, code: .missingField, field: "model"),
        Case(json: minimal().replacingOccurrences(of: "2026-11-19T12:00:00Z", with: "2026-02-30T00:00:00Z"),
             code: .invalidTimestamp, field: "timestamp",
             message: #"field timestamp "2026-02-30T00:00:00Z" is invalid: day 30 is out of range for 2026-02"#),
        Case(json: minimal().replacingOccurrences(of: "2026-11-19T12:00:00Z", with: "2026-11-19T12:00:00"),
             code: .invalidTimestamp, field: "timestamp"),
        Case(json: minimal().replacingOccurrences(of: #""2026-11-19T12:00:00Z""#, with: "1795089600"),
             code: .unknownFieldType, field: "timestamp", message: "field timestamp must be a string, got number"),
        Case(json: minimal(#","cached_tokens":-5"#), code: .negativeTokens, field: "cached_tokens",
             message: "field cached_tokens must not be negative, got -5"),
        Case(json: minimal(#","prompt_tokens":-1.5"#).replacingOccurrences(of: #""input_tokens":1000,"#, with: ""),
             code: .negativeTokens, field: "prompt_tokens"),
        Case(json: minimal(#","latency_ms":-1"#), code: .negativeValue, field: "latency_ms",
             message: "field latency_ms must not be negative, got -1"),
        Case(json: minimal(#","time_to_first_token_ms":-0.6"#), code: .negativeValue, field: "time_to_first_token_ms"),
        Case(json: minimal(#","latency_ms":NaN"#), code: .nonFiniteNumber, field: "latency_ms",
             message: "field latency_ms must be a finite number, got NaN"),
        Case(json: minimal(#","total_cost":Infinity"#), code: .nonFiniteNumber, field: "total_cost"),
        Case(json: minimal(#","cached_tokens":-Infinity"#), code: .nonFiniteNumber, field: "cached_tokens"),
        Case(json: minimal(#","total_tokens":1e400"#), code: .nonFiniteNumber, field: "total_tokens",
             message: "field total_tokens overflows: 1e400"),
        Case(json: minimal(#","total_tokens":99999999999999999999"#), code: .nonFiniteNumber, field: "total_tokens"),
        Case(json: minimal(#","input_cost":1e309"#), code: .nonFiniteNumber, field: "input_cost"),
        Case(json: minimal(#","latency_ms":1e19"#), code: .nonFiniteNumber, field: "latency_ms"),
        Case(json: minimal(#","feature":NaN"#), code: .nonFiniteNumber, field: "feature"),
        Case(json: minimal(#","custom":{"a":[1,NaN]}"#), code: .nonFiniteNumber, field: "custom"),
        Case(json: minimal(#","metadata":{"x":Infinity}"#), code: .nonFiniteNumber, field: "metadata"),
        Case(json: minimal(#","feature":"\#(String(repeating: "f", count: 257))""#), code: .fieldTooLong, field: "feature",
             message: "field feature is 257 bytes long, the limit is 256"),
        Case(json: minimal(#","error_message":"\#(String(repeating: "e", count: 4097))""#), code: .fieldTooLong,
             field: "error_message"),
        Case(json: minimal(requestID: "\"\(String(repeating: "r", count: 129))\""), code: .fieldTooLong, field: "request_id"),
        Case(json: minimal(#","team":"\#(String(repeating: "\\u00e9", count: 129))""#), code: .fieldTooLong, field: "team",
             message: "field team is 258 bytes long, the limit is 256"),
        Case(json: minimal(#","metadata":{"blob":"\#(String(repeating: "m", count: 16 * 1024))"}"#), code: .metadataTooLarge,
             field: "metadata", message: "field metadata is 16395 bytes, the limit is 16384"),
        Case(json: minimal().replacingOccurrences(of: "2026-11-19T12:00:00Z", with: "2026-11-20T00:15:00.001Z"),
             code: .timestampInFuture, field: "timestamp"),
        Case(json: minimal().replacingOccurrences(of: "2026-11-19T12:00:00Z", with: "2026-10-20T23:59:59.999Z"),
             code: .timestampTooOld, field: "timestamp"),
        Case(json: minimal(#","input_tokens":"12""#).replacingOccurrences(of: #""input_tokens":1000,"#, with: ""),
             code: .unknownFieldType, field: "input_tokens", message: "field input_tokens must be an integer, got string"),
        Case(json: minimal(#","feature":["a"]"#), code: .unknownFieldType, field: "feature",
             message: "field feature must be a string, got array"),
        Case(json: minimal(#","metadata":"route=/x""#), code: .unknownFieldType, field: "metadata",
             message: "field metadata must be an object, got string"),
        Case(json: minimal(#","was_cached":"true""#), code: .unknownFieldType, field: "was_cached",
             message: "field was_cached must be a boolean, got string"),
        Case(json: minimal(#","is_error":1"#), code: .unknownFieldType, field: "is_error"),
        Case(json: minimal(#","latency_ms":{"p50":1}"#), code: .unknownFieldType, field: "latency_ms"),
        Case(json: minimal(#","input_cost":"0.01""#), code: .unknownFieldType, field: "input_cost"),
        Case(json: minimal(#","org_id":42"#), code: .unknownFieldType, field: "org_id"),
        Case(json: minimal(#","host":"web-1""#), code: .unknownFieldType, field: "host"),
        Case(json: minimal(#","cached_tokens":12.5"#), code: .invalidValue, field: "cached_tokens",
             message: "field cached_tokens must be an integer, got 12.5"),
        Case(json: minimal(#","cached_tokens":10000000001"#), code: .invalidValue, field: "cached_tokens"),
        Case(json: minimal().replacingOccurrences(of: #""provider":"openai""#, with: #""provider":"open ai""#),
             code: .invalidValue, field: "provider"),
        Case(json: minimal().replacingOccurrences(of: #""provider":"openai""#, with: #""provider":"""#),
             code: .invalidValue, field: "provider", message: "field provider must not be empty"),
        Case(json: minimal().replacingOccurrences(of: #""model":"gpt-4o""#, with: #""model":"""#),
             code: .invalidValue, field: "model"),
        Case(json: minimal(requestID: "\"\""), code: .invalidValue, field: "request_id"),
        Case(json: minimal(#","team":"a","team":"b""#), code: .invalidValue, field: "team", message: "duplicate field team"),
        Case(json: minimal(#","prompt_tokens":999"#), code: .invalidValue, field: "prompt_tokens",
             message: "fields input_tokens and prompt_tokens disagree"),
        Case(json: minimal(#","org_id":"org_a","tenant_id":"org_b""#), code: .invalidValue, field: "tenant_id"),
        Case(json: minimal(#","org_id":"../etc""#), code: .invalidValue, field: "org_id"),
        Case(json: minimal(#","hostname":"a","host":{"hostname":"b"}"#), code: .invalidValue, field: "host.hostname"),
        Case(json: minimal(#","events":[]"#), code: .invalidValue, field: "events"),
        Case(json: minimal(#","total_cost":-0.01"#), code: .invalidCost, field: "total_cost",
             message: "field total_cost must not be negative, got -0.01"),
        Case(json: minimal(#","total_cost":1000000000"#), code: .invalidCost, field: "total_cost",
             message: "field total_cost is out of range: 1000000000"),
        Case(json: minimal(#","cached_cost":12345678901234567890.5"#), code: .invalidCost, field: "cached_cost"),
        Case(json: #"{"request_id":"x","#, code: .invalidJSON, field: nil,
             message: "invalid JSON at byte 18: unexpected end of input"),
        Case(json: minimal(",").replacingOccurrences(of: ",}", with: ",}"), code: .invalidJSON, field: nil),
        Case(json: #"{'request_id':'x'}"#, code: .invalidJSON, field: nil, message: "invalid JSON at byte 1: expected a string key"),
        Case(json: #"[{"request_id":"x"}]"#, code: .invalidJSON, field: nil, message: "invalid JSON at byte 0: expected a JSON object"),
        Case(json: minimal() + "x", code: .invalidJSON, field: nil),
        Case(json: minimal(#","feature":"a\#u{01}b""#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","feature":"\ud800""#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","feature":"\udc00\ud800""#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","feature":"\x""#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","feature":"\u12G4""#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","latency_ms":01"#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","latency_ms":1."#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","latency_ms":.5"#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","latency_ms":+5"#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","was_cached":tru"#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","x":[1,2,]"#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","x":{"a" 1}"#), code: .invalidJSON, field: nil),
        Case(json: minimal(#","x":-NaN"#), code: .invalidJSON, field: nil),
        // A syntax error wins over an earlier field error.
        Case(json: minimal(#","cached_tokens":-5,"x":[}"#), code: .invalidJSON, field: nil),
        Case(json: "", code: .invalidJSON, field: nil, message: "empty event"),
        Case(json: "   ", code: .invalidJSON, field: nil),
    ]

    @Test(arguments: cases)
    func rejects(_ c: Case) throws {
        let f = try #require(failure(c.json))
        #expect(f.error.code == c.code)
        #expect(f.error.field == c.field)
        if let message = c.message { #expect(f.error.message == message) }
    }

    @Test func orgMismatch() throws {
        let f = try #require(failure(minimal(#","org_id":"org_other""#), org: .fixed("org_key")))
        #expect(f.error.code == .orgMismatch)
        #expect(f.error.field == "org_id")
        #expect(f.error.message == #"field org_id "org_other" does not match the organization of the API key"#)
        #expect(f.requestID == "8c1a8a37-5b0c-4e0c-9d3e-0f6f1e2a3b4c")
        let tt = try #require(failure(minimal(#","tenant_id":"tenant-9""#), org: .fixed("org_key")))
        #expect(tt.error.code == .orgMismatch)
        #expect(tt.error.field == "tenant_id")
    }

    /// Every code in EventErrorCode is produced by at least one case above.
    @Test func everyCodeIsCovered() {
        let produced = Set(Self.cases.map(\.code.rawValue) + ["ORG_MISMATCH"])
        let all: [EventErrorCode] = [
            .missingField, .invalidTimestamp, .negativeTokens, .negativeValue, .nonFiniteNumber, .fieldTooLong,
            .metadataTooLarge, .timestampInFuture, .timestampTooOld, .unknownFieldType, .invalidValue, .invalidJSON,
            .invalidCost, .orgMismatch,
        ]
        for code in all { #expect(produced.contains(code.rawValue), "\(code)") }
    }

    @Test func failureCarriesRequestIDEvenWhenItComesLater() throws {
        let json = #"{"input_tokens":"x","request_id":"Req-ABC",\#(Self.body)}"#
        let f = try #require(failure(json))
        #expect(f.error.code == .unknownFieldType)
        #expect(f.requestID == "Req-ABC")
        // Even a syntax error after the request_id reports it.
        let broken = try #require(failure(#"{"request_id":"8C1A8A37-5B0C-4E0C-9D3E-0F6F1E2A3B4C","x":}"#))
        #expect(broken.error.code == .invalidJSON)
        #expect(broken.requestID == "8C1A8A37-5B0C-4E0C-9D3E-0F6F1E2A3B4C")
        // An over-long request_id is not echoed.
        let long = try #require(failure(minimal(requestID: "\"\(String(repeating: "r", count: 129))\"")))
        #expect(long.requestID == nil)
    }

    @Test func invalidUTF8IsRejected() throws {
        let decoder = EventDecoder()
        for bad: [UInt8] in [[0xFF], [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC3]] {
            var bytes = Array(minimal(#","feature":"a"#).utf8)
            bytes.removeLast()  // }
            bytes += bad + Array("\"}".utf8)
            guard case .failure(let f) = decoder.decode(bytes, org: .fixed("o"), nowMs: testNow) else {
                Issue.record("accepted \(bad)")
                continue
            }
            #expect(f.error.code == .invalidJSON)
            #expect(f.error.message.contains("invalid UTF-8"))
        }
        // Valid multi-byte UTF-8 of every length is accepted.
        let e = try #require(event(minimal(#","feature":"é中😀""#)))
        #expect(e.feature == "é中😀")
    }

    @Test func timeWindowIsConfigurable() throws {
        let old = minimal().replacingOccurrences(of: "2026-11-19T12:00:00Z", with: "2020-01-01T00:00:00Z")
        #expect(failure(old)?.error.code == .timestampTooOld)
        var config = EventDecoderConfiguration()
        config.maxAgeMs = nil
        #expect(event(old, configuration: config) != nil)
        let future = minimal().replacingOccurrences(of: "2026-11-19T12:00:00Z", with: "2026-11-20T01:00:00Z")
        #expect(failure(future)?.error.code == .timestampInFuture)
        config.maxFutureSkewMs = 2 * 3_600_000
        #expect(event(future, configuration: config) != nil)
        // Exactly at the limits is accepted.
        let edge = minimal().replacingOccurrences(of: "2026-11-19T12:00:00Z", with: "2026-11-20T00:15:00Z")
        #expect(event(edge) != nil)
        let oldest = minimal().replacingOccurrences(of: "2026-11-19T12:00:00Z", with: "2026-10-21T00:00:00Z")
        #expect(event(oldest) != nil)
    }

    @Test func limitsAreConfigurable() throws {
        var config = EventDecoderConfiguration()
        config.maxStringLength = 6  // "gpt-4o" still fits
        config.maxMetadataBytes = 10
        #expect(failure(minimal(#","team":"abcdefg""#), configuration: config)?.error.code == .fieldTooLong)
        #expect(event(minimal(#","team":"abcdef""#), configuration: config)?.team == "abcdef")
        #expect(failure(minimal(#","metadata":{"a":"bcdefg"}"#), configuration: config)?.error.code == .metadataTooLarge)
        #expect(event(minimal(#","metadata":{ "a" : 1 }"#), configuration: config)?.metadata == #"{"a":1}"#)
        config.maxTokens = 10
        #expect(failure(minimal(), configuration: config)?.error.code == .invalidValue)
    }
}


@Suite struct FloatNoiseCostTests {
    /// The seed's Python SDK multiplies floats: its costs carry float noise beyond 1e-10.
    @Test(arguments: [
        ("0.30000000000000004", "0.3"),
        ("0.034019999999999995", "0.03402"),
        ("0.07103999999999999", "0.07104"),
        ("0.00000000005", "0"),            // exactly half: to even (0)
        ("0.00000000015", "0.0000000002"), // exactly half: to even (2)
        ("0.000000000050000000000000000000000000000001", "0.0000000001"),  // above half, past 36 digits
        ("1.23456789012e-3", "0.0012345679"),
    ])
    func costsAreRoundedHalfToEven(_ text: String, _ expected: String) throws {
        let json = #"{"request_id":"7f1b0c52-9a51-4a8e-8e8e-000000000001","timestamp":"2026-11-19T10:00:00Z","provider":"openai","model":"gpt-4o","input_tokens":1,"output_tokens":1,"input_cost":"# + text + "}"
        let e = try EventDecoder().decode(json, org: .fixed("org"), nowMs: 1_795_132_800_000).get()
        #expect(e.inputCost.description == expected)
        #expect(e.costSource == .client)
    }

    @Test func priceTablesStayStrict() {
        #expect(throws: MoneyParseError.tooPrecise) { try Money(parsing: "0.30000000000000004") }
    }
}
