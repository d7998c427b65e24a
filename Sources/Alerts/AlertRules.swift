import Foundation
import Query
import Rollups
import TokentraCore
import UsageIndex

/// What a rule measured: its current value (JSON number text), whether the condition holds, and
/// the message of a transition.
public struct AlertMeasurement: Sendable, Equatable {
    public var value: String?
    public var conditionMet: Bool
    public var message: String
}

/// Evaluates alert rules from the rollups (via ``BudgetCalculator``) and records transitions.
struct AlertRules: Sendable {
    let index: IndexDatabase
    let calculator: BudgetCalculator
    let attemptLimit: Int

    static let hour: Int64 = 3_600_000
    static let scale = Int128(Money.scale)

    /// Evaluates one rule at `nowMs`; returns whether it changed state (and emitted an event).
    func evaluate(_ alert: AlertRecord, nowMs: Int64) async throws -> Bool {
        let d = AlertDefinition(alert)
        // Nothing to judge (no requests in the window, no baseline, budget gone): the condition does not hold.
        let m = try await measure(d, orgID: alert.orgID, nowMs: nowMs)
            ?? AlertMeasurement(value: nil, conditionMet: false, message: "\(d.type.rawValue) has no data to evaluate")
        if m.conditionMet && alert.state == "ok" {
            // An alert in cooldown never fires: it stays ok and is looked at again next cycle.
            if let last = alert.lastTriggeredAt, nowMs - last < Int64(alert.cooldownSeconds) * 1000 {
                try index.recordAlertEvaluation(id: alert.id, at: nowMs, value: m.value)
                return false
            }
            return try transition(alert, d, m, to: "triggered", nowMs: nowMs)
        }
        if !m.conditionMet && alert.state == "triggered" {
            return try transition(alert, d, m, to: "resolved", nowMs: nowMs)
        }
        try index.recordAlertEvaluation(id: alert.id, at: nowMs, value: m.value)
        return false
    }

    func transition(_ alert: AlertRecord, _ d: AlertDefinition, _ m: AlertMeasurement, to kind: String, nowMs: Int64) throws -> Bool {
        let type: NotificationType = kind == "triggered" ? .alertTriggered : .alertResolved
        let message = kind == "triggered" ? m.message : "Resolved: " + m.message
        let event = NotificationPayload.event(orgID: alert.orgID, type: type, at: nowMs) { o in
            o.field("alert_id", alert.id)
            o.field("alert_name", d.name)
            o.field("alert_type", d.type.rawValue)
            if let v = m.value { o.field("current_value", raw: v) } else { o.field("current_value", nil as String?) }
            o.field("threshold", raw: d.threshold.description)
            if let b = d.budgetID { o.field("budget_id", b) }
            o.key("scope")
            NotificationPayload.scope(d.scope, &o)
            o.field("state", kind == "triggered" ? "triggered" : "ok")
            o.field("message", message)
        }
        let entry = AlertHistoryEntry(alertID: alert.id, kind: kind, at: nowMs, value: m.value, threshold: d.threshold.description,
                                      message: message, eventID: event.id)
        return try index.transitionAlert(id: alert.id, from: kind == "triggered" ? "ok" : "triggered",
                                         to: kind == "triggered" ? "triggered" : "ok", entry: entry, event: event, attemptLimit: attemptLimit)
    }

    static func number(_ x: Double) -> String { JSONNumber.format(x, fractionDigits: 4) ?? "0" }

