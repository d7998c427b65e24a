import Benchmark
import Foundation
import Logging
import SegmentStore
import TDigest
import TokentraCore

/// Events from the shared generator (`TOKENTRA_BENCH_NDJSON`, default ../bench-data/ev-1000000.ndjson,
/// first 100k lines) or, when absent, a small built-in sample.
func sampleLines() -> [[UInt8]] {
    let path = ProcessInfo.processInfo.environment["TOKENTRA_BENCH_NDJSON"] ?? "../bench-data/ev-1000000.ndjson"
    if let data = FileManager.default.contents(atPath: path) {
        return data.split(separator: 0x0A, maxSplits: 100_000).prefix(100_000).map { Array($0) }
    }
    let line = #"{"request_id":"1612ea05-b3da-4117-a82f-ff25bc34e5c9","timestamp":"2026-10-21T00:08:49.538Z","org_id":"org_fcj9ju8z","provider":"azure","model":"gpt-4o-mini","input_tokens":168,"output_tokens":558,"cached_tokens":0,"input_cost":0.0000252,"output_cost":0.0003348,"cached_cost":0,"total_cost":0.00036,"latency_ms":628,"feature":"translation","team":"platform","project":"beacon","cost_center":"CC-1100-product","user_id":"user_14942","environment":"production","was_cached":false,"cache_hit_type":null,"is_error":false,"sdk_version":"2.0.0","sdk_language":"python"}"#
    return Array(repeating: Array(line.utf8), count: 10_000)
}

let benchmarks: @Sendable () -> Void = {
    let ci = ProcessInfo.processInfo.environment["CI"] != nil
    Benchmark.defaultConfiguration = .init(
        metrics: ci ? [.mallocCountTotal] : [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(5), maxIterations: 20
    )
    let lines = sampleLines()
    let nowMs: Int64 = 1_795_132_800_000  // 2026-11-20
    let decoder = EventDecoder(priceTable: .builtIn)
    let events: [UsageEvent] = lines.compactMap { line in
        try? decoder.decode(line, org: .fromEvent(default: "default"), nowMs: nowMs).get()
    }
    let byOrgDay = Dictionary(grouping: events) { "\($0.orgID)|\(formatTimestamp($0.timestampMs).prefix(10))" }
    let biggest = byOrgDay.values.max { $0.count < $1.count }!.sorted { $0.timestampMs < $1.timestampMs }

    Benchmark("DecodeEvents", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            for line in lines.prefix(1000) { blackHole(decoder.decode(line, org: .fromEvent(default: "d"), nowMs: nowMs)) }
        }
    }

    // The column batch every event passes through (decoder → WAL record → memtable → segment).
    Benchmark("EventBatchAppend1000", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            var batch = EventBatch()
            for e in events.prefix(1000) { batch.append(e) }
            blackHole(batch)
        }
    }

    let biggestBatch = EventBatch(biggest)
    Benchmark("EventBatchGatherHalf") { benchmark in
        let rows = Array(stride(from: 0, to: biggestBatch.count, by: 2))
        for _ in benchmark.scaledIterations { blackHole(biggestBatch.selecting(rows)) }
    }

    Benchmark("SegmentEncodeOrgDay") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(SegmentWriter.encode(events: biggest, orgID: biggest[0].orgID, day: "2026-11-01") { _, _ in nil })
        }
    }

    let segmentPath = NSTemporaryDirectory() + "tokentra-bench.tseg"
    FileManager.default.createFile(atPath: segmentPath, contents: Data(
        SegmentWriter.encode(events: biggest, orgID: biggest[0].orgID, day: "2026-11-01") { _, _ in nil }))
    Benchmark("SegmentDecodeMeasures") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try SegmentReader(path: segmentPath).measures()) }
    }

    Benchmark("WALAppend100Events") { benchmark in
        let dir = NSTemporaryDirectory() + "tokentra-bench-wal-\(UUID().uuidString)"
        let wal = try WriteAheadLog(directory: dir, firstSequence: 1, logger: Logger(label: "bench"))
        let bytes = [UInt8](repeating: 0x5A, count: 100 * 160)  // ~100 events' worth of record bytes
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try await wal.append(bytes) }
        benchmark.stopMeasurement()
        wal.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    let latencies = events.map { Double($0.latencyMs) }
    Benchmark("TDigestAdd", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            var d = TDigest()
            for x in latencies.prefix(1000) { d.add(x) }
            blackHole(d.quantile(0.99))
        }
    }
}
