import Foundation
import Testing
import TokentraCore

@Suite struct PriceTableTests {
    @Test(arguments: [
        // tokens, price per 1K, exact cost (rounded half-even to 1e-10)
        (168 as Int64, "0.00015", "0.0000252"),
        (1873, "0.001", "0.001873"),
        (1, "0.000075", "0.000000075"),
        (1, "0.0000000015", "0"),  // 0.015 units → 0
        (1, "0.00000005", "0"),  // exactly half a unit (0.5) rounds to even: 0
        (3, "0.00000005", "0.0000000002"),  // 1.5 units → 2
        (5, "0.00000005", "0.0000000002"),  // 2.5 units → 2
        (7, "0.00000005", "0.0000000004"),  // 3.5 units → 4
        (1, "0.00000006", "0.0000000001"),  // 0.6 units → 1
        (1, "0.00000004", "0"),  // 0.4 units → 0
        (0, "0.03", "0"),
        (10_000_000_000, "0.15", "1500000"),
    ])
    func costIsExactWithHalfEvenRounding(tokens: Int64, price: String, expected: String) throws {
        let cost = try #require(ModelPrice.cost(tokens: tokens, pricePer1K: money(price)))
        #expect(cost.description == expected)
    }

    @Test func costOverflowAndNegativeTokens() {
        #expect(ModelPrice.cost(tokens: Int64.max, pricePer1K: money("900000000")) == nil)
        #expect(ModelPrice.cost(tokens: -1, pricePer1K: money("1")) == nil)
    }

    @Test func builtInPrices() throws {
        let t = PriceTable.builtIn
        #expect(t.version == 1)
        let sonnet = try #require(t.price(provider: "anthropic", model: "claude-3-5-sonnet-20241022", timestampMs: 0))
        #expect(sonnet.inputPer1K.description == "0.003")
        #expect(sonnet.outputPer1K.description == "0.015")
        #expect(sonnet.cachedPer1K.description == "0.00375")
        let mini = try #require(t.price(provider: "azure", model: "gpt-4o-mini", timestampMs: 1_795_000_000_000))
        #expect(mini.inputPer1K.description == "0.00015" && mini.outputPer1K.description == "0.0006")
        #expect(mini.cachedPer1K == mini.inputPer1K)
        #expect(t.price(provider: "aws", model: "anthropic.claude-3-5-haiku-20241022-v1:0", timestampMs: 0)?.outputPer1K.description == "0.004")
        #expect(t.price(provider: "anthropic", model: "claude-opus-4", timestampMs: 0)?.outputPer1K.description == "0.075")
        #expect(t.price(provider: "openai", model: "o1-pro", timestampMs: 0)?.outputPer1K.description == "0.6")
        #expect(t.price(provider: "openai", model: "GPT-4O", timestampMs: 0) == nil)  // models match exactly
        #expect(t.price(provider: "openai", model: "gpt-4o", timestampMs: -1) == nil)  // before 1970
        #expect(t.entries.count == 24)
        let p = try #require(t.predictedCosts(provider: "google", model: "gemini-2.0-flash", timestampMs: 0, input: 600, output: 200, cached: 0))
        #expect(p.input.description == "0.00006" && p.output.description == "0.00008" && p.cached == .zero)
        #expect(t.predictedCosts(provider: "google", model: "gemini-9", timestampMs: 0, input: 1, output: 1, cached: 1) == nil)
    }