    /// Measures the rule; `nil` when there is nothing to judge (no budget, no baseline, no requests).
    func measure(_ d: AlertDefinition, orgID: String, nowMs: Int64) async throws -> AlertMeasurement? {
        let thr = Int128(d.threshold.units)
        // Windows are whole hours (rollups are hourly) ending at the first hour boundary at or after now.
        let currentHourEnd = (nowMs + Self.hour - 1) / Self.hour * Self.hour
        switch d.type {
        case .spendThreshold:
            guard let tz = TimeZone(identifier: d.timeZone) else { return nil }
            let p = PeriodBounds.containing(nowMs, period: d.period, timeZone: tz)
            let spend = try await calculator.usage(orgID: orgID, startMs: p.startMs, endMs: p.endMs, timeZone: d.timeZone, scope: d.scope).totals.totalCost
            return AlertMeasurement(value: MoneySum(spend).description, conditionMet: spend >= thr,
                                    message: "\(d.period.rawValue) spend \(MoneySum(spend)) USD vs threshold \(d.threshold) USD")
        case .budgetWarning, .forecast:
            guard let id = d.budgetID, let budget = try index.budget(id: id, orgID: orgID) else { return nil }
            let st = try await calculator.status(budget, nowMs: nowMs)
            // value ≥ threshold % of amount, exactly: value × 100 × 1e10 ≥ threshold_units × amount.
            let v = d.type == .forecast ? st.forecast : st.spend
            let met = v * 100 * Self.scale >= thr * st.amount
            let pct = st.amount == 0 ? 0 : Double(v) * 100 / Double(st.amount)
            let what = d.type == .forecast ? "forecast spend" : "spend"
            return AlertMeasurement(value: Self.number(pct), conditionMet: met,
                                    message: "budget '\(budget.name)' \(what) at \(Self.number(pct))% of its amount (threshold \(d.threshold)%)")
        case .anomaly:
            guard let tz = TimeZone(identifier: d.timeZone) else { return nil }
            let today = PeriodBounds.containing(nowMs, period: .daily, timeZone: tz)
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = tz
            let first = cal.date(byAdding: .day, value: -30, to: Date(timeIntervalSince1970: Double(today.startMs) / 1000))!
            let start = Int64((first.timeIntervalSince1970 * 1000).rounded())
            let r = try await calculator.usage(orgID: orgID, startMs: start, endMs: today.endMs, timeZone: d.timeZone, scope: d.scope)
            guard r.points.count >= 2 else { return nil }
            let history = r.points.dropLast().map { Double($0.measures.totalCost) / Double(Money.scale) }
            let current = Double(r.points.last!.measures.totalCost) / Double(Money.scale)
            // Needs a week of history with some spend; days before the first spend do not count.
            let firstSpend = history.firstIndex { $0 > 0 } ?? history.count
            let days = Array(history[firstSpend...])
            guard days.count >= 7 else { return nil }
            let mean = days.reduce(0, +) / Double(days.count)
            let variance = days.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(days.count)
            let sd = variance.squareRoot()
            guard sd > 0 else { return nil }
            let z = (current - mean) / sd
            return AlertMeasurement(value: Self.number(z), conditionMet: z >= MoneySum(d.threshold).approximateValue,
                                    message: "today's spend \(MoneySum(r.points.last!.measures.totalCost)) USD is \(Self.number(z)) standard deviations from the mean of the previous \(days.count) days")
        case .rateSpike:
            let lastEnd = nowMs / Self.hour * Self.hour
            let r = try await calculator.usage(orgID: orgID, startMs: lastEnd - 25 * Self.hour, endMs: lastEnd, timeZone: "UTC",
                                               scope: d.scope, granularity: "hour")
            guard r.points.count == 25 else { return nil }
            let baseline = r.points.prefix(24).reduce(Int128(0)) { $0 + $1.measures.totalCost }
            let last = r.points.last!.measures.totalCost
            guard baseline > 0 else { return nil }
            // last ≥ multiplier × baseline / 24, exactly.
            let met = last * 24 * Self.scale >= thr * baseline
            let ratio = Double(last) * 24 / Double(baseline)
            return AlertMeasurement(value: Self.number(ratio), conditionMet: met,
                                    message: "spend of the last hour \(MoneySum(last)) USD is \(Self.number(ratio))× the mean hourly spend of the 24 hours before (threshold \(d.threshold)×)")
        case .errorRate:
            let s = try await calculator.summary(orgID: orgID, startMs: currentHourEnd - Int64(d.windowMinutes) * 60_000, endMs: currentHourEnd, scope: d.scope)
            guard s.totals.requests > 0 else { return nil }
            let met = Int128(s.totals.errors) * Self.scale >= thr * Int128(s.totals.requests)
            let rate = Double(s.totals.errors) / Double(s.totals.requests)
            return AlertMeasurement(value: Self.number(rate), conditionMet: met,
                                    message: "error rate \(Self.number(rate * 100))% (\(s.totals.errors) of \(s.totals.requests) requests) over \(d.windowMinutes) minutes")
        case .latency:
            let s = try await calculator.summary(orgID: orgID, startMs: currentHourEnd - Int64(d.windowMinutes) * 60_000, endMs: currentHourEnd, scope: d.scope)
            guard let p = d.percentile == 99 ? s.latency.p99 : s.latency.p95 else { return nil }
            return AlertMeasurement(value: Self.number(p), conditionMet: p >= MoneySum(d.threshold).approximateValue,
                                    message: "p\(d.percentile) latency \(Self.number(p)) ms over \(d.windowMinutes) minutes (threshold \(d.threshold) ms)")
        }
    }
}
