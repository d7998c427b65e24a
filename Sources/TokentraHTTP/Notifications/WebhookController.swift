import Alerts
import Hummingbird
import TokentraCore
import UsageIndex

/// `/v1/webhooks`: endpoints of the key's org (admin scope). The signing secret is returned only
/// by POST (and by PATCH with `"rotate_secret": true`); the delivery log and redelivery are under
/// `/v1/webhooks/{webhook_id}/deliveries`.
struct WebhookController: Sendable {
    let support: ManagementSupport
    let index: IndexDatabase
    let settings: WebhookSettings

    var routes: [RouteSpec] {
        [
            RouteSpec(path: "/v1/webhooks", method: .get) { r, _ in try await self.list(r) },
            RouteSpec(path: "/v1/webhooks", method: .post) { r, c in try await self.create(r, c) },
            RouteSpec(path: "/v1/webhooks/{webhook_id}", method: .get) { r, c in try await self.get(r, c) },
            RouteSpec(path: "/v1/webhooks/{webhook_id}", method: .patch) { r, c in try await self.update(r, c) },
            RouteSpec(path: "/v1/webhooks/{webhook_id}", method: .delete) { r, c in try await self.delete(r, c) },
            RouteSpec(path: "/v1/webhooks/{webhook_id}/deliveries", method: .get) { r, c in try await self.deliveries(r, c) },
            RouteSpec(path: "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", method: .post) { r, c in
                try await self.redeliver(r, c)
            },
        ]
    }

    static func write(_ h: WebhookRecord, secret: Bool, _ o: inout JSONWriter) {
        let d = WebhookDefinition(h)
        o.field("id", h.id)
        o.field("url", h.url)
        o.field("events", strings: d.events.isEmpty ? ["*"] : d.events.map(\.rawValue))
        o.field("description", h.description)
        o.field("enabled", h.enabled)
        if secret { o.field("secret", h.secret) }
        o.field("created_at", UTCTimestamp.format(h.createdAt))
        o.field("updated_at", UTCTimestamp.format(h.updatedAt))
    }

    static func writeDelivery(_ d: WebhookDelivery, _ attempts: [WebhookAttempt], _ x: inout JSONWriter) {
        x.field("id", d.id)
        x.field("event_id", d.eventID)
        x.field("event_type", d.eventType)
        x.field("status", d.status)
        x.field("attempts", d.attempts)
        x.field("attempt_limit", d.attemptLimit)
        x.field("next_attempt_at", d.status == "pending" ? UTCTimestamp.format(d.nextAttemptAt) : nil)
        x.field("last_status_code", d.lastStatusCode)
        x.field("last_error", d.lastError)
        x.field("delivered_at", d.deliveredAt.map(UTCTimestamp.format))
        x.field("created_at", UTCTimestamp.format(d.createdAt))
        x.field("attempt_log", array: { l in
            for t in attempts {
                l.object { y in
                    y.field("attempt", t.attempt)
                    y.field("at", UTCTimestamp.format(t.startedAt))
                    y.field("duration_ms", t.durationMs)
                    y.field("status_code", t.statusCode)
                    y.field("error", t.error)
                    y.field("probe", t.probe)
                }
            }
        })
    }

    func id(_ c: TokentraRequestContext) -> String { c.parameters.get("webhook_id") ?? "" }

    func find(_ id: String, _ org: String) async throws -> WebhookRecord {
        guard let h = try await blocking({ [index] in try index.webhook(id: id, orgID: org) }) else {
            throw ManagementSupport.notFound("webhook", id)
        }
        return h
    }

    func list(_ request: Request) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let hooks = try await blocking { [index] in try index.webhooks(orgID: key.orgID) }
        return .json(.ok, headers: limit.headers) { w in
            w.object { o in o.field("data", array: { a in for h in hooks { a.object { Self.write(h, secret: false, &$0) } } }) }
        }
    }

    func get(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let h = try await find(id(context), key.orgID)
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", object: { Self.write(h, secret: false, &$0) }) } }
    }

    func create(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let body = try await support.json(request, context)
        let d = try ManagementSupport.validating(limit.headers) { try WebhookDefinition.parse(create: body, allowPrivate: settings.allowPrivateTargets) }
        let now = support.wallClock()
        let record = d.record(id: Identifier.make("wh_"), orgID: key.orgID, secret: WebhookDefinition.newSecret(), createdAt: now, updatedAt: now)
        try await blocking { [index] in try index.insertWebhook(record) }
        return .json(.created, headers: limit.headers) { w in w.object { o in o.field("data", object: { Self.write(record, secret: true, &$0) }) } }
    }

    func update(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let current = try await find(id(context), key.orgID)
        let body = try await support.json(request, context)
        var d = WebhookDefinition(current)
        var rotate = false
        try ManagementSupport.validating(limit.headers) {
            try d.apply(patch: body, allowPrivate: settings.allowPrivateTargets, extra: ["rotate_secret"])
            if let r = body["rotate_secret"] {
                guard case .bool(let b) = r else { throw FieldError("rotate_secret", "rotate_secret must be true or false") }
                rotate = b
            }
        }
        let record = d.record(id: current.id, orgID: key.orgID, secret: rotate ? WebhookDefinition.newSecret() : current.secret,
                              createdAt: current.createdAt, updatedAt: support.wallClock())
        guard try await blocking({ [index] in try index.updateWebhook(record) }) else { throw ManagementSupport.notFound("webhook", current.id) }
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", object: { Self.write(record, secret: rotate, &$0) }) } }
    }

    func delete(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let id = id(context)
        guard try await blocking({ [index] in try index.deleteWebhook(id: id, orgID: key.orgID) }) else {
            throw ManagementSupport.notFound("webhook", id)
        }
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", object: { $0.field("id", id); $0.field("deleted", true) }) } }
    }

    func deliveries(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let h = try await find(id(context), key.orgID)
        let n = try ManagementSupport.limit(request)
        let list = try await blocking { [index] in try index.deliveries(webhookID: h.id, orgID: key.orgID, limit: n) }
        return .json(.ok, headers: limit.headers) { w in
            w.object { o in
                o.field("data", array: { a in
                    for (d, attempts) in list {
                        a.object { Self.writeDelivery(d, attempts, &$0) }
                    }
                })
            }
        }
    }

    func redeliver(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let h = try await find(id(context), key.orgID)
        let text = context.parameters.get("delivery_id") ?? ""
        guard let deliveryID = Int64(text) else { throw ManagementSupport.notFound("delivery", text) }
        let now = support.wallClock()
        let outcome = try await blocking { [index, settings] in
            try index.redeliver(deliveryID: deliveryID, webhookID: h.id, orgID: key.orgID, now: now, extraAttempts: settings.maxAttempts)
        }
        switch outcome {
        case .notFound: throw ManagementSupport.notFound("delivery", text)
        case .alreadyDelivered:
            throw APIError(.conflict, code: "ALREADY_DELIVERED", message: "delivery \(deliveryID) was acknowledged by the receiver and is never sent again")
        case .scheduled:
            return .json(.accepted, headers: limit.headers) { w in
                w.object { o in o.field("data", object: { $0.field("id", deliveryID); $0.field("status", "pending") }) }
            }
        }
    }
}
