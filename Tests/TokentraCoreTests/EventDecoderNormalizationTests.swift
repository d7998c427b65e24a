import Foundation
import Testing
import TokentraCore

@Suite struct EventDecoderNormalizationTests {
    @Test func keyOrderWhitespaceAndUnknownKeys() throws {
        let json = """
            {
              "model" : "gpt-4o",  "unknown": {"deep": [1, 2.5e3, "x", true, null, {"y": []}]},
              "input_tokens": 10, "provider": "OpenAI", "output_tokens": 5,
              "timestamp": "2026-11-19T12:00:00Z", "x-extra": -0.0e-0, "another": "\\u00e9\\n",
              "request_id": "8C1A8A37-5B0C-4E0C-9D3E-0F6F1E2A3B4C"
            }
            """
        let e = try #require(event(json))
        #expect(e.provider == "openai")
        #expect(e.model == "gpt-4o")
        #expect(e.requestID == RequestID(uuid: "8c1a8a37-5b0c-4e0c-9d3e-0f6f1e2a3b4c"))
        #expect(e.requestID.description == "8c1a8a37-5b0c-4e0c-9d3e-0f6f1e2a3b4c")
        #expect((e.inputTokens, e.outputTokens, e.totalTokens) == (10, 5, 15))
        #expect(e.orgID == "org_default")
    }

