import ArgumentParser
import Foundation
import SegmentStore

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every segment's checksums and rows, the index against the files, and the WAL. Changes nothing.",
        discussion: "Read-only: unregistered or unfinished files and torn WAL tails are reported, not removed (`tokentra repair` does that).")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
        let store = try await openStore(global, readOnly: true)
        let report = try await store.verify()
        let dedupEntries = await store.dedupEntries
        let dedupBytes = await store.dedupMemoryBytes
        await store.close()
        let total = report.events + report.unsealedEvents
        let perEvent = total > 0 ? Double(report.bytes) / Double(total) : 0
        if format == "json" {
            let problems = report.problems.map { "{\"file\":\(jsonString($0.file)),\"message\":\(jsonString($0.message))}" }
            print("{\"ok\":\(report.ok),\"segments\":\(report.segments),\"events\":\(report.events),\"unsealed_events\":\(report.unsealedEvents),\"bytes\":\(report.bytes),\"segment_bytes\":\(report.segmentBytes),\"bytes_per_event\":\(String(format: "%.2f", perEvent)),\"dedup_entries\":\(dedupEntries),\"dedup_memory_bytes\":\(dedupBytes),\"problems\":[\(problems.joined(separator: ","))]}")
        } else {
            print("ok               \(report.ok)")
            print("segments         \(report.segments)")
            print("events           \(report.events) (+\(report.unsealedEvents) unsealed)")
            print("bytes            \(report.bytes)")
            print("bytes per event  \(String(format: "%.2f", perEvent))")
            print("dedup state      \(dedupEntries) ids, \(dedupBytes) bytes in memory")
            for p in report.problems { print("PROBLEM  \(p.file): \(p.message)") }
        }
        if !report.ok { throw ExitCodes.rejected }
    }
}
