import ArgumentParser
import Foundation
import SegmentStore
import TokentraCore

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
            var w = JSONWriter()
            w.object { o in
                o.field("ok", report.ok)
                o.field("segments", report.segments)
                o.field("events", report.events)
                o.field("unsealed_events", report.unsealedEvents)
                o.field("bytes", report.bytes)
                o.field("segment_bytes", report.segmentBytes)
                o.field("bytes_per_event", perEvent, fractionDigits: 2)
                o.field("dedup_entries", dedupEntries)
                o.field("dedup_memory_bytes", dedupBytes)
                o.field("problems", array: { a in
                    for p in report.problems { a.object { $0.field("file", p.file); $0.field("message", p.message) } }
                })
            }
            print(w.text)
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
