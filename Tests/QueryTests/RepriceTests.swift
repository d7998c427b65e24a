import Foundation
import Logging
import Query
import Repricing
import Rollups
import SegmentStore
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex

/// Repricing against a real store, real rollups and real queries; every expected cost is computed
/// here with Foundation's Decimal from the test's own price list, not with PriceTable.
/// Totals the reader loop saw, and whether to stop.
actor Observed {
    var totals: [Int128: Int] = [:]
    var done = false
    func add(_ a: Int128, _ b: Int128) {
        totals[a, default: 0] += 1
        totals[b, default: 0] += 1
    }
    func finish() { done = true }
}

@Suite(.serialized) struct RepriceTests {
    /// The test's price version 2: (provider, model) → [(effective from, input, output, cached per 1K)].
    static let v2: [String: [(from: Int64, input: String, output: String, cached: String)]] = [
        "openai/gpt-4o": [(0, "0.005", "0.015", "0.005"), (day("2026-10-28"), "0.0025", "0.01", "0.00125")],
        "anthropic/claude-3-5-sonnet-20241022": [(0, "0.0031", "0.0155", "0.0003")],
        // gemini-2.0-flash is not in version 2: its events keep their costs.
    ]

    static let v2JSON = """
        {"version":2,"prices":[
         {"provider":"openai","model":"gpt-4o","input_per_1k":"0.005","output_per_1k":"0.015"},
         {"provider":"openai","model":"gpt-4o","input_per_1k":"0.0025","output_per_1k":"0.01","cached_per_1k":"0.00125","effective_from":"2026-10-28"},
         {"provider":"anthropic","model":"claude-3-5-sonnet-20241022","input_per_1m":"3.1","output_per_1m":"15.5","cached_per_1k":"0.0003"}]}
        """

    static func day(_ s: String) -> Int64 { parseTimestamp(s + "T00:00:00Z")! }
    static let from = parseTimestamp("2026-10-27T06:00:00Z")!
    static let to = parseTimestamp("2026-10-29T12:00:00Z")!

    /// round_half_even(tokens × per1K / 1000) in 1e-10 USD, with Decimal.
    static func cost(_ tokens: Int64, _ per1K: String) -> Int64 {
        var x = Decimal(tokens) * Decimal(string: per1K)! * Decimal(10_000_000)
        var r = Decimal()
        NSDecimalRound(&r, &x, 0, .bankers)
        return NSDecimalNumber(decimal: r).int64Value
    }

    /// The event as version 2 should leave it (client costs untouched).
    static func expected(_ e: UsageEvent) -> UsageEvent {
        guard e.orgID == "org_a", e.timestampMs >= from, e.timestampMs < to, e.costSource != .client else { return e }
        var out = e
        guard let price = v2[e.provider + "/" + e.model]?.last(where: { $0.from <= e.timestampMs }) else { return e }
        out.costSource = .priceTable(version: 2)
        if e.wasCached {
            (out.inputCost, out.outputCost, out.cachedCost, out.totalCost) = (.zero, .zero, .zero, .zero)
        } else {
            out.inputCost = Money(units: cost(e.inputTokens, price.input))
            out.outputCost = Money(units: cost(e.outputTokens, price.output))
            out.cachedCost = Money(units: cost(e.cachedTokens, price.cached))
            out.totalCost = Money(units: out.inputCost.units + out.outputCost.units + out.cachedCost.units)
        }
        return out
    }

    static let events = EventFactory.events(4000, org: "org_a", seed: 21, days: 4) + EventFactory.events(800, org: "org_b", seed: 22, days: 3)

    struct Setup {
        let dir: TemporaryDirectory
        let store: SegmentStore
        let repricer: Repricer
        let engine: QueryEngine
        let logger: Logger
    }

    static func setup() async throws -> Setup {
        let dir = TemporaryDirectory("reprice")
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        _ = try await store.ingest(Array(events[0..<2500]))
        try await store.flush()
        _ = try await store.ingest(Array(events[2500...]))  // a second segment per day
        _ = try await RollupEngine(store: store, logger: logger).run(now: farFuture)
        try v2JSON.write(toFile: dir.file("v2.json"), atomically: true, encoding: .utf8)
        let catalog = PriceCatalog(dataDirectory: dir.path, index: store.index)
        try catalog.importTable(path: dir.file("v2.json"), actor: "test", now: 1)
        return Setup(dir: dir, store: store, repricer: Repricer(store: store, catalog: catalog, logger: logger),
                     engine: QueryEngine(index: store.index, dataDirectory: dir.path), logger: logger)
    }

    static func stored(_ store: SegmentStore) async throws -> [RequestID: UsageEvent] {
        var out: [RequestID: UsageEvent] = [:]
        try await store.forEachDay { _, _, events in for e in events { out[e.requestID] = e } }
        return out
    }

