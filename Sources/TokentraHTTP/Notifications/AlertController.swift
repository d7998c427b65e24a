import Alerts
import Hummingbird
import TokentraCore
import UsageIndex

/// `/v1/alerts`: alert rules of the key's org and their history of transitions. The rules are
/// evaluated by the daemon after every rollup cycle (``Alerts/NotificationEvaluator``), not here.
struct AlertController: Sendable {
    let support: ManagementSupport
    let index: IndexDatabase

    var routes: [RouteSpec] {
        [
            RouteSpec(path: "/v1/alerts", method: .get) { r, _ in try await self.list(r) },
            RouteSpec(path: "/v1/alerts", method: .post) { r, c in try await self.create(r, c) },
            RouteSpec(path: "/v1/alerts/{alert_id}", method: .get) { r, c in try await self.get(r, c) },
            RouteSpec(path: "/v1/alerts/{alert_id}", method: .patch) { r, c in try await self.update(r, c) },
            RouteSpec(path: "/v1/alerts/{alert_id}", method: .delete) { r, c in try await self.delete(r, c) },
            RouteSpec(path: "/v1/alerts/{alert_id}/history", method: .get) { r, c in try await self.history(r, c) },
        ]
    }

    static func write(_ a: AlertRecord, _ o: inout JSONWriter) {
        let d = AlertDefinition(a)
        o.field("id", a.id)
        o.field("name", d.name)
        o.field("type", d.type.rawValue)
        o.field("threshold", raw: d.threshold.description)
        if let p = a.period { o.field("period", p) }
        if let w = a.windowMinutes { o.field("window_minutes", w) }
        if let p = a.percentile { o.field("percentile", p) }
        if let b = a.budgetID { o.field("budget_id", b) }
        o.key("scope")
        NotificationPayload.scope(d.scope, &o)
        o.field("time_zone", d.timeZone)
        o.field("cooldown_minutes", d.cooldownMinutes)
        o.field("enabled", d.enabled)
        o.field("channels", strings: ["webhook"])
        o.field("state", a.state)
        o.field("last_triggered_at", a.lastTriggeredAt.map(UTCTimestamp.format))
        o.field("last_evaluated_at", a.lastEvaluatedAt.map(UTCTimestamp.format))
        if let v = a.lastValue { o.field("last_value", raw: v) } else { o.field("last_value", nil as String?) }
        o.field("created_at", UTCTimestamp.format(a.createdAt))
        o.field("updated_at", UTCTimestamp.format(a.updatedAt))
    }

    static func writeHistory(_ e: AlertHistoryEntry, _ x: inout JSONWriter) {
        x.field("id", e.id)
        x.field("alert_id", e.alertID)
        x.field("kind", e.kind)
        x.field("at", UTCTimestamp.format(e.at))
        if let v = e.value { x.field("value", raw: v) } else { x.field("value", nil as String?) }
        x.field("threshold", raw: e.threshold)
        x.field("message", e.message)
        x.field("event_id", e.eventID)
    }

    func id(_ c: TokentraRequestContext) -> String { c.parameters.get("alert_id") ?? "" }

    func find(_ id: String, _ org: String) async throws -> AlertRecord {
        guard let a = try await blocking({ [index] in try index.alert(id: id, orgID: org) }) else { throw ManagementSupport.notFound("alert", id) }
        return a
    }

    func list(_ request: Request) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: false)
        let alerts = try await blocking { [index] in try index.alerts(orgID: key.orgID) }
        return .json(.ok, headers: limit.headers) { w in
            w.object { o in o.field("data", array: { l in for a in alerts { l.object { Self.write(a, &$0) } } }) }
        }
    }

    func get(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: false)
        let a = try await find(id(context), key.orgID)
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", object: { Self.write(a, &$0) }) } }
    }

    func budgetExists(_ org: String) -> (String) throws -> Bool {
        { [index] id in try index.budget(id: id, orgID: org) != nil }
    }

    func create(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let body = try await support.json(request, context)
        let d = try ManagementSupport.validating(limit.headers) { try AlertDefinition.parse(create: body, budgetExists: budgetExists(key.orgID)) }
        let now = support.wallClock()
        let record = d.record(id: Identifier.make("alert_"), orgID: key.orgID, createdAt: now, updatedAt: now)
        try await blocking { [index] in try index.insertAlert(record) }
        return .json(.created, headers: limit.headers) { w in w.object { o in o.field("data", object: { Self.write(record, &$0) }) } }
    }

    func update(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let current = try await find(id(context), key.orgID)
        let body = try await support.json(request, context)
        var d = AlertDefinition(current)
        try ManagementSupport.validating(limit.headers) { try d.apply(patch: body, budgetExists: budgetExists(key.orgID)) }
        let record = d.record(id: current.id, orgID: key.orgID, createdAt: current.createdAt, updatedAt: support.wallClock())
        guard try await blocking({ [index] in try index.updateAlert(record) }) else { throw ManagementSupport.notFound("alert", current.id) }
        let stored = try await find(current.id, key.orgID)
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", object: { Self.write(stored, &$0) }) } }
    }

    func delete(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let id = id(context)
        guard try await blocking({ [index] in try index.deleteAlert(id: id, orgID: key.orgID) }) else { throw ManagementSupport.notFound("alert", id) }
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", object: { $0.field("id", id); $0.field("deleted", true) }) } }
    }

    func history(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: false)
        let a = try await find(id(context), key.orgID)
        let n = try ManagementSupport.limit(request)
        let entries = try await blocking { [index] in try index.alertHistory(alertID: a.id, orgID: key.orgID, limit: n) }
        return .json(.ok, headers: limit.headers) { w in
            w.object { o in
                o.field("data", array: { l in
                    for e in entries {
                        l.object { Self.writeHistory(e, &$0) }
                    }
                })
            }
        }
    }
}
