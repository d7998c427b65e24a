import Foundation
import Logging
import Query
import Rollups
import SegmentStore
import TDigest
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex

// Real segment store + real rollups, then queries compared with direct computations over the events.

let farFuture: Int64 = 4_000_000_000_000
let dayMs: Int64 = 86_400_000

/// org_a: 4000 events over 4 days from EventFactory.base (2026-10-26T07:33:20Z); org_b: 1000 over 2 days.
let sampleEvents: [UsageEvent] = EventFactory.events(4000, org: "org_a", seed: 11, days: 4)
    + EventFactory.events(1000, org: "org_b", seed: 12, days: 2)

/// Ingests the sample events and rolls them up once per test process.
actor Fixture {
    static let shared = Fixture()
    var engine: QueryEngine?
    var dir: TemporaryDirectory?
    var store: SegmentStore?

    func get() async throws -> QueryEngine {
        if let engine { return engine }
        let dir = TemporaryDirectory("query")
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        _ = try await store.ingest(sampleEvents)
        _ = try await RollupEngine(store: store, logger: logger).run(now: farFuture)
        let engine = QueryEngine(index: store.index)
        self.dir = dir
        self.store = store
        self.engine = engine
        return engine
    }
}

func query(_ params: [String: String], org: String = "org_a", breakdown: QueryBreakdown? = nil) throws -> UsageQuery {
    try UsageQuery.parse(orgID: org, parameters: params, breakdown: breakdown)
}

func pad(_ v: Int64, _ w: Int) -> String {
    let s = String(v)
    return String(repeating: "0", count: max(0, w - s.count)) + s
}

/// `YYYY-MM-DD` of the day containing `ms` shifted by `offsetHours`.
func localDay(_ ms: Int64, offsetHours: Int64 = 0) -> String { IndexDatabase.dayString(ms + offsetHours * 3_600_000) }

/// Direct grouping of the events of `org` in [from, to) by `label`, filtered by `keep`.
func expected(_ org: String, _ from: Int64, _ to: Int64, label: (UsageEvent) -> String,
              keep: (UsageEvent) -> Bool = { _ in true }) -> [String: RollupMeasures] {
    var out: [String: RollupMeasures] = [:]
    for e in sampleEvents where e.orgID == org && e.timestampMs >= from && e.timestampMs < to && keep(e) {
        out[label(e), default: RollupMeasures()].add(e)
    }
    return out
}

func total(_ groups: [String: RollupMeasures]) -> RollupMeasures {
    var m = RollupMeasures()
    for g in groups.values { m.add(g) }
    return m
}

