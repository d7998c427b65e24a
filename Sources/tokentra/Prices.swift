import ArgumentParser
import Foundation
import Repricing
import SegmentStore
import TokentraCore
import UsageIndex

/// `tokentra prices list|show|import`: the versioned price table.
struct Prices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show and import versions of the price table (effective dates per model).",
        subcommands: [List.self, Show.self, Import.self])

    static func catalog(_ global: GlobalOptions) throws -> PriceCatalog {
        let dir = global.resolvedDataDir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return PriceCatalog(dataDirectory: dir, index: try IndexDatabase(path: dir + "/index.sqlite"))
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the known price versions.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let format = try global.outputFormat(default: "table", allowed: ["json", "table"])
            let versions = try Prices.catalog(global).versions()
            if format == "json" {
                var w = JSONWriter()
                w.object { o in
                    RepricingJSON.versions(versions, into: &o)
                }
                print(w.text)
            } else {
                print("version  origin       entries  current  imported")
                for v in versions {
                    let imported = v.importedAt.map { formatTimestamp($0) + " by " + (v.importedBy ?? "?") } ?? ""
                    print("\(String(v.version).padding(toLength: 8, withPad: " ", startingAt: 0)) \(v.origin.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(v.table.entries.count).padding(toLength: 8, withPad: " ", startingAt: 0)) \((v.current ? "yes" : "").padding(toLength: 8, withPad: " ", startingAt: 0)) \(imported)")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one price version in the prices.json format (the current one by default).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("price-version"), help: "The version to show.") var priceVersion: Int?

        func run() async throws {
            let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
            let catalog = try Prices.catalog(global)
            let table: PriceTable
            if let v = priceVersion {
                guard let t = try catalog.table(version: v) else {
                    throw ValidationError("--price-version: unknown price version \(v) (known: \(try catalog.versions().map { String($0.version) }.joined(separator: ", ")))")
                }
                table = t
            } else {
                table = try catalog.currentTable()
            }
            if format == "json" {
                FileHandle.standardOutput.write(Data(table.jsonText.utf8))
            } else {
                print("version \(table.version)")
                for e in table.entries {
                    print("\(e.provider)/\(e.model)  input \(e.inputPer1K)  output \(e.outputPer1K)  cached \(e.cachedPer1K)  per 1K from \(formatTimestamp(e.effectiveFromMs))")
                }
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a prices.json file, record it as a version and make it the current table.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The price file (schema/price-table.md).") var file: String

        func run() async throws {
            let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
            let result: PriceCatalog.ImportResult
            do {
                result = try Prices.catalog(global).importTable(path: file, actor: "cli", now: SystemClock.nowMs())
            } catch let e as PriceTableError {
                throw ValidationError("\(file): \(e.message)")
            } catch let e as PriceVersionConflict {
                throw ValidationError("\(file): \(e.description)")
            }
            if format == "json" {
                var w = JSONWriter()
                w.object {
                    $0.field("version", result.version)
                    $0.field("entries", result.entries)
                    $0.field("new_version", result.newVersion)
                    $0.field("current", true)
                }
                print(w.text)
            } else {
                print("price version \(result.version) (\(result.entries) entries) \(result.newVersion ? "imported" : "was already imported"); it is the current table")
            }
        }
    }
}

/// `tokentra reprice`: re-cost stored events with a price version, with an audit row.
struct Reprice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-cost an org's stored events in a time range with a price version (audited).",
        discussion: """
            Re-costs the events of --org whose timestamp is in [--from, --to) and whose cost came from the \
            price table (or was unpriced); events with client-supplied costs only with --include-client-costs. \
            Rewrites the changed days' segments (swapped in atomically), rolls up the changed hours and records \
            an audit row (`tokentra audit`). --dry-run prints the exact old and new totals per model and changes nothing.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "The org to re-cost.") var org: String
    @Option(help: "Inclusive start (ISO-8601 timestamp or YYYY-MM-DD).") var from: String
    @Option(help: "Exclusive end.") var to: String
    @Option(name: .customLong("price-version"), help: "Price version to apply (default: the current table).") var priceVersion: Int?
    @Flag(name: .customLong("dry-run"), help: "Print old and new totals; change nothing.") var dryRun = false
    @Flag(name: .customLong("include-client-costs"), help: "Also re-cost events whose client sent costs.") var includeClientCosts = false

    func run() async throws {
        let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
        let fromMs = try parseTimeOption(from, name: "--from")
        let toMs = try parseTimeOption(to, name: "--to")
        var request = RepriceRequest(orgID: org, fromMs: fromMs, toMs: toMs, priceVersion: priceVersion)
        request.dryRun = dryRun
        request.includeClientCosts = includeClientCosts
        let dir = try global.existingDataDir()
        let store = try await openStore(global)
        let report: RepriceReport
        do {
            let repricer = Repricer(store: store, catalog: PriceCatalog(dataDirectory: dir, index: store.index),
                                    logger: makeLogger("tokentra"))
            report = try await repricer.run(request, now: SystemClock.nowMs())
        } catch let e as RepriceError {
            await store.close()
            throw ValidationError("--\(e.field.replacingOccurrences(of: "_", with: "-")): \(e.message)")
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        if format == "json" {
            print(report.json)
        } else {
            print("\(report.request.dryRun ? "dry run: " : "")org \(org), \(formatTimestamp(fromMs)) to \(formatTimestamp(toMs)), price version \(report.priceVersion)")
            for m in report.models {
                print("  \(m.provider)/\(m.model): \(m.events) events, \(m.changedEvents) repriced, \(m.oldCost) -> \(m.newCost) USD")
            }
            print("total: \(report.events) events, \(report.changedEvents) repriced, \(report.oldTotal) -> \(report.newTotal) USD")
        }
    }
}

/// `tokentra audit`: the reprice audit trail.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the audit trail of reprice runs.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this org.") var org: String?

    func run() async throws {
        let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
        let dir = try global.existingDataDir()
        let rows = try IndexDatabase(path: dir + "/index.sqlite").repriceAudit(orgID: org)
        if format == "json" {
            var w = JSONWriter()
            w.object { o in o.field("data", array: { a in for r in rows { a.object { RepricingJSON.write(r, into: &$0) } } }) }
            print(w.text)
        } else {
            for r in rows {
                print("#\(r.id ?? 0) \(formatTimestamp(r.at)) \(r.actor) \(r.orgID) [\(formatTimestamp(r.fromMs)), \(formatTimestamp(r.toMs))) v\(r.priceVersion): \(r.changedEvents)/\(r.events) events, \(MoneySum(r.oldTotal)) -> \(MoneySum(r.newTotal)) USD")
            }
        }
    }
}