    /// Every hourly and daily rollup row as the `rollup export` NDJSON.
    static func rollupExport(_ index: IndexDatabase) throws -> String {
        var out = ""
        for g in [RollupGranularity.hour, .day] {
            for row in try RollupStore(index).rows(g, orgID: nil, fromMs: nil, toMs: nil) {
                RollupExport.ndjson(try RollupRowCodec.bucket(row, dimensions: [.model]), granularity: g, into: &out)
            }
        }
        return out
    }

    /// Total cost of org_a over all its days: from the rollups (+ raw overlay), and from the raw segments.
    static func totals(_ s: Setup) async throws -> (rollups: Int128, raw: Int128) {
        let params = ["start_date": "2026-10-26", "end_date": "2026-10-31"]
        let snapshot = try await s.store.readSnapshot(orgID: "org_a", fromMs: day("2026-10-25"), toMs: day("2026-10-31"))
        defer { snapshot.release() }
        let series = try s.engine.usage(try UsageQuery.parse(orgID: "org_a", parameters: params, breakdown: nil),
                                        unsealed: snapshot.unsealed.events, segments: snapshot.segments)
        var p = params
        p["by"] = "user_id"
        let raw = try s.engine.breakdown(try UsageQuery.parseBreakdown(orgID: "org_a", parameters: p),
                                         unsealed: snapshot.unsealed.events, segments: snapshot.segments)
        return (series.totals.totalCost, raw.totals.totalCost)
    }