    @Test func effectiveDatesPickLatestNotAfterTimestamp() throws {
        let json = """
            {"version": 3, "prices": [
              {"provider": "openai", "model": "gpt-4o", "input_per_1k": "0.005", "output_per_1k": "0.015", "effective_from": "2024-05-13"},
              {"provider": "openai", "model": "gpt-4o", "input_per_1k": 0.0025, "output_per_1k": 0.01, "cached_per_1k": "0.00125", "effective_from": "2024-10-01"},
              {"provider": "OpenAI", "model": "gpt-4o", "input_per_1m": "2.00", "output_per_1m": 8, "effective_from": "2026-11-19T12:00:00+01:00"},
              {"provider": "bedrock", "model": "m", "input_per_1k": "1e-4", "output_per_1k": "0.0002"}
            ]}
            """
        let t = try PriceTable(json: json)
        #expect(t.version == 3)
        let may = try #require(parseTimestamp("2024-05-13T00:00:00Z"))
        let oct = try #require(parseTimestamp("2024-10-01T00:00:00Z"))
        let nov = try #require(parseTimestamp("2026-11-19T11:00:00Z"))
        #expect(t.price(provider: "openai", model: "gpt-4o", timestampMs: may - 1) == nil)
        #expect(t.price(provider: "openai", model: "gpt-4o", timestampMs: may)?.inputPer1K.description == "0.005")
        #expect(t.price(provider: "openai", model: "gpt-4o", timestampMs: oct - 1)?.inputPer1K.description == "0.005")
        let october = try #require(t.price(provider: "openai", model: "gpt-4o", timestampMs: oct))
        #expect(october.inputPer1K.description == "0.0025" && october.cachedPer1K.description == "0.00125")
        #expect(t.price(provider: "openai", model: "gpt-4o", timestampMs: nov - 1)?.inputPer1K.description == "0.0025")
        let latest = try #require(t.price(provider: "openai", model: "gpt-4o", timestampMs: nov))
        #expect(latest.inputPer1K.description == "0.002" && latest.outputPer1K.description == "0.008")
        #expect(latest.cachedPer1K.description == "0.002")
        #expect(t.price(provider: "aws", model: "m", timestampMs: 0)?.inputPer1K.description == "0.0001")
        // The exported text loads back to the same table.
        let again = try PriceTable(json: t.jsonText)
        #expect(again == t)
        #expect(try PriceTable(json: PriceTable.builtIn.jsonText) == PriceTable.builtIn)
    }

    @Test(arguments: [
        (#"[]"#, "the price table must be a JSON object"),
        (#"{"prices":[]}"#, "missing version"),
        (#"{"version":1}"#, "missing prices"),
        (#"{"version":-1,"prices":[]}"#, "version must be a non-negative integer"),
        (#"{"version":1.5,"prices":[]}"#, "version must be a non-negative integer"),
        (#"{"version":1,"prices":[],"extra":1}"#, #"unknown key "extra" (expected version, prices)"#),
        (#"{"version":1,"prices":[{"model":"m","input_per_1k":"1","output_per_1k":"1"}]}"#, "prices[0]: missing provider"),
        (#"{"version":1,"prices":[{"provider":"p","input_per_1k":"1","output_per_1k":"1"}]}"#, "prices[0]: missing model"),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","output_per_1k":"1"}]}"#, "prices[0]: missing input_per_1k"),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","input_per_1k":"1"}]}"#, "prices[0]: missing output_per_1k"),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","input_per_1k":"0.30000000000000004","output_per_1k":"1"}]}"#,
         #"prices[0].input_per_1k: "0.30000000000000004" is not an exact decimal with at most 10 places"#),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","input_per_1k":"-1","output_per_1k":"1"}]}"#,
         "prices[0].input_per_1k must not be negative"),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","input_per_1k":true,"output_per_1k":"1"}]}"#,
         "prices[0].input_per_1k must be a decimal number or string"),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","input_per_1k":"1","input_per_1m":"1","output_per_1k":"1"}]}"#,
         "prices[0]: give input price per 1k or per 1m, not both"),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","input_per_1m":"0.0000000001","output_per_1k":"1"}]}"#,
         "prices[0].input_per_1m: 0.0000000001 per 1M is not exact per 1K with 10 decimal places"),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","input_per_1k":"1","output_per_1k":"1","effective_from":"2026-02-30"}]}"#,
         "prices[0].effective_from must be a date YYYY-MM-DD or an ISO-8601 timestamp"),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","input_per_1k":"1","output_per_1k":"1","input_per_1K":"1"}]}"#,
         #"prices[0]: unknown key "input_per_1K""#),
        (#"{"version":1,"prices":[{"provider":"p q","model":"m","input_per_1k":"1","output_per_1k":"1"}]}"#,
         #"invalid provider "p q""#),
        (#"{"version":1,"prices":[{"provider":"p","model":"m","input_per_1k":"1","output_per_1k":"1"},{"provider":"p","model":"m","input_per_1k":"2","output_per_1k":"1"}]}"#,
         "two prices for p/m from 1970-01-01T00:00:00.000Z"),
        (#"{"version":1,"prices":[}"#, "invalid JSON at byte 23: expected a value"),
    ])
    func rejectsInvalidFiles(json: String, message: String) {
        do {
            _ = try PriceTable(json: json)
            Issue.record("accepted \(json)")
        } catch let error as PriceTableError {
            #expect(error.message == message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func loadsFromFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prices-\(UInt32.random(in: 0...UInt32.max)).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try PriceTable.builtIn.jsonText.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try PriceTable(contentsOfFile: path) == PriceTable.builtIn)
        #expect(throws: PriceTableError.self) { try PriceTable(contentsOfFile: path + ".missing") }
    }
}
