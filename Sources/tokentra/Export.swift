import ArgumentParser
import Foundation
import SegmentStore
import TokentraCore

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write every stored event exactly once, as NDJSON or CSV, sorted by org, day, time.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this org.") var org: String?
    @Option(help: "Start (inclusive): ISO-8601 or YYYY-MM-DD.") var from: String?
    @Option(help: "End (exclusive): ISO-8601 or YYYY-MM-DD.") var to: String?

    func run() async throws {
        let format = try global.outputFormat(default: "ndjson", allowed: ["ndjson", "csv", "json"])
        let fromMs = try from.map { try parseTimeOption($0, name: "--from") }
        let toMs = try to.map { try parseTimeOption($0, name: "--to") }
        if let fromMs, let toMs, toMs <= fromMs { throw ValidationError("--to must be after --from") }
        let store = try await openStore(global)
        var out = OutputBuffer()
        if format == "csv" { out.write(EventExport.csvHeader + "\n") }
        do {
            try await store.forEachDay(orgID: org, fromMs: fromMs, toMs: toMs) { _, _, events in
                var chunk = ""
                for e in events {
                    if format == "csv" { EventExport.csv(e, into: &chunk) } else { EventExport.ndjson(e, into: &chunk) }
                    chunk += "\n"
                }
                out.write(chunk)
            }
        } catch {
            await store.close()
            throw error
        }
        out.flush()
        await store.close()
    }
}
