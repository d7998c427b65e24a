import TokentraCore
import UsageIndex

/// The webhook event types.
public enum NotificationType: String, Sendable, CaseIterable {
    case alertTriggered = "alert.triggered"
    case alertResolved = "alert.resolved"
    case budgetWarning = "budget.warning"
    case budgetExceeded = "budget.exceeded"
    case budgetForecast = "budget.forecast"
}

/// Builds notification events in the seed's payload shape
/// `{"id":"evt_…","type":…,"created_at":…,"data":{…}}` (written with ``JSONWriter``).
public enum NotificationPayload {
    /// An event with a fresh id whose body is the envelope around `data`.
    public static func event(orgID: String, type: NotificationType, at: Int64, data: (inout JSONWriter) -> Void) -> NotificationEvent {
        let id = Identifier.make("evt_")
        var w = JSONWriter()
        w.object { o in
            o.field("id", id)
            o.field("type", type.rawValue)
            o.field("created_at", UTCTimestamp.format(at))
            o.field("org_id", orgID)
            o.field("data", object: data)
        }
        return NotificationEvent(id: id, orgID: orgID, type: type.rawValue, createdAt: at, body: w.text)
    }

    /// Writes a scope as `{"team_id":"x"}` or `null`.
    public static func scope(_ scope: Scope?, _ w: inout JSONWriter) {
        guard let scope else {
            w.null()
            return
        }
        w.object { $0.field(scope.kind.field, scope.value) }
    }

    /// A budget crossing a threshold (`budget.warning` below 100 %, `budget.exceeded` from 100 %)
    /// or forecast to exceed its amount (`budget.forecast`).
    public static func budget(_ budget: BudgetRecord, status: BudgetStatus, threshold: Int?, at: Int64) -> NotificationEvent {
        let d = BudgetDefinition(budget)
        let type: NotificationType = threshold.map { $0 >= 100 ? .budgetExceeded : .budgetWarning } ?? .budgetForecast
        let message: String
        if let threshold {
            message = "Budget '\(d.name)' reached \(threshold)% of \(MoneySum(Int128(d.amount.units))) USD (\(d.period.rawValue)): spend \(MoneySum(status.spend)) USD"
        } else {
            message = "Budget '\(d.name)' is forecast to spend \(MoneySum(status.forecast)) USD this \(d.period.rawValue) period, over its \(MoneySum(Int128(d.amount.units))) USD"
        }
        return event(orgID: budget.orgID, type: type, at: at) { o in
            o.field("budget_id", budget.id)
            o.field("budget_name", d.name)
            o.field("period", d.period.rawValue)
            o.field("time_zone", d.timeZone)
            o.field("period_start", UTCTimestamp.format(status.period.startMs))
            o.field("period_end", UTCTimestamp.format(status.period.endMs))
            o.key("scope")
            scope(d.scope, &o)
            o.field("amount", money: Int128(d.amount.units))
            o.field("current_spend", money: status.spend)
            o.field("percentage_used", status.percentageUsed, fractionDigits: 2)
            if let threshold { o.field("threshold", threshold) }
            o.field("forecast_spend", money: status.forecast)
            o.field("forecast_exceeds_at", status.forecastExceedsAtMs.map(UTCTimestamp.format))
            o.field("hard_limit", d.hardLimit)
            o.field("message", message)
        }
    }
}
