import Foundation
import Logging
import Rollups
import SegmentStore
import TokentraCore
import UsageIndex

/// A bad reprice request: the field at fault and why (the CLI exits 2, HTTP answers 400).
public struct RepriceError: Error, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { message }
}

/// What to re-cost.
public struct RepriceRequest: Sendable {
    public var orgID: String
    /// `[fromMs, toMs)`, by event timestamp.
    public var fromMs: Int64
    public var toMs: Int64
    /// `nil`: the current table.
    public var priceVersion: Int?
    public var includeClientCosts = false
    public var dryRun = false
    /// Who asked: `cli` or `key:<key id>` (recorded in the audit row).
    public var actor = "cli"

    public init(orgID: String, fromMs: Int64, toMs: Int64, priceVersion: Int? = nil) {
        self.orgID = orgID
        self.fromMs = fromMs
        self.toMs = toMs
        self.priceVersion = priceVersion
    }
}

/// Old and new cost of one (provider, model) in the range.
public struct RepriceModelTotals: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var events = 0
    public var changedEvents = 0
    public var oldCost = MoneySum.zero
    public var newCost = MoneySum.zero
}

/// What a reprice did (or, for a dry run, would do).
public struct RepriceReport: Sendable {
    public var request: RepriceRequest
    public var priceVersion: Int
    public var events = 0
    public var changedEvents = 0
    public var oldTotal = MoneySum.zero
    public var newTotal = MoneySum.zero
    /// Sorted by provider, model.
    public var models: [RepriceModelTotals] = []
    /// (org, day)s whose segments were (or would be) rewritten.
    public var days: [String] = []
    public var segmentsWritten = 0
    public var segmentsReplaced = 0
    public var auditID: Int64?
    public var rollup: RollupEngine.Summary?

    /// The per-model totals as a JSON array (stored in the audit row and printed).
    public var modelsJSON: String {
        var w = JSONWriter()
        w.array { a in for m in models { a.object { Self.write(m, into: &$0) } } }
        return w.text
    }

    static func write(_ m: RepriceModelTotals, into o: inout JSONWriter) {
        o.field("provider", m.provider)
        o.field("model", m.model)
        o.field("events", m.events)
        o.field("repriced_events", m.changedEvents)
        o.field("old_cost", money: m.oldCost.units)
        o.field("new_cost", money: m.newCost.units)
    }

    /// The report as one JSON object (the CLI's output).
    public var json: String {
        var w = JSONWriter()
        w.object { o in
            o.field("org_id", request.orgID)
            o.field("from", formatTimestamp(request.fromMs))
            o.field("to", formatTimestamp(request.toMs))
            o.field("price_version", priceVersion)
            o.field("include_client_costs", request.includeClientCosts)
            o.field("dry_run", request.dryRun)
            o.field("events", events)
            o.field("repriced_events", changedEvents)
            o.field("old_total_cost", money: oldTotal.units)
            o.field("new_total_cost", money: newTotal.units)
            o.field("models", raw: modelsJSON)
            o.field("days", strings: days)
            o.field("segments_written", segmentsWritten)
            o.field("segments_replaced", segmentsReplaced)
            o.field("audit_id", auditID)
            if let r = rollup {
                o.field("rollup", object: { $0.field("hours", r.hours); $0.field("days", r.days) })
            } else {
                o.field("rollup", raw: "null")
            }
        }
        return w.text
    }
}

/// Re-costs stored events with a version of the price table and keeps an audit trail.
///
/// A run seals pending events, reads the org's segments of every UTC day the range touches (under
/// a pin), re-costs the events in the range whose cost came from the price table (client costs
/// only with ``RepriceRequest/includeClientCosts``; rules in ``PriceTable/recost(_:includeClientCosts:)``),
/// writes one replacement segment per changed day, swaps all of them in with the audit row in one
/// index transaction (``SegmentStore/commitReplacements(_:audit:now:)``), and rolls up the hours
/// that changed (they were marked dirty in that transaction, so queries read them from the new
/// segments until the rollup is written). A dry run stops before writing anything.
public struct Repricer: Sendable {
    let store: SegmentStore
    let catalog: PriceCatalog
    let logger: Logger

    public init(store: SegmentStore, catalog: PriceCatalog, logger: Logger) {
        self.store = store
        self.catalog = catalog
        self.logger = logger
    }

    /// Checks the request and resolves its price table.
    /// - Throws: ``RepriceError`` naming the field (`to`, `org`, `price_version`).
    public func validate(_ r: RepriceRequest) throws -> PriceTable {
        guard r.fromMs < r.toMs else {
            throw RepriceError(field: "to", "to (\(formatTimestamp(r.toMs))) must be after from (\(formatTimestamp(r.fromMs)))")
        }
        guard try store.index.orgIDs().contains(r.orgID) else {
            throw RepriceError(field: "org", "unknown org \"\(r.orgID)\": it has no stored events")
        }
        guard let v = r.priceVersion else { return try catalog.currentTable() }
        guard let table = try catalog.table(version: v) else {
            let known = try catalog.versions().map { String($0.version) }.joined(separator: ", ")
            throw RepriceError(field: "price_version", "unknown price version \(v) (known: \(known)); import it with `tokentra prices import`")
        }
        return table
    }