    @Test func nullAndEmptyOptionalFieldsAreAbsent() throws {
        let e = try #require(
            event(
                minimal(
                    #","feature":null,"team":"","cached_tokens":null,"latency_ms":null,"time_to_first_token_ms":null,"metadata":null,"was_cached":null,"is_error":null,"error_code":null,"host":null,"hostname":"","input_cost":null"#
                )))
        #expect(e.feature == nil && e.team == nil && e.metadata == nil && e.hostname == nil)
        #expect(e.cachedTokens == 0 && e.latencyMs == nil && e.timeToFirstTokenMs == nil)  // unknown, not 0
        #expect(!e.wasCached && !e.isError && e.errorCode == nil)
        #expect(e.costSource == .priceTable(version: 1))  // a null cost is no cost
    }

    @Test func stringEscapesAreDecoded() throws {
        let e = try #require(
            event(minimal(#","feature":"a\"b\\c\/d\b\f\n\r\t","team":"\u00e9\u4e2d\ud83d\ude00","project":"\u0000x""#)))
        #expect(e.feature == "a\"b\\c/d\u{08}\u{0C}\n\r\t")
        #expect(e.team == "é中😀")
        #expect(e.project == "\u{0}x")
        // Escaped keys are matched after decoding.
        let k = try #require(event(minimal(#","\u0066eature":"chat""#)))
        #expect(k.feature == "chat")
    }

    @Test func tokensAndDurations() throws {
        let e = try #require(event(minimal(#","cached_tokens":12.0,"total_tokens":1.2e3,"latency_ms":12.5,"time_to_first_token_ms":0.49"#)))
        #expect(e.cachedTokens == 12)
        #expect(e.totalTokens == 1200)  // as sent, even if it disagrees with the buckets
        #expect(e.latencyMs == 13)  // rounded half up
        #expect(e.timeToFirstTokenMs == 0)
        let f = try #require(event(minimal(#","latency_ms":2.4999,"time_to_first_token_ms":1e2"#)))
        #expect(f.latencyMs == 2 && f.timeToFirstTokenMs == 100)
        let z = try #require(event(minimal(#","cached_tokens":-0,"latency_ms":-0.0"#)))
        #expect(z.cachedTokens == 0 && z.latencyMs == 0)
    }

    @Test(arguments: [
        ("bedrock", "aws"), ("Bedrock", "aws"), ("gemini", "google"), ("vertex_ai", "google"), ("vertex", "google"),
        ("azure_openai", "azure"), ("AZURE", "azure"), ("my-llm.v2_x", "my-llm.v2_x"), ("openai", "openai"),
    ])
    func providerAliases(sent: String, stored: String) throws {
        let e = try #require(event(minimal().replacingOccurrences(of: #""provider":"openai""#, with: #""provider":"\#(sent)""#)))
        #expect(e.provider == stored)
        #expect(ProviderName.normalize(sent) == stored)
    }

    @Test func providerRejects() {
        for bad in ["-openai", "open ai", "ope/nai", "é", String(repeating: "a", count: 65), "_x"] {
            #expect(ProviderName.normalize(bad) == nil, "\(bad)")
        }
    }

    @Test func opaqueRequestIDsAreKeyedBySHA256() throws {
        let e = try #require(event(minimal(requestID: #""req_01HZX-ABC""#)))
        #expect(e.requestID.text == "req_01HZX-ABC")
        #expect(e.requestID.description == "req_01HZX-ABC")
        let digest = SHA256.hash(Array("req_01HZX-ABC".utf8))
        #expect(e.requestID == RequestID(opaque: "req_01HZX-ABC", digest: digest))
        // Not a canonical UUID (no dashes / braces): opaque, not equal to the UUID.
        let plain = try #require(event(minimal(requestID: #""8c1a8a375b0c4e0c9d3e0f6f1e2a3b4c""#)))
        #expect(plain.requestID.text == "8c1a8a375b0c4e0c9d3e0f6f1e2a3b4c")
        #expect(plain.requestID != RequestID(uuid: "8c1a8a37-5b0c-4e0c-9d3e-0f6f1e2a3b4c"))
        // 128 bytes is the limit.
        let max = String(repeating: "r", count: 128)
        #expect(event(minimal(requestID: "\"\(max)\""))?.requestID.text == max)
    }

    @Test func uuidParsing() throws {
        let id = try #require(RequestID(uuid: "00112233-4455-6677-8899-AABBCCDDEEFF"))
        #expect(id.high == 0x0011_2233_4455_6677)
        #expect(id.low == 0x8899_AABB_CCDD_EEFF)
        #expect(id.description == "00112233-4455-6677-8899-aabbccddeeff")
        for bad in [
            "00112233-4455-6677-8899-AABBCCDDEEFG", "00112233-4455-6677-8899_AABBCCDDEEFF", "0011223-34455-6677-8899-AABBCCDDEEFF",
            "00112233-4455-6677-8899-AABBCCDDEEF", "00112233-4455-6677-8899-AABBCCDDEE:F", "00112233-4455-6677-8899-AABBCCDDEE`F",
            "00112233-4455-6677-8899-AABBCCDDEE@F", "00112233-4455-6677-8899-AABBCCDDEE/F", "{0112233-4455-6677-8899-AABBCCDDEEFF",
        ] {
            #expect(RequestID(uuid: bad) == nil, "\(bad)")
        }
    }

    @Test func metadataIsCompactedPreservingOrderAndNumberText() throws {
        let e = try #require(
            event(minimal(#","metadata": { "z" : 1.50 , "a" : [ 1e2 , "x y" , { } ] , "s":"\u00e9 \"q\"" , "n" : null }"#)))
        #expect(e.metadata == #"{"z":1.50,"a":[1e2,"x y",{}],"s":"\u00e9 \"q\"","n":null}"#)
        #expect(event(minimal(#","metadata":{}"#))?.metadata == nil)
        #expect(event(minimal(#","metadata":{ }"#))?.metadata == nil)
        // Exactly at the limit (compact size) is accepted even with whitespace beyond it.
        var config = EventDecoderConfiguration()
        config.maxMetadataBytes = 11
        #expect(event(minimal(#","metadata":{  "a" :  "bcd"  }"#), configuration: config)?.metadata == #"{"a":"bcd"}"#)
        #expect(failure(minimal(#","metadata":{  "a" :  "bcde"  }"#), configuration: config)?.error.code == .metadataTooLarge)
    }

    @Test func tokenTrackrEvent() throws {
        let json = #"""
            {"tenant_id":"tenant-1","provider":"bedrock","model":"anthropic.claude-3-sonnet-20240229-v1:0",
             "prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"latency_ms":1500,
             "timestamp":"2026-11-19T12:00:00.123456+00:00",
             "hostname":"ip-10-0-0-1","cloud_provider":"aws","instance_id":"i-0abc",
             "k8s_pod":"api-7d9f","k8s_namespace":"prod","k8s_node":"node-3"}
            """#
        let e = try #require(event(json))
        #expect(e.orgID == "tenant-1")
        #expect(e.provider == "aws")
        #expect((e.inputTokens, e.outputTokens, e.totalTokens) == (100, 50, 150))
        #expect(e.timestampMs == 1_795_089_600_123)
        #expect(e.hostname == "ip-10-0-0-1" && e.cloudProvider == "aws" && e.instanceID == "i-0abc")
        #expect(e.k8sPod == "api-7d9f" && e.k8sNamespace == "prod" && e.k8sNode == "node-3")
        #expect(e.costSource == .priceTable(version: 1))
        #expect(e.inputCost.description == "0.0003")
        #expect(e.outputCost.description == "0.00075")
        #expect(e.totalCost.description == "0.00105")
        // Derived request id: deterministic, independent of whitespace, dependent on content and org.
        let text = try #require(e.requestID.text)
        #expect(text.hasPrefix("tt-") && text.count == 35)
        let compact = json.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined()
        let again = try #require(event(compact))
        #expect(again.requestID == e.requestID && again.requestID.text == text)
        let other = try #require(event(json.replacingOccurrences(of: "\"prompt_tokens\":100", with: "\"prompt_tokens\":101")))
        #expect(other.requestID != e.requestID)
        // The derived text is keyed like any opaque id, so re-importing it (e.g. from an export) matches.
        let reimported = try #require(event(minimal(requestID: "\"\(text)\"")))
        #expect(reimported.requestID == e.requestID)
        let fixed = try #require(event(json.replacingOccurrences(of: #""tenant_id":"tenant-1","#, with: ""), org: .fixed("org_a")))
        let fixed2 = try #require(event(json.replacingOccurrences(of: #""tenant_id":"tenant-1","#, with: ""), org: .fixed("org_b")))
        #expect(fixed.requestID != fixed2.requestID)
    }

    @Test func tokenTrackrNestedHost() throws {
        let json = #"""
            {"request_id":"tt-1","tenant_id":"tenant-1","provider":"gemini","model":"gemini-1.5-pro",
             "prompt_tokens":1000,"completion_tokens":1000,"timestamp":"2026-11-19T12:00:00Z",
             "host":{"hostname":"web-1","cloudProvider":"gcp","instanceId":"1234","extra":[1,{"a":2}],
                     "k8s":{"pod":"web-1-abc","namespace":"default","node":"gke-node-1","uid":"x"}}}
            """#
        let e = try #require(event(json))
        #expect(e.requestID.text == "tt-1")
        #expect(e.provider == "google")
        #expect(e.hostname == "web-1" && e.cloudProvider == "gcp" && e.instanceID == "1234")
        #expect(e.k8sPod == "web-1-abc" && e.k8sNamespace == "default" && e.k8sNode == "gke-node-1")
        #expect(e.totalCost.description == "0.00625")
        // Flat aliases.
        let flat = try #require(
            event(minimal(#","kubernetes_pod":"p","pod_namespace":"ns","node_name":"n","host_name":"h""#)))
        #expect(flat.k8sPod == "p" && flat.k8sNamespace == "ns" && flat.k8sNode == "n" && flat.hostname == "h")
        // The same value under two spellings is fine.
        #expect(event(minimal(#","hostname":"h","host":{"name":"h"}"#))?.hostname == "h")
        #expect(event(minimal(#","input_tokens":1000,"prompt_tokens":1000"#.replacingOccurrences(of: #","input_tokens":1000"#, with: ""))) != nil)
        #expect(failure(minimal(#","host":{"hostname":5}"#))?.error.field == "host.hostname")
    }

    @Test func requestIDRequiredWhenNotTokenTrackrShaped() throws {
        let json = #"{"timestamp":"2026-11-19T12:00:00Z","provider":"openai","model":"gpt-4o","input_tokens":1}"#
        #expect(failure(json)?.error.code == .missingField)
        // An explicit null request_id is missing, even for Token Trackr events.
        let tt = #"{"request_id":null,"tenant_id":"t","timestamp":"2026-11-19T12:00:00Z","provider":"openai","model":"gpt-4o"}"#
        #expect(failure(tt)?.error.field == "request_id")
    }

    @Test func orgPolicies() throws {
        #expect(event(minimal(#","org_id":"org_a""#))?.orgID == "org_a")
        #expect(event(minimal())?.orgID == "org_default")
        #expect(event(minimal(#","tenant_id":"t-1""#))?.orgID == "t-1")
        #expect(event(minimal(#","org_id":"org_a","tenant_id":"org_a""#))?.orgID == "org_a")
        #expect(event(minimal(#","org_id":"""#))?.orgID == "org_default")  // "" is absent
        #expect(event(minimal(#","org_id":"""#), org: .fixed("org_key"))?.orgID == "org_key")
        #expect(event(minimal(), org: .fixed("org_key"))?.orgID == "org_key")
        #expect(event(minimal(#","org_id":"org_key""#), org: .fixed("org_key"))?.orgID == "org_key")
        #expect(OrgID.isValid("org_fcj9ju8z") && OrgID.isValid("8c1a8a37-5b0c") && OrgID.isValid("a:b.c"))
        #expect(!OrgID.isValid("") && !OrgID.isValid("_x") && !OrgID.isValid("a b") && !OrgID.isValid(String(repeating: "a", count: 65)))
    }

    @Test func costRules() throws {
        // Any cost sent: client costs, missing parts are 0, total is the sum when absent.
        let partial = try #require(event(minimal(#","input_cost":0.01,"output_cost":0.002"#)))
        #expect(partial.costSource == .client)
        #expect(partial.cachedCost == .zero)
        #expect(partial.totalCost.description == "0.012")
        let onlyTotal = try #require(event(minimal(#","total_cost":0.5"#)))
        #expect(onlyTotal.costSource == .client && onlyTotal.inputCost == .zero && onlyTotal.totalCost.description == "0.5")
        // A total that disagrees with the parts is kept as sent.
        let mismatch = try #require(event(minimal(#","input_cost":0.01,"output_cost":0.01,"total_cost":0.05"#)))
        #expect(mismatch.totalCost.description == "0.05")
        // Exponent and zero spellings are exact.
        let exp = try #require(event(minimal(#","input_cost":1e-7,"output_cost":0.0,"cached_cost":-0,"total_cost":1.0E-7"#)))
        #expect(exp.inputCost.units == 1000 && exp.totalCost.units == 1000 && exp.cachedCost == .zero)
        // No cost: priced from the table, half-even rounding to 1e-10.
        let priced = try #require(event(minimal(#","cached_tokens":3"#)))
        #expect(priced.costSource == .priceTable(version: 1))
        #expect(priced.inputCost.description == "0.005")
        #expect(priced.outputCost.description == "0.0015")
        #expect(priced.cachedCost.description == "0.000015")  // no cached price for gpt-4o: input price
        #expect(priced.totalCost.description == "0.006515")
        // Unknown model, no cost: unpriced, zero.
        let unknown = try #require(event(minimal().replacingOccurrences(of: "gpt-4o", with: "gpt-9")))
        #expect(unknown.costSource == .unpriced && unknown.totalCost == .zero)
        // A gateway cache hit without costs costs nothing but still records the table version.
        let hit = try #require(event(minimal(#","was_cached":true"#)))
        #expect(hit.costSource == .priceTable(version: 1) && hit.totalCost == .zero)
        // Costs sent as zero are client costs, not unpriced.
        let zero = try #require(event(minimal(#","total_cost":0"#).replacingOccurrences(of: "gpt-4o", with: "gpt-9")))
        #expect(zero.costSource == .client)
    }

    @Test func customPriceTableVersionIsRecorded() throws {
        let table = try PriceTable(
            version: 7,
            entries: [ModelPrice(provider: "openai", model: "gpt-4o", inputPer1K: money("0.0025"), outputPer1K: money("0.01"))])
        let e = try #require(event(minimal(), priceTable: table))
        #expect(e.costSource == .priceTable(version: 7))
        #expect(e.costSource.description == "price_table@7")
        #expect(e.totalCost.description == "0.0035")
    }
}

@Suite struct HostileInputTests {
    @Test func tenMegabyteMetadataIsRejectedQuickly() throws {
        let blob = String(repeating: "x", count: 10 * 1024 * 1024)
        let f = try #require(failure(minimal(#","metadata":{"blob":"\#(blob)"}"#)))
        #expect(f.error.code == .metadataTooLarge)
        #expect(f.requestID == "8c1a8a37-5b0c-4e0c-9d3e-0f6f1e2a3b4c")
        // Whitespace-padded metadata is measured compact.
        let padded = "{" + String(repeating: " ", count: 1_000_000) + #""a":1}"#
        #expect(event(minimal(#","metadata":\#(padded)"#))?.metadata == #"{"a":1}"#)
    }

    @Test func deepNestingDoesNotOverflowTheStack() throws {
        for opener in ["[", "{\"a\":"] {
            let depth = 100_000
            let closer = opener == "[" ? "]" : "}"
            let deep = String(repeating: opener, count: depth) + "1" + String(repeating: closer, count: depth)
            for json in [minimal(#","x":\#(deep)"#), minimal(#","metadata":{"k":\#(deep)}"#), deep] {
                let f = try #require(failure(json))
                #expect(f.error.code == .invalidJSON)
            }
        }
        let f = try #require(failure(minimal(#","x":\#(String(repeating: "[", count: 100_000))"#)))
        #expect(f.error.message.hasSuffix("nesting deeper than 64 levels"))
        // 63 levels inside the event are fine; 64 are not.
        let ok = String(repeating: "[", count: 63) + String(repeating: "]", count: 63)
        #expect(event(minimal(#","x":\#(ok)"#)) != nil)
        let tooDeep = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(failure(minimal(#","x":\#(tooDeep)"#))?.error.code == .invalidJSON)
        let host = minimal(#","host":{"k8s":{"x":\#(String(repeating: "[", count: 62) + String(repeating: "]", count: 62))}}"#)
        #expect(failure(host)?.error.code == .invalidJSON)
    }

    @Test func hugeNumbers() throws {
        let digits = String(repeating: "9", count: 100_000)
        #expect(failure(minimal(#","cached_tokens":\#(digits)"#))?.error.code == .nonFiniteNumber)
        #expect(failure(minimal(#","input_cost":\#(digits)"#))?.error.code == .nonFiniteNumber)
        // 0.999…9 (100k digits) is float-style noise: rounded half to even to 1e-10, i.e. 1.
        #expect(event(minimal(#","input_cost":0.\#(digits)"#))?.inputCost.description == "1")
        #expect(failure(minimal(#","latency_ms":1e999999999999"#))?.error.code == .nonFiniteNumber)
        #expect(failure(minimal(#","latency_ms":1e-999999999999"#)) == nil)
        #expect(event(minimal(#","x":\#(digits)"#)) != nil)  // an ignored field may hold any valid number
        #expect(event(minimal(#","cached_tokens":0.\#(String(repeating: "0", count: 10_000))e5"#))?.cachedTokens == 0)
        #expect(event(minimal(#","cached_tokens":9223372036854775807"#)) == nil)
        #expect(failure(minimal(#","cached_tokens":9223372036854775808"#))?.error.code == .nonFiniteNumber)
    }

    @Test func manyKeysAndLongKeys() throws {
        var extra = ""
        for i in 0..<10_000 { extra += #","k\#(i)":\#(i)"# }
        extra += #","\#(String(repeating: "k", count: 100_000))":1"#
        let e = try #require(event(minimal(extra)))
        #expect(e.inputTokens == 1000)
    }

    @Test func truncatedAtEveryByteNeverCrashes() {
        let line = EventDecoderSampleTests.metadataLineJSON
        let bytes = Array(line.utf8)
        let decoder = EventDecoder()
        for n in 0..<bytes.count {
            let result = decoder.decode(Array(bytes[..<n]), org: .fixed("o"), nowMs: testNow)
            guard case .failure(let f) = result else {
                Issue.record("prefix \(n) accepted")
                continue
            }
            #expect(f.error.code == .invalidJSON)
        }
    }

    @Test func randomMutationsNeverCrash() {
        var rng = SplitMix64(seed: 42)
        let bytes = Array(EventDecoderSampleTests.routedLineJSON.utf8)
        let decoder = EventDecoder()
        let alphabet = Array("{}[]\",:\\u0-9.eE+-ntfNIx \u{0}".utf8) + [0xC3, 0xFF, 0x80]
        var accepted = 0
        for _ in 0..<20_000 {
            var m = bytes
            for _ in 0..<Int(rng.next() % 4 + 1) {
                let i = Int(rng.next() % UInt64(m.count))
                switch rng.next() % 3 {
                case 0: m[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: m.remove(at: i)
                default: m.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                }
            }
            if case .success = decoder.decode(m, org: .fromEvent(default: "d"), nowMs: testNow) { accepted += 1 }
        }
        #expect(accepted > 0)
    }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
