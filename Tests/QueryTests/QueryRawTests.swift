import Foundation
import Logging
import Query
import Rollups
import SegmentStore
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex

// Questions the rollups do not hold (filters across dimensions, user ids, metadata keys, bucket
// edges inside UTC hours) answered from the raw segments, compared with direct computations.

extension Fixture {
    /// The fixture's engine with the data directory, so it can read raw segments.
    func rawEngine() async throws -> QueryEngine {
        let engine = try await get()
        return QueryEngine(index: engine.index, dataDirectory: dir!.path)
    }
}

/// Local calendar day of `ms` in `zone`.
func zoneDay(_ ms: Int64, _ zone: TimeZone) -> String {
    IndexDatabase.dayString(ms + Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))) * 1000)
}

@Suite("Query engine: answers from raw segments") struct QueryRawTests {
    let from = start - dayMs, to = start + 6 * dayMs
    var base: [String: String] { ["start_date": "2026-10-25", "end_date": "2026-11-01"] }

    @Test("filters on two dimensions: every point exact, from the segments")
    func crossFilters() async throws {
        let engine = try await Fixture.shared.rawEngine()
        let cases: [([String: String], (UsageEvent) -> Bool)] = [
            (["team_id": "platform", "model": "gpt-4o"], { $0.team == "platform" && $0.model == "gpt-4o" }),
            (["environment": "staging", "team_id": "growth"], { $0.environment == "staging" && $0.team == "growth" }),
            (["environment": "(none)", "user_id": "user_2"], { $0.environment == nil && $0.userID == "user_2" }),
            (["user_id": "user_3"], { $0.userID == "user_3" }),
            (["metadata.route": "/api/chat", "provider": "openai"], { $0.metadata != nil && $0.provider == "openai" }),
            (["metadata.n": "1.50"], { $0.metadata != nil }),
            (["metadata.route": "(none)"], { $0.metadata == nil }),
        ]
        for (filters, keep) in cases {
            let r = try engine.usage(query(base.merging(filters) { $1 }))
            check(r, expected("org_a", from, to, label: { localDay($0.timestampMs) }, keep: keep), "\(filters)")
            #expect(r.totals.requests > 0, "\(filters)")
            #expect(r.meta.source == "segments", "\(filters)")
        }
        // One dimension stays on the rollups.
        #expect(try engine.usage(query(base.merging(["team_id": "platform"]) { $1 })).meta.source == "rollups")
    }

