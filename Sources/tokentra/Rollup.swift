import ArgumentParser
import Foundation
import Rollups
import SegmentStore
import TokentraCore
import UsageIndex

struct Rollup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute hourly and daily rollups, or export them.",
        subcommands: [Run.self, Export.self],
        defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Roll up every hour and day with new or changed raw data (idempotent).",
            discussion: """
                Seals acknowledged events into segments, recomputes the dirty (org, hour) buckets that \
                began before --now and the days containing them, and writes them in one transaction. \
                Prints {"hours":H,"days":D,"events_scanned":N,"seconds":S}.
                """)

        @OptionGroup var global: GlobalOptions
        @Option(help: "Reference time (ISO-8601 or YYYY-MM-DD; default: now): later hours stay dirty.") var now: String?
        @Flag(help: "Recompute every hour that has raw data, not only the dirty ones.") var rebuild = false

        func run() async throws {
            let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
            let clock = try wallClock(now: now)
            let nowMs = clock()
            let store = try await openStore(global, wallClock: clock)
            let summary: RollupEngine.Summary
            do {
                summary = try await RollupEngine(store: store, logger: makeLogger("tokentra.rollup"), wallClock: store.configuration.wallClock).run(now: nowMs, rebuild: rebuild)
            } catch {
                await store.close()
                throw error
            }
            await store.close()
            let seconds = String(format: "%.3f", summary.seconds)
            if format == "json" {
                var w = JSONWriter()
                w.object {
                    $0.field("hours", summary.hours)
                    $0.field("days", summary.days)
                    $0.field("events_scanned", summary.eventsScanned)
                    $0.field("seconds", summary.seconds)
                }
                print(w.text)
            } else {
                print("hours           \(summary.hours)")
                print("days            \(summary.days)")
                print("events scanned  \(summary.eventsScanned)")
                print("seconds         \(seconds)")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write rollup rows, one per (org, bucket, provider, model), as NDJSON or CSV.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "hour or day.") var granularity: String = "hour"
        @Option(help: "Only this org.") var org: String?
        @Option(help: "First bucket (inclusive): ISO-8601 or YYYY-MM-DD.") var from: String?
        @Option(help: "End (exclusive): buckets starting before this; ISO-8601 or YYYY-MM-DD.") var to: String?

        func run() async throws {
            let format = try global.outputFormat(default: "ndjson", allowed: ["ndjson", "csv", "json"])
            guard let g = RollupGranularity(rawValue: granularity) else {
                throw ValidationError("--granularity must be hour or day, got '\(granularity)'")
            }
            let fromMs = try from.map { try parseTimeOption($0, name: "--from") }
            let toMs = try to.map { try parseTimeOption($0, name: "--to") }
            if let fromMs, let toMs, toMs <= fromMs { throw ValidationError("--to must be after --from") }
            let dir = global.resolvedDataDir
            guard FileManager.default.fileExists(atPath: dir + "/index.sqlite") else {
                throw ToolError("no tokentra data in \(dir) (index.sqlite is missing)")
            }
            let index = try IndexDatabase(path: dir + "/index.sqlite")
            let rows = try RollupStore(index).rows(g, orgID: org, fromMs: fromMs, toMs: toMs)
            var out = OutputBuffer()
            if format == "csv" { out.write(RollupExport.csvHeader + "\n") }
            for row in rows {
                let bucket: RollupBucket
                do {
                    bucket = try RollupRowCodec.bucket(row, dimensions: [.model])
                } catch {
                    throw ToolError("rollup row of \(row.orgID) at \(row.bucketStart) is unreadable: \(error)")
                }
                var chunk = ""
                if format == "csv" {
                    RollupExport.csv(bucket, granularity: g, into: &chunk)
                } else {
                    RollupExport.ndjson(bucket, granularity: g, into: &chunk)
                }
                out.write(chunk)
            }
            out.flush()
        }
    }
}
