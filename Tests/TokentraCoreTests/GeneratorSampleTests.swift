import Foundation
import Testing
import TokentraCore

/// Decodes the benchmark generator's 10k-line sample (`gen_events.py --events 10000 --days 30
/// --seed 42`) when it is available: set `TOKENTRA_SAMPLE_NDJSON`, or it is looked up at
/// `/work/data/ev-10k.ndjson`. Skipped otherwise.
@Suite struct GeneratorSampleTests {
    static let path = ProcessInfo.processInfo.environment["TOKENTRA_SAMPLE_NDJSON"] ?? "/work/data/ev-10k.ndjson"
    static let available: Bool = {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return false }
        return (attributes[.size] as? Int) == 6_338_829
    }()

    @Test(.enabled(if: available)) func decodesEveryLineExactly() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.path)))
        let decoder = EventDecoder()
        var ok = 0
        var total = MoneySum.zero
        var inputTokens: Int64 = 0
        var latency: Int64 = 0
        var ids = Set<RequestID>()
        var predictedMismatches = 0
        try bytes.withUnsafeBufferPointer { buffer in
            for item in EventInput(buffer) {
                let object = try #require(item.bytes)
                let e = try decoder.decode(object, org: .fromEvent(default: "none"), nowMs: testNow).get()
                ok += 1
                total += e.totalCost
                inputTokens += e.inputTokens
                latency += e.latencyMs ?? 0
                ids.insert(e.requestID)
                #expect(e.costSource == .client)
                #expect(e.totalTokens == e.inputTokens + e.outputTokens + e.cachedTokens)
                if !e.wasCached {
                    let p = try #require(
                        PriceTable.builtIn.predictedCosts(
                            provider: e.provider, model: e.model, timestampMs: e.timestampMs, input: e.inputTokens,
                            output: e.outputTokens, cached: e.cachedTokens))
                    if p.input != e.inputCost || p.output != e.outputCost || p.cached != e.cachedCost { predictedMismatches += 1 }
                }
            }
        }
        #expect(ok == 10_000)
        #expect(ids.count == 9_900)  // 1% retried duplicates
        #expect(total.description == "87.21725475")  // Python Decimal sum of the file's total_cost
        #expect(inputTokens == 15_474_229)
        #expect(latency == 11_355_620)
        #expect(predictedMismatches == 0)
    }
}