    @Test("a breakdown by one attribute filtered on another, and by user id with an 'other' row")
    func crossBreakdowns() async throws {
        let engine = try await Fixture.shared.rawEngine()
        let p = base.merging(["team_id": "platform"]) { $1 }
        let r = try engine.breakdown(query(p, breakdown: .models))
        let exp = expected("org_a", from, to, label: { $0.provider + "/" + $0.model }, keep: { $0.team == "platform" })
        #expect(r.rows.count == exp.count)
        for row in r.rows { #expect(row.measures == exp[row.key.description], "\(row.key)") }
        #expect(r.meta.source == "segments")
        #expect(r.totals == total(exp))

        var top = base
        top["by"] = "user_id"
        top["limit"] = "5"
        top["sort"] = "requests"
        let users = try engine.breakdown(try UsageQuery.parseBreakdown(orgID: "org_a", parameters: top))
        let perUser = expected("org_a", from, to, label: { $0.userID ?? "(none)" })
        #expect(users.rows.count == 5)
        for row in users.rows { #expect(row.measures == perUser[row.key.value ?? "(none)"], "\(row.key)") }
        let other = try #require(users.other)
        #expect(other.rows == perUser.count - 5)
        var sum = other.measures
        for row in users.rows { sum.add(row.measures) }
        #expect(sum == total(perUser))
        let json = try StrictJSON.parse(QueryOutput.json(users))
        #expect(json["meta"]?["other"]?["rows"]?.intValue == perUser.count - 5)
        #expect(json["data"]?[0]?["user_id"]?.stringValue != nil)

        var route = base
        route["by"] = "metadata.route"
        let routes = try engine.breakdown(try UsageQuery.parseBreakdown(orgID: "org_a", parameters: route))
        let perRoute = expected("org_a", from, to, label: { $0.metadata == nil ? "(none)" : "/api/chat" })
        #expect(routes.rows.count == 2)
        for row in routes.rows { #expect(row.measures == perRoute[row.key.value ?? "(none)"]) }
        var providers = base
        providers["by"] = "provider"
        let byProvider = try engine.breakdown(try UsageQuery.parseBreakdown(orgID: "org_a", parameters: providers))
        let perProvider = expected("org_a", from, to, label: { $0.provider })
        #expect(Set(byProvider.rows.compactMap(\.key.value)) == Set(perProvider.keys))
        for row in byProvider.rows { #expect(row.measures == perProvider[row.key.value!]) }
        #expect(byProvider.meta.source == "rollups")
    }

    @Test("days in zones with 30- and 45-minute offsets and DST changes are exact", arguments: [
        "Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "America/St_Johns", "America/New_York", "UTC",
    ])
    func halfHourZones(_ name: String) async throws {
        let engine = try await Fixture.shared.rawEngine()
        let zone = try #require(TimeZone(identifier: name))
        for granularity in ["day", "week"] {
            let r = try engine.usage(query(["start_date": "2026-10-24", "end_date": "2026-11-03", "tz": name, "granularity": granularity]))
            let first = try #require(r.points.first?.startMs), end = r.meta.endMs
            if granularity == "day" {
                check(r, expected("org_a", first, end, label: { zoneDay($0.timestampMs, zone) }), name)
            } else {
                #expect(r.totals == total(expected("org_a", first, end, label: { _ in "" })), "\(name) weeks")
            }
            #expect(r.meta.tz == name)
            let whole = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(first) / 1000)) % 3600 == 0
            #expect(r.meta.source == (whole ? "rollups" : "rollups+segments"), "\(name)")
            #expect(try StrictJSON.parse(QueryOutput.json(r))["meta"]?["tz"]?.stringValue == name)
        }
        // A breakdown over local days: edges inside UTC hours come from the segments.
        let b = try engine.breakdown(query(["start_date": "2026-10-26", "end_date": "2026-10-29", "tz": name], breakdown: .teams))
        let exp = expected("org_a", b.meta.startMs, b.meta.endMs, label: { $0.team ?? "(none)" })
        for row in b.rows { #expect(row.measures == exp[row.key.value ?? "(none)"], "\(name) \(row.key)") }
    }
}

@Suite("Query engine: raw segments removed by retention") struct QueryRetiredTests {
    @Test func questionsNeedingRetiredRawEventsAreRefusedByName() async throws {
        let dir = TemporaryDirectory("retired")
        defer { dir.remove() }
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        let events = EventFactory.events(600, org: "org_a", seed: 5, days: 3)
        _ = try await store.ingest(events)
        _ = try await RollupEngine(store: store, logger: logger).run(now: farFuture)
        try store.index.setRetentionPolicy(RetentionPolicy(rawDays: 1, hourlyDays: 3650, dailyDays: 3650), orgID: "org_a",
                                           now: EventFactory.base)
        _ = try await Retention(store: store).run(now: EventFactory.base + 3 * dayMs + 3_600_000, orgID: "org_a", dryRun: false)
        let engine = QueryEngine(index: store.index, dataDirectory: dir.path)
        let p = ["start_date": "2026-10-26", "end_date": "2026-10-29", "team_id": "platform", "model": "gpt-4o"]
        do {
            _ = try engine.usage(query(p))
            Issue.record("expected RAW_DATA_RETIRED")
        } catch let e as QueryError {
            #expect(e.code == "RAW_DATA_RETIRED")
            #expect(e.message.contains("2026-10-26") && e.message.contains("filters on model and team_id"), "\(e.message)")
        }
        // The rollups still answer one dimension, over the whole range.
        let one = try engine.usage(query(["start_date": "2026-10-26", "end_date": "2026-10-29", "team_id": "platform"]))
        let end = parseTimestamp("2026-10-29T00:00:00Z")!
        #expect(one.totals.requests == Int64(events.filter { $0.team == "platform" && $0.timestampMs < end }.count))
        await store.close()
    }
}
