import Alerts
import Hummingbird
import TokentraCore
import UsageIndex

/// `GET /api/v1/sdk/config` (seed 000 §13.2): what an SDK needs to behave — the key's rate
/// limits, telemetry batch settings, the price table in effect (and entries that take effect
/// later), and the org's hard-limit budgets with their status, so an SDK can stop calls over a
/// hard budget. Key scope `sdk:write` (or `admin`).
struct SDKConfigController: Sendable {
    let support: ManagementSupport
    let index: IndexDatabase
    let calculator: BudgetCalculator
    let priceTable: PriceTable
    let maxBatchEvents: Int
    let maxBodyBytes: Int

    var routes: [RouteSpec] {
        [RouteSpec(path: "/api/v1/sdk/config", method: .get) { r, _ in try await self.config(r) }]
    }

    static func price(_ p: ModelPrice, _ o: inout JSONWriter) {
        o.field("provider", p.provider)
        o.field("model", p.model)
        o.field("input_per_1k", money: Int128(p.inputPer1K.units))
        o.field("output_per_1k", money: Int128(p.outputPer1K.units))
        o.field("cached_per_1k", money: Int128(p.cachedPer1K.units))
        o.field("effective_from", UTCTimestamp.format(p.effectiveFromMs))
    }

    func config(_ request: Request) async throws -> Response {
        let now = support.wallClock()
        let (key, limit) = try support.authorizer.authorize(request, scope: .sdkWrite, nowMs: now)
        let budgets = try await blocking { [index] in try index.budgets(orgID: key.orgID) }.filter { $0.hardLimit && $0.status == "active" }
        var statuses: [BudgetStatus] = []
        for b in budgets { statuses.append(try await calculator.status(b, nowMs: now)) }
        // In effect: per model the latest entry effective at `now`; upcoming: entries effective later.
        var inEffect: [ModelPrice] = []
        var upcoming: [ModelPrice] = []
        for p in priceTable.entries {
            if p.effectiveFromMs > now {
                upcoming.append(p)
            } else if let last = inEffect.last, last.provider == p.provider, last.model == p.model {
                inEffect[inEffect.count - 1] = p
            } else {
                inEffect.append(p)
            }
        }
        var headers = limit.headers
        headers[.cacheControl] = "private, max-age=60"
        let limits = limit.limits
        return .json(.ok, headers: headers) { w in
            w.object { o in
                o.field("org_id", key.orgID)
                o.field("key_id", key.id)
                o.field("server_time", UTCTimestamp.format(now))
                o.field("rate_limits", object: { r in
                    r.field("per_minute", limits.perMinute)
                    r.field("per_day", limits.perDay)
                    r.field("unlimited_value", 0)
                })
                o.field("telemetry", object: { t in
                    t.field("endpoint", "/api/v1/sdk/ingest")
                    t.field("batch_size", min(10, maxBatchEvents))
                    t.field("max_batch_events", maxBatchEvents)
                    t.field("max_body_bytes", maxBodyBytes)
                    t.field("flush_interval_ms", 5000)
                })
                o.field("pricing", object: { p in
                    p.field("version", priceTable.version)
                    p.field("in_effect", array: { a in for e in inEffect { a.object { Self.price(e, &$0) } } })
                    p.field("upcoming", array: { a in for e in upcoming { a.object { Self.price(e, &$0) } } })
                })
                o.field("budgets", array: { a in
                    for (b, s) in zip(budgets, statuses) {
                        a.object { x in
                            let d = BudgetDefinition(b)
                            x.field("id", b.id)
                            x.field("name", d.name)
                            x.field("period", d.period.rawValue)
                            x.key("scope")
                            NotificationPayload.scope(d.scope, &x)
                            x.field("amount", money: s.amount)
                            x.field("current_spend", money: s.spend)
                            x.field("percentage_used", s.percentageUsed, fractionDigits: 2)
                            x.field("hard_limit", true)
                            x.field("status", s.exceeded ? "exceeded" : "ok")
                            x.field("block_requests", s.exceeded)
                            x.field("period_end", UTCTimestamp.format(s.period.endMs))
                        }
                    }
                })
            }
        }
    }
}
