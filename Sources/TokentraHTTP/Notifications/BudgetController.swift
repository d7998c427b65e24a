import Alerts
import Hummingbird
import TokentraCore
import UsageIndex

/// `/v1/budgets` (seed 001 "API Reference"): list, create, read, change, delete — always within
/// the key's org (another org's budget is 404). GET answers include the current period's exact
/// spend (rollups plus events not rolled up yet), percentage used and the forecast.
struct BudgetController: Sendable {
    let support: ManagementSupport
    let index: IndexDatabase
    let calculator: BudgetCalculator

    var routes: [RouteSpec] {
        [
            RouteSpec(path: "/v1/budgets", method: .get) { r, _ in try await self.list(r) },
            RouteSpec(path: "/v1/budgets", method: .post) { r, c in try await self.create(r, c) },
            RouteSpec(path: "/v1/budgets/{budget_id}", method: .get) { r, c in try await self.get(r, c) },
            RouteSpec(path: "/v1/budgets/{budget_id}", method: .patch) { r, c in try await self.update(r, c) },
            RouteSpec(path: "/v1/budgets/{budget_id}", method: .delete) { r, c in try await self.delete(r, c) },
        ]
    }

    /// Writes a budget with its status (when computed).
    static func write(_ b: BudgetRecord, _ status: BudgetStatus?, _ o: inout JSONWriter) {
        let d = BudgetDefinition(b)
        o.field("id", b.id)
        o.field("name", d.name)
        o.field("amount", money: Int128(d.amount.units))
        o.field("period", d.period.rawValue)
        o.field("time_zone", d.timeZone)
        o.key("scope")
        NotificationPayload.scope(d.scope, &o)
        o.field("alert_thresholds", array: { a in for t in d.thresholds { a.int(t) } })
        o.field("hard_limit", d.hardLimit)
        o.field("status", d.status)
        if let s = status {
            o.field("current_spend", money: s.spend)
            o.field("percentage_used", s.percentageUsed, fractionDigits: 2)
            o.field("forecast_spend", money: s.forecast)
            o.field("forecast_exceeds_at", s.forecastExceedsAtMs.map(UTCTimestamp.format))
            o.field("exceeded", s.exceeded)
            o.field("period_start", UTCTimestamp.format(s.period.startMs))
            o.field("period_end", UTCTimestamp.format(s.period.endMs))
            o.field("as_of", UTCTimestamp.format(s.asOfMs))
        }
        o.field("created_at", UTCTimestamp.format(b.createdAt))
        o.field("updated_at", UTCTimestamp.format(b.updatedAt))
    }

    func status(_ b: BudgetRecord) async throws -> BudgetStatus {
        try await calculator.status(b, nowMs: support.wallClock())
    }

    func list(_ request: Request) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: false)
        let budgets = try await blocking { [index] in try index.budgets(orgID: key.orgID) }
        var statuses: [BudgetStatus] = []
        for b in budgets { statuses.append(try await status(b)) }
        return .json(.ok, headers: limit.headers) { w in
            w.object { o in
                o.field("data", array: { a in
                    for (b, s) in zip(budgets, statuses) { a.object { Self.write(b, s, &$0) } }
                })
            }
        }
    }

    func id(_ context: TokentraRequestContext) -> String { context.parameters.get("budget_id") ?? "" }

    func get(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: false)
        let id = id(context)
        guard let b = try await blocking({ [index] in try index.budget(id: id, orgID: key.orgID) }) else {
            throw ManagementSupport.notFound("budget", id)
        }
        let s = try await status(b)
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", object: { Self.write(b, s, &$0) }) } }
    }

    func create(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let body = try await support.json(request, context)
        let d = try ManagementSupport.validating(limit.headers) { () throws -> BudgetDefinition in
            let d = try BudgetDefinition.parse(create: body)
            // The zone must be one the usage engine answers exactly (same rule as /v1/usage?tz=).
            _ = try BudgetCalculator.query(orgID: key.orgID, startMs: 0, endMs: 3_600_000 * 24 * 31, timeZone: d.timeZone, scope: d.scope)
            return d
        }
        let now = support.wallClock()
        let record = d.record(id: Identifier.make("budget_"), orgID: key.orgID, createdAt: now, updatedAt: now)
        try await blocking { [index] in try index.insertBudget(record) }
        let s = try await status(record)
        return .json(.created, headers: limit.headers) { w in w.object { o in o.field("data", object: { Self.write(record, s, &$0) }) } }
    }

    func update(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let id = id(context)
        guard let current = try await blocking({ [index] in try index.budget(id: id, orgID: key.orgID) }) else {
            throw ManagementSupport.notFound("budget", id)
        }
        let body = try await support.json(request, context)
        var d = BudgetDefinition(current)
        try ManagementSupport.validating(limit.headers) {
            try d.apply(patch: body)
            _ = try BudgetCalculator.query(orgID: key.orgID, startMs: 0, endMs: 3_600_000 * 24 * 31, timeZone: d.timeZone, scope: d.scope)
        }
        let record = d.record(id: current.id, orgID: key.orgID, createdAt: current.createdAt, updatedAt: support.wallClock())
        guard try await blocking({ [index] in try index.updateBudget(record) }) else { throw ManagementSupport.notFound("budget", id) }
        let s = try await status(record)
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", object: { Self.write(record, s, &$0) }) } }
    }

    func delete(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let id = id(context)
        guard try await blocking({ [index] in try index.deleteBudget(id: id, orgID: key.orgID) }) else {
            throw ManagementSupport.notFound("budget", id)
        }
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", object: { $0.field("id", id); $0.field("deleted", true) }) } }
    }
}