    /// Runs the request (see the type's documentation).
    /// - Parameter now: the wall clock, ms (audit time; hours starting later stay dirty).
    public func run(_ r: RepriceRequest, now: Int64) async throws -> RepriceReport {
        let table = try validate(r)
        if !r.dryRun { try await store.flush() }
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await pass(r, table: table, now: now)
            } catch let conflict as SegmentReplacementConflict where attempt < 5 {
                // A compaction or retention run replaced a day meanwhile: read it again.
                logger.info("reprice retried", metadata: ["reprice.attempt": "\(attempt)", "reason": "\(conflict)"])
            }
        }
    }

    private func pass(_ r: RepriceRequest, table: PriceTable, now: Int64) async throws -> RepriceReport {
        var report = RepriceReport(request: r, priceVersion: table.version)
        var models: [String: RepriceModelTotals] = [:]
        let snapshot = try await store.readSnapshot(orgID: r.orgID, fromMs: r.fromMs, toMs: r.toMs)
        defer { snapshot.release() }
        var byDay: [String: [SegmentRecord]] = [:]
        for s in snapshot.segments { byDay[s.day, default: []].append(s) }
        let directory = store.configuration.dataDirectory
        var staged: [SegmentStore.StagedReplacement] = []
        do {
            // A dry run also counts acknowledged events not sealed yet (a real run seals them first).
            if r.dryRun {
                for e in snapshot.unsealed.events {
                    var copy = e
                    _ = try tally(e, table: table, r: r, models: &models, report: &report, recosted: &copy)
                }
            }
            for day in byDay.keys.sorted() {
                let inputs = byDay[day]!.sorted { $0.file < $1.file }
                var batch = EventBatch()
                for s in inputs { batch.append(try SegmentReader(path: directory + "/" + s.file).batch()) }
                var events = batch.events
                var changedHours = Set<Int64>()
                for i in events.indices {
                    let old = events[i]
                    if try tally(old, table: table, r: r, models: &models, report: &report, recosted: &events[i]) {
                        changedHours.insert(old.timestampMs - ((old.timestampMs % 3_600_000) + 3_600_000) % 3_600_000)
                    }
                }
                guard !changedHours.isEmpty else { continue }
                report.days.append(day)
                if r.dryRun { continue }
                staged.append(try await store.stageReplacement(
                    .init(orgID: r.orgID, day: day, inputs: inputs, events: EventBatch(events), changedHours: changedHours),
                    now: now))
            }
            report.models = models.values.sorted { ($0.provider, $0.model) < ($1.provider, $1.model) }
            if r.dryRun { return report }
            let audit = RepriceAuditRow(
                at: now, actor: r.actor, orgID: r.orgID, fromMs: r.fromMs, toMs: r.toMs, priceVersion: table.version,
                includeClientCosts: r.includeClientCosts, events: report.events, changedEvents: report.changedEvents,
                oldTotal: report.oldTotal.units, newTotal: report.newTotal.units, modelsJSON: report.modelsJSON)
            let result = try await store.commitReplacements(staged, audit: audit, now: now)
            staged = []
            report.segmentsWritten = result.written
            report.segmentsReplaced = result.replaced
            report.auditID = result.auditID
        } catch {
            store.discard(staged)
            throw error
        }
        logger.info("repriced events", metadata: [
            "reprice.org": "\(r.orgID)", "reprice.version": "\(table.version)", "reprice.events": "\(report.changedEvents)",
            "reprice.old_total": "\(report.oldTotal)", "reprice.new_total": "\(report.newTotal)",
        ])
        // The changed hours are dirty: roll them up now (a crash here leaves them dirty, and queries
        // read them from the new segments until the next rollup run).
        do {
            report.rollup = try await RollupEngine(store: store, logger: logger, wallClock: store.configuration.wallClock).run(now: now)
        } catch let e as RollupError where e.code == .alreadyRunning {
            // The daemon's scheduled run is busy: the next run picks the marked hours up.
            logger.info("reprice leaves its hours to the running rollup", metadata: ["reprice.org": "\(r.orgID)"])
        }
        return report
    }

    /// Counts one event of the range in the totals; `recosted` (a copy of `e`) receives its new costs.
    /// - Returns: whether its costs changed (`false` outside the range).
    private func tally(_ e: UsageEvent, table: PriceTable, r: RepriceRequest, models: inout [String: RepriceModelTotals],
                       report: inout RepriceReport, recosted: inout UsageEvent) throws -> Bool {
        guard e.timestampMs >= r.fromMs, e.timestampMs < r.toMs else { return false }
        let changed = try table.recost(&recosted, includeClientCosts: r.includeClientCosts)
        let key = e.provider + "\u{0}" + e.model
        var m = models[key] ?? RepriceModelTotals(provider: e.provider, model: e.model)
        m.events += 1
        m.oldCost += e.totalCost
        m.newCost += recosted.totalCost
        if changed { m.changedEvents += 1 }
        models[key] = m
        report.events += 1
        report.oldTotal += e.totalCost
        report.newTotal += recosted.totalCost
        if changed { report.changedEvents += 1 }
        return changed
    }
}
