import Foundation
import Testing
import TokentraCore

/// The ingest paths decode straight into one ``EventBatch`` (dictionary codes from the request bytes).
/// These tests check what only shows across rows: dictionaries shared by many events, escaped and
/// normalized strings, and rejected events that must leave the batch as it was.
@Suite struct EventBatchDecodeTests {
    static let decoder = EventDecoder(priceTable: .builtIn)

    /// Events that exercise every way a string reaches a column.
    static let varied: [String] = [
        EventDecoderSampleTests.azureLineJSON,
        EventDecoderSampleTests.metadataLineJSON,
        EventDecoderSampleTests.errorLineJSON,
        EventDecoderSampleTests.routedLineJSON,
        EventDecoderSampleTests.gatewayHitLineJSON,
        EventDecoderSampleTests.bedrockLineJSON,
        // Escapes (decoded into the parser's arena), an upper-case provider, a numeric error code.
        minimal(#","provider":"OpenAI","feature":"a\u0062c","team":"t\"q","error_code":503,"is_error":true"#)
            .replacingFirst(#""provider":"openai","#, with: ""),
        // An alias, metadata with whitespace (compacted), nested host fields, an upper-case hash (kept as text).
        minimal(#","metadata":{ "route" : "/x y", "n" : [1, 2] },"host":{"hostname":"h1","k8s":{"pod":"p-1"}},"prompt_hash":"ABCDEF""#,
                requestID: #""opaque-id-1""#).replacingFirst(#""provider":"openai""#, with: #""provider":"Bedrock""#),
        // No costs: priced from the table by the interned provider and model.
        #"{"request_id":"5f0c7c1e-0b7e-4b8e-9a51-1c2d3e4f5a6b","timestamp":"2026-11-19T01:02:03.004Z","provider":"anthropic","model":"claude-3-5-haiku-20241022","input_tokens":1200,"output_tokens":300,"cached_tokens":50,"user_id":"user_1","prompt_hash":"7a3065fdb83909fbb1bc1eb23ebdf33d8a73494c29975582ee553b8c48dc1e45"}"#,
        // The same texts as above, one escaped and one not: one dictionary value each.
        minimal(#","feature":"abc","team":"t\u0022q","user_id":"user_1""#, requestID: #""opaque-id-2""#),
        // Token Trackr: no request_id, the id is derived from the org and the event.
        #"{"timestamp":"2026-11-19T03:00:00Z","tenant_id":"tenant-1","provider":"openai","model":"gpt-4o","prompt_tokens":10,"completion_tokens":5}"#,
    ]

    static func alone(_ json: String, org: OrgPolicy = .fromEvent(default: "org_default")) throws -> UsageEvent {
        try decoder.decode(json, org: org, nowMs: testNow).get()
    }

    static func append(_ json: String, to batch: inout EventBatch, org: OrgPolicy = .fromEvent(default: "org_default")) -> DecodeFailure? {
        let bytes = Array(json.utf8)
        return bytes.withUnsafeBufferPointer { decoder.decode($0, org: org, nowMs: testNow, into: &batch) }
    }

    @Test func manyEventsInOneBatchDecodeAsEachAlone() throws {
        var batch = EventBatch()
        var expected: [UsageEvent] = []
        // Three rounds in different orders, so every dictionary lookup meets both new and known values.
        let orders = [Array(0..<Self.varied.count), Array((0..<Self.varied.count).reversed()),
                      (0..<Self.varied.count).map { ($0 * 5) % Self.varied.count }]
        for order in orders {
            for i in order {
                #expect(Self.append(Self.varied[i], to: &batch) == nil)
                expected.append(try Self.alone(Self.varied[i]))
            }
        }
        #expect(batch.count == expected.count)
        for (i, e) in expected.enumerated() { #expect(batch.event(at: i) == e, "row \(i)") }
    }

    @Test func stringsAreDecodedNormalizedAndInternedOnce() throws {
        var batch = EventBatch()
        for json in Self.varied { #expect(Self.append(json, to: &batch) == nil) }
        let feature = batch.attributes[EventBatch.Attribute.feature.rawValue]
        let team = batch.attributes[EventBatch.Attribute.team.rawValue]
        #expect(feature.values.filter { $0 == "abc" }.count == 1)
        #expect(team.values.filter { $0 == "t\"q" }.count == 1)
        #expect(batch.attributes[EventBatch.Attribute.userID.rawValue].values.filter { $0 == "user_1" }.count == 1)
        let row6 = batch.event(at: 6), row7 = batch.event(at: 7)
        #expect(row6.provider == "openai")
        #expect(row6.feature == "abc")
        #expect(row6.team == "t\"q")
        #expect(row6.errorCode == "503")
        #expect(row7.provider == "aws")
        #expect(row7.metadata == #"{"route":"/x y","n":[1,2]}"#)
        #expect(row7.hostname == "h1")
        #expect(row7.k8sPod == "p-1")
        #expect(row7.promptHash == "ABCDEF")
        #expect(row7.requestID.text == "opaque-id-1")
        #expect(batch.event(at: 9).feature == "abc")
        #expect(batch.event(at: 9).team == "t\"q")
        // Priced from the table (costs not sent).
        let priced = batch.event(at: 8)
        let price = try #require(PriceTable.builtIn.price(provider: "anthropic", model: "claude-3-5-haiku-20241022", timestampMs: priced.timestampMs))
        let parts = try #require(price.costs(input: 1200, output: 300, cached: 50))
        #expect(priced.costSource == .priceTable(version: PriceTable.builtIn.version))
        #expect(priced.inputCost == parts.input)
        #expect(priced.outputCost == parts.output)
        #expect(priced.cachedCost == parts.cached)
        #expect(priced.totalCost.units == parts.input.units + parts.output.units + parts.cached.units)
        #expect(priced.totalTokens == 1550)
        #expect(batch.event(at: 10).orgID == "tenant-1")
        #expect(batch.event(at: 10).requestID.text?.hasPrefix("tt-") == true)
    }

    @Test func rejectedEventsLeaveTheBatchAsItWas() throws {
        let bad = [
            #"{"request_id":"x","timestamp":"#,  // truncated JSON
            minimal(#","input_tokens":-1"#).replacingFirst(#""input_tokens":1000,"#, with: ""),  // negative tokens
            minimal(#","feature":"new-feature-only-here","org_id":"other_org""#),  // another org than the key's
            minimal(",\"team\":\"\(String(repeating: "t", count: 300))\""),  // too long
            minimal().replacingFirst("2026-11-19T12:00:00Z", with: "2027-01-01T00:00:00Z"),  // in the future
        ]
        let org = OrgPolicy.fixed("org_key")
        var batch = EventBatch()
        var expected: [UsageEvent] = []
        for (k, json) in Self.varied.prefix(6).enumerated() {
            #expect(Self.append(json.replacingFirst(#""org_id":"#, with: #""ignored_org_id":"#), to: &batch, org: org) == nil)
            expected.append(try Self.alone(json.replacingFirst(#""org_id":"#, with: #""ignored_org_id":"#), org: org))
            let failure = Self.append(bad[k % bad.count], to: &batch, org: org)
            #expect(failure != nil)
            #expect(batch.count == expected.count)
        }
        for (i, e) in expected.enumerated() { #expect(batch.event(at: i) == e, "row \(i)") }
        #expect(batch.orgs.values == ["org_key"])
    }

    @Test func removeLastRestoresEveryColumn() throws {
        var batch = EventBatch()
        #expect(Self.append(minimal(), to: &batch) == nil)
        let first = batch.event(at: 0)
        // The second row is the first with a feature, an opaque id, a packed hash and text fields.
        let second = minimal(#","feature":"f","error_message":"boom","prompt_hash":"7a3065fdb83909fbb1bc1eb23ebdf33d8a73494c29975582ee553b8c48dc1e45""#,
                             requestID: #""opaque-2""#)
        #expect(Self.append(second, to: &batch) == nil)
        #expect(batch.count == 2)
        batch.removeLast()
        #expect(batch.count == 1)
        #expect(batch.event(at: 0) == first)
        #expect(batch.idTexts.isEmpty)
        #expect(batch.hashRaw.isEmpty)
        #expect(batch.hashRef == [-1])
        #expect(batch.timestamps.count == 1 && batch.idHigh.count == 1 && batch.flags.count == 1)
        // A text hash, removed, then the row appended again: the same rows as never removed.
        #expect(Self.append(minimal(#","prompt_hash":"not-hex""#), to: &batch) == nil)
        batch.removeLast()
        #expect(batch.hashTexts.isEmpty)
        #expect(Self.append(second, to: &batch) == nil)
        #expect(batch.event(at: 0) == first)
        #expect(batch.event(at: 1) == (try Self.alone(second)))
    }
}

extension String {
    /// `self` with the first occurrence of `target` replaced.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