    @Test func repricesExactlyTheTableCostedEventsOfTheRange() async throws {
        let s = try await Self.setup()
        defer { s.dir.remove() }
        let before = try await Self.stored(s.store)
        let expected = before.mapValues(Self.expected)
        let changed = before.values.filter { expected[$0.requestID]! != $0 && $0.orgID == "org_a" }
        #expect(changed.count > 300)  // the fixture really exercises the rules
        let inRange = before.values.filter { $0.orgID == "org_a" && $0.timestampMs >= Self.from && $0.timestampMs < Self.to }
        let oldTotal = inRange.reduce(Int128(0)) { $0 + Int128($1.totalCost.units) }
        let newTotal = inRange.reduce(Int128(0)) { $0 + Int128(expected[$1.requestID]!.totalCost.units) }
        #expect(oldTotal != newTotal)
        let segmentsBefore = try s.store.index.segments().map(\.file)

        // Dry run: exact totals per model, nothing changes.
        var request = RepriceRequest(orgID: "org_a", fromMs: Self.from, toMs: Self.to, priceVersion: 2)
        request.dryRun = true
        let dry = try await s.repricer.run(request, now: 1_800_000_000_000)
        #expect(dry.events == inRange.count)
        #expect(dry.changedEvents == changed.count)
        #expect(dry.oldTotal.units == oldTotal && dry.newTotal.units == newTotal)
        for m in dry.models {
            let mine = inRange.filter { $0.provider == m.provider && $0.model == m.model }
            #expect(m.events == mine.count)
            #expect(m.oldCost.units == mine.reduce(Int128(0)) { $0 + Int128($1.totalCost.units) }, "\(m.model)")
            #expect(m.newCost.units == mine.reduce(Int128(0)) { $0 + Int128(expected[$1.requestID]!.totalCost.units) }, "\(m.model)")
        }
        #expect(dry.models.map(\.model) == ["claude-3-5-sonnet-20241022", "gemini-2.0-flash", "gpt-4o"])
        #expect(try s.store.index.segments().map(\.file) == segmentsBefore)
        #expect(try s.store.index.repriceAudit().isEmpty)
        #expect(try await Self.stored(s.store) == before)

        // The real run, with readers querying all along: each answer has the old or the new total.
        let (oldRollups, oldRaw) = try await Self.totals(s)
        #expect(oldRollups == oldRaw)
        let newOrgTotal = oldRollups - oldTotal + newTotal
        let seen = Observed()
        // One reader, pausing between queries: the cooperative pool has 2 threads, and queries
        // run on it synchronously (a second reader starved the reprice's own tasks).
        let reader = Task {
            while await !seen.done {
                let (a, b) = try await Self.totals(s)
                await seen.add(a, b)
                try await Task.sleep(for: .milliseconds(3))
            }
        }
        request.dryRun = false
        let report = try await s.repricer.run(request, now: 1_800_000_000_000)
        await seen.finish()
        try await reader.value
        let observed = await seen.totals
        #expect(Set(observed.keys).isSubset(of: [oldRollups, newOrgTotal]), "\(observed)")
        #expect((observed[oldRollups] ?? 0) + (observed[newOrgTotal] ?? 0) >= 2, "the reader ran during the reprice: \(observed)")
        #expect(report.oldTotal.units == oldTotal && report.newTotal.units == newTotal)
        #expect(report.changedEvents == changed.count)
        #expect(report.days == ["2026-10-27", "2026-10-28", "2026-10-29"])
        #expect(report.segmentsWritten == 3 && report.segmentsReplaced == 6)
        let (afterRollups, afterRaw) = try await Self.totals(s)
        #expect(afterRollups == newOrgTotal && afterRaw == newOrgTotal)

        // Exactly the expected events changed, every field of every other event is as it was.
        #expect(try await Self.stored(s.store) == expected)
        #expect(try RollupStore(s.store.index).dirtyHours().isEmpty)
        // Old files are gone once no reader holds them; the store verifies clean.
        #expect(s.store.pins.retiredCount == 0)
        let verify = try await s.store.verify()
        #expect(verify.ok && verify.events == Self.events.count, "\(verify.problems)")

        // The audit row.
        let audit = try s.store.index.repriceAudit(orgID: "org_a")
        #expect(audit.count == 1)
        #expect(audit.first?.oldTotal == oldTotal && audit.first?.newTotal == newTotal && audit.first?.priceVersion == 2)
        #expect(audit.first?.actor == "cli" && audit.first?.changedEvents == changed.count && audit.first?.id == report.auditID)
        let models = try StrictJSON.parse(try #require(audit.first?.modelsJSON))
        #expect(models.arrayValue?.count == 3)

        // The incremental rollup equals a full rebuild.
        let incremental = try Self.rollupExport(s.store.index)
        _ = try await RollupEngine(store: s.store, logger: s.logger).run(now: farFuture, rebuild: true)
        #expect(try Self.rollupExport(s.store.index) == incremental)

        // Running it again changes no event and rewrites nothing, but is audited.
        let again = try await s.repricer.run(request, now: 1_800_000_000_001)
        #expect(again.changedEvents == 0 && again.segmentsWritten == 0 && again.oldTotal.units == newTotal)
        #expect(try s.store.index.repriceAudit(orgID: "org_a").count == 2)
        await s.store.close()
    }

    @Test func failedReplacementLeavesTheOldDataAndARerunCompletes() async throws {
        // The fault plan is process-wide: run alone among the tests that install rules (as .faultIsolated does).
        try await FaultInjection.exclusive {
            let s = try await Self.setup()
            defer { s.dir.remove() }
            FaultInjection.reset()
            defer { FaultInjection.reset() }
            let before = try await Self.stored(s.store)
            let segmentsBefore = try s.store.index.segments().map(\.file)
            let rollupsBefore = try Self.rollupExport(s.store.index)
            // The third replacement file cannot be renamed into place (EIO): the run fails before its commit.
            let rule = FaultInjection.install(.init(path: s.dir.path + "/segments/org_a/", .rename, on: .nth(3), .fail(EIO)))
            let request = RepriceRequest(orgID: "org_a", fromMs: Self.from, toMs: Self.to, priceVersion: 2)
            await #expect(throws: (any Error).self) { try await s.repricer.run(request, now: 1_800_000_000_000) }
            #expect(FaultInjection.fired(rule) == 1)
            FaultInjection.reset()
            #expect(try await Self.stored(s.store) == before)
            #expect(try s.store.index.segments().map(\.file) == segmentsBefore)
            #expect(try Self.rollupExport(s.store.index) == rollupsBefore)
            #expect(try s.store.index.repriceAudit().isEmpty)
            // No staged file is left behind.
            let files = try FileManager.default.contentsOfDirectory(atPath: s.dir.path + "/segments/org_a")
            #expect(Set(files.map { "segments/org_a/" + $0 }) == Set(segmentsBefore.filter { $0.hasPrefix("segments/org_a/") }))

            let report = try await s.repricer.run(request, now: 1_800_000_000_000)
            #expect(try await Self.stored(s.store) == before.mapValues(Self.expected))
            #expect(report.segmentsWritten == 3)
            await s.store.close()
        }
    }

    @Test func badRequestsNameTheField() async throws {
        let s = try await Self.setup()
        defer { s.dir.remove() }
        func field(_ r: RepriceRequest) async -> String? {
            do {
                _ = try await s.repricer.run(r, now: 1)
                return nil
            } catch let e as RepriceError {
                return e.field
            } catch {
                return "\(error)"
            }
        }
        #expect(await field(RepriceRequest(orgID: "org_a", fromMs: Self.to, toMs: Self.from)) == "to")
        #expect(await field(RepriceRequest(orgID: "nobody", fromMs: Self.from, toMs: Self.to)) == "org")
        #expect(await field(RepriceRequest(orgID: "org_a", fromMs: Self.from, toMs: Self.to, priceVersion: 7)) == "price_version")
        #expect(try s.store.index.repriceAudit().isEmpty)
        await s.store.close()
    }
}
