import ArgumentParser
import Foundation
import SegmentStore
import TokentraCore
import UsageIndex

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Show, set and enforce per-org retention of raw events, hourly and daily rollups.",
        subcommands: [Show.self, SetPolicy.self, Run.self])

    /// The policies and plans of the data directory's index (no store open, so `show` and `set`
    /// work while the daemon runs).
    static func openRetention(_ global: GlobalOptions) throws -> Retention {
        let dir = global.resolvedDataDir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return Retention(index: try IndexDatabase(path: dir + "/index.sqlite"))
    }

    static func writePolicy(_ p: RetentionPolicy, to w: inout JSONWriter) {
        w.field("raw_days", p.rawDays)
        w.field("hourly_days", p.hourlyDays)
        w.field("daily_days", p.dailyDays)
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the policy in force per org (own setting, else the default).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this org.") var org: String?

        func run() async throws {
            let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
            let retention = try RetentionCommand.openRetention(global)
            let defaults = try retention.defaultPolicy()
            let orgs = try org.map { [$0] } ?? retention.index.retentionOrgIDs()
            var rows: [(String, RetentionPolicy, String)] = []
            for o in orgs {
                rows.append((o, try retention.policy(orgID: o), try retention.hasOwnPolicy(orgID: o) ? "org" : "default"))
            }
            if format == "json" {
                var w = JSONWriter()
                w.object { o in
                    o.field("default", object: { RetentionCommand.writePolicy(defaults, to: &$0) })
                    o.field("orgs", array: { a in
                        for (org, policy, source) in rows {
                            a.object { $0.field("org_id", org); RetentionCommand.writePolicy(policy, to: &$0); $0.field("source", source) }
                        }
                    })
                }
                print(w.text)
            } else {
                print("default  raw \(defaults.rawDays) d, hourly \(defaults.hourlyDays) d, daily \(defaults.dailyDays) d")
                for (o, p, source) in rows {
                    print("\(o.padding(toLength: max(24, o.count), withPad: " ", startingAt: 0)) raw \(p.rawDays) d, hourly \(p.hourlyDays) d, daily \(p.dailyDays) d (\(source))")
                }
            }
        }
    }

    struct SetPolicy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set an org's retention (or the default for orgs without their own with --default).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The org to set.") var org: String?
        @Flag(name: .customLong("default"), help: "Set the default for every org without its own policy.") var isDefault = false
        @Flag(help: "Remove the org's own policy (the default applies again).") var clear = false
        @Option(help: "Days of raw events to keep.") var rawDays: Int?
        @Option(help: "Days of hourly rollups to keep.") var hourlyDays: Int?
        @Option(help: "Days of daily rollups to keep.") var dailyDays: Int?

        func validate() throws {
            if (org == nil) == !isDefault { throw ValidationError("give exactly one of --org ORG or --default") }
            for (name, v) in [("--raw-days", rawDays), ("--hourly-days", hourlyDays), ("--daily-days", dailyDays)] {
                if let v, v < 1 || v > 36_500 { throw ValidationError("\(name) must be between 1 and 36500, got \(v)") }
            }
            if clear && (rawDays != nil || hourlyDays != nil || dailyDays != nil) {
                throw ValidationError("--clear takes no day options")
            }
        }

        func run() async throws {
            let retention = try RetentionCommand.openRetention(global)
            let target = org ?? IndexDatabase.defaultPolicyOrg
            // Unspecified horizons keep the value currently in force.
            let p = try clear
                ? retention.clearPolicy(orgID: target)
                : retention.setPolicy(orgID: target, rawDays: rawDays, hourlyDays: hourlyDays, dailyDays: dailyDays,
                                      now: SystemClock.nowMs())
            var w = JSONWriter()
            w.object { $0.field("org_id", target); RetentionCommand.writePolicy(p, to: &$0) }
            print(w.text)
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete raw segments and rollup rows older than each org's horizons.",
            discussion: "Raw days that still wait for a rollup are kept back and listed (run `tokentra rollup run` first).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Reference time (ISO-8601; default: now).") var now: String?
        @Option(help: "Only this org.") var org: String?
        @Flag(help: "Report what would be removed; change nothing.") var dryRun = false

        func run() async throws {
            let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
            let clock = try wallClock(now: now)
            let nowMs = clock()
            let store = try await openStore(global, wallClock: clock)
            let outcomes: [RetentionOutcome]
            do {
                outcomes = try await Retention(store: store).run(now: nowMs, orgID: org, dryRun: dryRun)
            } catch {
                await store.close()
                throw error
            }
            var oldest: [String: (String?, Int64?, String?)] = [:]
            for o in outcomes { oldest[o.orgID] = try store.index.oldestRetained(orgID: o.orgID) }
            await store.close()
            if format == "json" {
                let total = outcomes.reduce(0) { $0 + $1.bytes }
                var w = JSONWriter()
                w.object { out in
                    out.field("dry_run", dryRun)
                    out.field("now", formatTimestamp(nowMs))
                    out.field("bytes", total)
                    out.field("orgs", array: { a in
                        for o in outcomes {
                            let old = oldest[o.orgID]!
                            a.object { e in
                                e.field("org_id", o.orgID)
                                RetentionCommand.writePolicy(o.policy, to: &e)
                                e.field("segment_files", o.segmentFiles.count)
                                e.field("bytes", o.bytes)
                                e.field("raw_events", o.rawEvents)
                                e.field("hourly_rows", o.hourlyRows)
                                e.field("daily_rows", o.dailyRows)
                                e.field("raw_cutoff_day", o.rawCutoffDay)
                                e.field("pending_rollup_days", strings: o.pendingRollupDays)
                                // In a dry run, the oldest retained raw day is the first day not planned for deletion.
                                e.field("oldest_raw_day", old.0)
                                e.field("oldest_hour", old.1.map(formatTimestamp))
                                e.field("oldest_day", old.2)
                            }
                        }
                    })
                }
                print(w.text)
            } else {
                print(dryRun ? "DRY RUN: nothing was changed" : "retention at \(formatTimestamp(nowMs))")
                for o in outcomes {
                    print("\(o.orgID): \(o.segmentFiles.count) segments, \(o.bytes) bytes, \(o.rawEvents) raw events, \(o.hourlyRows) hourly rows, \(o.dailyRows) daily rows" + (o.pendingRollupDays.isEmpty ? "" : "; kept back (rollup pending): \(o.pendingRollupDays.joined(separator: " "))"))
                }
            }
        }
    }
}