/// Compares every point with the direct computation; points absent from it must be zero.
func check(_ r: UsageResult, _ exp: [String: RollupMeasures], _ note: String = "") {
    #expect(r.totals == total(exp), "\(note) totals")
    for p in r.points {
        let e = exp[p.label] ?? RollupMeasures()
        #expect(p.measures == e, "\(note) point \(p.label)")
        if e.requests == 0 { #expect(p.latency.p95 == nil, "\(note) empty point \(p.label) has no percentile") }
    }
    #expect(Set(exp.keys).isSubset(of: Set(r.points.map(\.label))), "\(note) every non-empty bucket is listed")
}

let start = EventFactory.base / dayMs * dayMs  // 2026-10-26T00:00:00Z

@Suite("Query engine", .serialized)
struct QueryEngineTests {
    @Test("UTC days: totals and every point equal the events, empty days included with zeros")
    func utcDays() async throws {
        let engine = try await Fixture.shared.get()
        let r = try engine.usage(query(["start_date": "2026-10-24", "end_date": "2026-11-03"]))
        #expect(r.points.map(\.label) == (0..<10).map { localDay(start - 2 * dayMs + Int64($0) * dayMs) })
        check(r, expected("org_a", start - 2 * dayMs, start + 8 * dayMs, label: { localDay($0.timestampMs) }))
        #expect(r.points[0].measures.requests == 0 && r.points[9].measures.requests == 0)
        #expect(r.totals.requests == 4000)
        #expect(r.meta.rollupFreshnessMs != nil)
        let json = QueryOutput.json(r)
        #expect(json.contains("\"date\":\"2026-10-24\",\"start\":\"2026-10-24T00:00:00Z\",\"cost\":0,\"tokens\":0,\"requests\":0"))
        #expect(json.contains("\"total_cost\":\(MoneySum(r.totals.totalCost).description),"))
    }

    @Test("hours, and ranges that do not start or end on a day")
    func hours() async throws {
        let engine = try await Fixture.shared.get()
        let from = start + dayMs + 5 * 3_600_000, to = start + 3 * dayMs + 17 * 3_600_000
        let r = try engine.usage(query(["start_date": formatTimestamp(from), "end_date": formatTimestamp(to), "granularity": "hour"]))
        #expect(r.points.count == Int((to - from) / 3_600_000))
        check(r, expected("org_a", from, to, label: { e in
            let h = e.timestampMs / 3_600_000 * 3_600_000
            return localDay(h) + "T" + pad(h % dayMs / 3_600_000, 2) + ":00:00Z"
        }))
        let d = try engine.usage(query(["start_date": formatTimestamp(from), "end_date": formatTimestamp(to)]))
        #expect(d.points.map(\.startMs) == [from, start + 2 * dayMs, start + 3 * dayMs])
        check(d, expected("org_a", from, to, label: { localDay($0.timestampMs) }), "partial days")
    }

    @Test("Asia/Tokyo and America/New_York days equal a direct local-day grouping")
    func timeZones() async throws {
        let engine = try await Fixture.shared.get()
        let r = try engine.usage(query(["start_date": "2026-10-26", "end_date": "2026-10-31", "tz": "Asia/Tokyo"]))
        let from = start - 9 * 3_600_000, to = from + 5 * dayMs
        #expect(r.points.first?.startMs == from)
        #expect(r.points.count == 5)
        check(r, expected("org_a", from, to, label: { localDay($0.timestampMs, offsetHours: 9) }), "tokyo")
        #expect(r.meta.tz == "Asia/Tokyo")
        // New York leaves daylight saving time on 2026-11-01: that day has 25 hours.
        let ny = try engine.usage(query(["start_date": "2026-10-25", "end_date": "2026-11-03", "tz": "America/New_York"]))
        let dst = start + 6 * dayMs + 6 * 3_600_000  // 2026-11-01T06:00Z = 01:00 EST, after the fall-back
        check(ny, expected("org_a", start - dayMs + 4 * 3_600_000, start + 8 * dayMs + 5 * 3_600_000, label: { e in
            localDay(e.timestampMs, offsetHours: e.timestampMs < dst ? -4 : -5)
        }), "new york")
        let nov1 = try #require(ny.points.first { $0.label == "2026-11-01" })
        let nov2 = try #require(ny.points.first { $0.label == "2026-11-02" })
        #expect(nov2.startMs - nov1.startMs == 25 * 3_600_000)
    }

    @Test("ISO weeks (Monday) and months, with empty buckets")
    func weeksAndMonths() async throws {
        let engine = try await Fixture.shared.get()
        let w = try engine.usage(query(["start_date": "2026-10-12", "end_date": "2026-11-16", "granularity": "week"]))
        #expect(w.points.map(\.label) == ["2026-10-12", "2026-10-19", "2026-10-26", "2026-11-02", "2026-11-09"])
        check(w, expected("org_a", start - 14 * dayMs, start + 21 * dayMs, label: { e in
            let days = e.timestampMs / dayMs
            return IndexDatabase.dayString((days - (days + 3) % 7) * dayMs)  // 1970-01-01 was a Thursday
        }), "weeks")
        let m = try engine.usage(query(["start_date": "2026-09-01", "end_date": "2026-12-01", "granularity": "month"]))
        #expect(m.points.map(\.label) == ["2026-09-01", "2026-10-01", "2026-11-01"])
        check(m, expected("org_a", 0, farFuture, label: { String(localDay($0.timestampMs).prefix(7)) + "-01" }), "months")
        #expect(m.points[0].measures.requests == 0)
        // A week starting mid-range is labelled with its Monday, and starts at the range start.
        let mid = try engine.usage(query(["start_date": "2026-10-28", "end_date": "2026-11-03", "granularity": "week"]))
        #expect(mid.points.map(\.label) == ["2026-10-26", "2026-11-02"])
        #expect(mid.points[0].startMs == start + 2 * dayMs)
    }

    @Test("every filter narrows exactly; an org only sees its own events")
    func filters() async throws {
        let engine = try await Fixture.shared.get()
        let base = ["start_date": "2026-10-25", "end_date": "2026-11-01"]
        let cases: [(String, String, (UsageEvent) -> Bool)] = [
            ("provider", "openai", { $0.provider == "openai" }),
            ("model", "gemini-2.0-flash", { $0.model == "gemini-2.0-flash" }),
            ("team_id", "platform", { $0.team == "platform" }),
            ("project_id", "atlas", { $0.project == "atlas" }),
            ("project_id", "(none)", { $0.project == nil }),
            ("feature", "search", { $0.feature == "search" }),
            ("environment", "staging", { $0.environment == "staging" }),
            ("cost_center", "CC-1000-eng", { $0.costCenter == "CC-1000-eng" }),
        ]
        for (name, value, keep) in cases {
            var p = base
            p[name] = value
            let r = try engine.usage(query(p))
            check(r, expected("org_a", start - dayMs, start + 6 * dayMs, label: { localDay($0.timestampMs) }, keep: keep), "\(name)=\(value)")
            #expect(r.totals.requests > 0, "\(name)=\(value)")
        }
        var both = base
        both["provider"] = "openai"
        both["model"] = "gpt-4o"
        check(try engine.usage(query(both)), expected("org_a", start - dayMs, start + 6 * dayMs, label: { localDay($0.timestampMs) },
                                                      keep: { $0.provider == "openai" && $0.model == "gpt-4o" }), "provider+model")
        let b = try engine.usage(query(base, org: "org_b"))
        check(b, expected("org_b", start - dayMs, start + 6 * dayMs, label: { localDay($0.timestampMs) }), "org_b")
        #expect(b.totals.requests == 1000)
        let none = try engine.usage(query(base, org: "org_zzz"))
        #expect(none.totals.requests == 0 && none.points.count == 7)
    }

    @Test("breakdowns: exact per key, percentage of cost, sort and limit, filter on the same dimension")
    func breakdowns() async throws {
        let engine = try await Fixture.shared.get()
        let from = start + 5 * 3_600_000, to = start + 3 * dayMs + 2 * 3_600_000
        let p = ["start_date": formatTimestamp(from), "end_date": formatTimestamp(to)]
        let keys: [(QueryBreakdown, (UsageEvent) -> String)] = [
            (.models, { $0.provider + "/" + $0.model }), (.teams, { $0.team ?? "(none)" }),
            (.features, { $0.feature ?? "(none)" }), (.projects, { $0.project ?? "(none)" }),
            (.environments, { $0.environment ?? "(none)" }), (.costCenters, { $0.costCenter ?? "(none)" }),
        ]
        for (b, key) in keys {
            let r = try engine.breakdown(query(p, breakdown: b))
            let exp = expected("org_a", from, to, label: key)
            #expect(r.rows.count == exp.count, "\(b)")
            for row in r.rows { #expect(row.measures == exp[row.key.description], "\(b) \(row.key)") }
            #expect(r.totals == total(exp))
            #expect(zip(r.rows, r.rows.dropFirst()).allSatisfy { $0.measures.totalCost >= $1.measures.totalCost }, "\(b) sorted by cost")
            #expect(abs(r.rows.reduce(0) { $0 + $1.percentage } - 100) < 1e-6, "\(b) percentages")
        }
        var limited = p
        limited["sort"] = "requests"
        limited["limit"] = "2"
        let r = try engine.breakdown(query(limited, breakdown: .features))
        #expect(r.rows.count == 2)
        #expect(r.rows[0].measures.requests >= r.rows[1].measures.requests)
        #expect(r.totals.requests == total(expected("org_a", from, to, label: { $0.feature ?? "" })).requests)
        var filtered = p
        filtered["provider"] = "anthropic"
        let m = try engine.breakdown(query(filtered, breakdown: .models))
        #expect(m.rows.map(\.key.description) == ["anthropic/claude-3-5-sonnet-20241022"])
        let json = QueryOutput.json(m)
        #expect(json.hasPrefix("{\"data\":[{\"provider\":\"anthropic\",\"model\":\"claude-3-5-sonnet-20241022\",\"cost\":"))
        #expect(json.contains("\"percentage\":100,"))
    }

    @Test("percentiles come from merged digests and are close to the exact ones")
    func percentiles() async throws {
        let engine = try await Fixture.shared.get()
        let r = try engine.usage(query(["start_date": "2026-10-26", "end_date": "2026-10-30"]))
        for p in r.points {
            let lat = sampleEvents.filter { $0.orgID == "org_a" && $0.timestampMs >= p.startMs && $0.timestampMs < p.startMs + dayMs }
                .compactMap { $0.latencyMs.map(Double.init) }.sorted()
            for (q, est) in [(0.5, p.latency.p50), (0.95, p.latency.p95), (0.99, p.latency.p99)] {
                let value = try #require(est)
                let rank = Double(lat.filter { $0 <= value }.count) / Double(lat.count)
                #expect(abs(rank - q) < 0.01, "\(p.label) q=\(q) estimate \(value) has rank \(rank)")
            }
        }
        // A week merges the daily digests: still accurate.
        let w = try engine.usage(query(["start_date": "2026-10-26", "end_date": "2026-11-02", "granularity": "week"]))
        let all = sampleEvents.filter { $0.orgID == "org_a" }.compactMap { $0.latencyMs.map(Double.init) }.sorted()
        let p95 = try #require(w.points[0].latency.p95)
        #expect(abs(Double(all.filter { $0 <= p95 }.count) / Double(all.count) - 0.95) < 0.005)
    }

    @Test("every bad parameter is an error naming it")
    func errors() throws {
        let ok = ["start_date": "2026-10-01", "end_date": "2026-10-08"]
        func fails(_ change: [String: String?], breakdown: QueryBreakdown? = nil, _ parameter: String, _ fragment: String) {
            var p = ok
            for (k, v) in change { p[k] = v }
            #expect(throws: QueryError.self) { try query(p, breakdown: breakdown) }
            do {
                _ = try query(p, breakdown: breakdown)
            } catch let error as QueryError {
                #expect(error.parameter == parameter, "\(change): \(error.message)")
                #expect(error.message.contains(fragment), "\(change): \(error.message)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        fails(["granularity": "minute"], "granularity", "hour, day, week, month")
        fails(["start_date": nil], "start_date", "required")
        fails(["end_date": nil], "end_date", "required")
        fails(["start_date": "yesterday"], "start_date", "YYYY-MM-DD")
        fails(["end_date": "2026-13-01"], "end_date", "YYYY-MM-DD")
        fails(["end_date": "2026-09-30"], "end_date", "must be after start_date")
        fails(["end_date": "2026-10-01"], "end_date", "must be after start_date")
        fails(["tz": "Mars/Olympus"], "tz", "IANA")
        fails(["granularity": "hour", "end_date": "2026-11-02"], "end_date", "31 days")
        fails(["end_date": "2037-01-01"], "end_date", "3660 days")
        fails(["sort": "latency"], breakdown: .models, "sort", "cost, requests, tokens")
        fails(["limit": "0"], breakdown: .models, "limit", "between 1 and")
        fails(["limit": "ten"], breakdown: .models, "limit", "between 1 and")
        fails(["team": "x"], "team", "unknown parameter")
        fails(["metadata.": "x"], "metadata.", "metadata.KEY")
        fails(["limit": "5"], "limit", "breakdowns")
        fails(["sort": "cost"], "sort", "breakdowns")
        // The limits are configurable; 31 hour-granularity days are fine.
        var limits = QueryLimits()
        limits.maxRangeDays = 5
        #expect(throws: QueryError.self) { try UsageQuery.parse(orgID: "o", parameters: ok, breakdown: nil, limits: limits) }
        #expect(throws: Never.self) { try query(["start_date": "2026-10-01", "end_date": "2026-11-01", "granularity": "hour"]) }
    }

    @Test("CSV and table output")
    func output() async throws {
        let engine = try await Fixture.shared.get()
        let r = try engine.usage(query(["start_date": "2026-10-25", "end_date": "2026-10-28"]))
        let csv = QueryOutput.csv(r).split(separator: "\n")
        #expect(csv.count == 4)
        #expect(csv[0].hasPrefix("date,cost,tokens,requests,errors"))
        #expect(csv[1].hasPrefix("2026-10-25,0,0,0,0"))
        let table = QueryOutput.table(r).split(separator: "\n")
        #expect(table.count == 6)  // header, 3 days, rule, total
        #expect(table[5].hasPrefix("total"))
        #expect(table[5].contains(MoneySum(r.totals.totalCost).description))
        let b = try engine.breakdown(query(["start_date": "2026-10-25", "end_date": "2026-10-28"], breakdown: .teams))
        #expect(QueryOutput.csv(b).hasPrefix("team_id,cost,tokens,requests,errors,percentage,p50_latency_ms"))
    }
}

@Suite("Query engine: totals beyond 64 bits")
struct QueryOverflowTests {
    @Test("rows whose SQL totals are NULL are summed exactly from their slices")
    func bigTotals() throws {
        let index = try IndexDatabase()
        let hour = start + 5 * 3_600_000
        var m = RollupMeasures()
        m.requests = 3
        m.totalCost = Int128(Int64.max) * 3 + 7
        m.totalTokens = Int128(Int64.max) + 11
        let digest = TDigest([100, 200, 300])
        func bucket(_ at: Int64) -> RollupBucket {
            RollupBucket(orgID: "org_big", bucketStart: at, total: m, latency: digest, dimensions: [
                .model: [RollupSlice(key: SliceKey(provider: "openai", value: "gpt-4o"), measures: m, latency: digest)],
                .team: [RollupSlice(key: SliceKey(value: "t"), measures: m, latency: digest)],
            ])
        }
        let hourly = RollupRowCodec.row(bucket(hour), computedAt: 0)
        #expect(hourly.totalCost == nil)
        try RollupStore(index).commit([RollupDayUpdate(orgID: "org_big", day: IndexDatabase.dayString(start), hours: [hour],
                                                hourly: [hourly], replacesDay: true,
                                                daily: RollupRowCodec.row(bucket(start), computedAt: 0))],
                               marks: [], maxSegmentID: 0, jobRun: nil)
        let engine = QueryEngine(index: index)
        for g in ["day", "hour"] {
            let r = try engine.usage(query(["start_date": "2026-10-26", "end_date": "2026-10-27", "granularity": g], org: "org_big"))
            #expect(r.totals.totalCost == m.totalCost, "\(g)")
            #expect(r.totals.totalTokens == m.totalTokens, "\(g)")
            #expect(r.points.contains { $0.latency.p50 == 200 }, "\(g)")
            #expect(QueryOutput.json(r).contains("\"total_cost\":\(MoneySum(m.totalCost))"))
        }
        let b = try engine.breakdown(query(["start_date": "2026-10-26", "end_date": "2026-10-27", "team_id": "t"], org: "org_big", breakdown: .teams))
        #expect(b.rows.first?.measures.totalCost == m.totalCost)
    }
}

@Suite struct QueryRawTailTests {
    /// Events sealed after the last rollup run count at once: their hours are computed from the
    /// raw segments and overlaid on the stored rollups, and meta says so.
    @Test func sealedButNotRolledUpEventsAreIncluded() async throws {
        let dir = TemporaryDirectory("query-tail")
        defer { dir.remove() }
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        let first = EventFactory.events(600, org: "org_a", seed: 21, days: 3)
        _ = try await store.ingest(first)
        _ = try await RollupEngine(store: store, logger: logger).run(now: farFuture)
        // Late and new events, sealed but not rolled up: one inside an already rolled-up hour.
        var late = EventFactory.events(50, org: "org_a", seed: 22, days: 3)
        late[0].timestampMs = first[5].timestampMs + 1
        _ = try await store.ingest(late)
        try await store.flush()
        let all = first + late
        let q = try query(["start_date": "2026-10-25", "end_date": "2026-11-01"])

        let rollupsOnly = try QueryEngine(index: store.index).usage(q)
        #expect(rollupsOnly.totals.requests == 600)
        #expect(rollupsOnly.meta.source == "rollups")

        let withTail = try QueryEngine(index: store.index, dataDirectory: dir.path).usage(q)
        #expect(withTail.totals.requests == 650)
        #expect(withTail.meta.source == "rollups+raw")
        let cost = all.reduce(MoneySum.zero) { $0 + MoneySum($1.totalCost) }
        #expect(MoneySum(withTail.totals.totalCost) == cost)
        let tokens = all.reduce(Int64(0)) { $0 + $1.totalTokens }
        #expect(withTail.totals.totalTokens == tokens)
        // Per day, exactly the events of that UTC day.
        for p in withTail.points {
            let n = all.filter { localDay($0.timestampMs) == p.label }.count
            #expect(p.measures.requests == Int64(n), "day \(p.label)")
        }
        // Hourly granularity agrees too.
        let hourly = try QueryEngine(index: store.index, dataDirectory: dir.path)
            .usage(try query(["start_date": "2026-10-25", "end_date": "2026-11-01", "granularity": "hour"]))
        #expect(hourly.totals.requests == 650)
        // After the rollup run, the stored rollups alone give the same numbers.
        _ = try await RollupEngine(store: store, logger: logger).run(now: farFuture)
        let after = try QueryEngine(index: store.index, dataDirectory: dir.path).usage(q)
        #expect(after.totals == withTail.totals)
        #expect(after.meta.source == "rollups")
        await store.close()
    }
}

@Suite struct QueryUnsealedTests {
    /// Acknowledged events still in the memtable (not sealed) count too, exactly once, also when
    /// they were sealed in the meantime.
    @Test func memtableEventsAreIncluded() async throws {
        let dir = TemporaryDirectory("query-unsealed")
        defer { dir.remove() }
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        let first = EventFactory.events(400, org: "org_a", seed: 31, days: 3)
        _ = try await store.ingest(first)
        _ = try await RollupEngine(store: store, logger: logger).run(now: farFuture)
        // New events, acknowledged but not sealed: one in an already rolled-up hour, some on a new day.
        var fresh = EventFactory.events(40, org: "org_a", seed: 32, days: 4)
        fresh[0].timestampMs = first[7].timestampMs + 1
        _ = try await store.ingest(fresh)
        #expect(await store.unsealedCount == 40)
        let all = first + fresh
        let q = try query(["start_date": "2026-10-25", "end_date": "2026-11-02"])
        let engine = QueryEngine(index: store.index, dataDirectory: dir.path)
        let unsealed = try await store.unsealedEvents(orgID: "org_a", fromMs: q.startMs - dayMs, toMs: q.endMs)
        let r = try engine.usage(q, unsealed: unsealed)
        #expect(r.totals.requests == 440)
        #expect(MoneySum(r.totals.totalCost) == all.reduce(MoneySum.zero) { $0 + MoneySum($1.totalCost) })
        #expect(r.meta.source == "rollups+raw")
        for p in r.points {
            #expect(p.measures.requests == Int64(all.filter { localDay($0.timestampMs) == p.label }.count), "day \(p.label)")
        }
        let models = try engine.breakdown(try query(["start_date": "2026-10-25", "end_date": "2026-11-02"], breakdown: .models), unsealed: unsealed)
        #expect(models.totals.requests == 440)
        // The same snapshot after a seal: nothing is counted twice.
        try await store.flush()
        let again = try engine.usage(q, unsealed: unsealed)
        #expect(again.totals.requests == 440)
        await store.close()
    }
}
