import Foundation
import Logging
import TokentraCore
import UsageIndex

/// The one place budgets and alert rules are evaluated: the daemon runs it after every rollup cycle.
///
/// Every decision that emits an event is a write that can happen once: a budget threshold
/// crossing is a row keyed by (org, budget, period start, threshold, basis, amount), an alert transition is a
/// conditional state change; each is committed in one SQLite transaction with its event and the
/// event's outbox rows. Re-running the evaluation (restarts, rollup re-runs, `rollup run
/// --rebuild`, late events) therefore never emits an event twice.
public struct NotificationEvaluator: Sendable {
    public let index: IndexDatabase
    public let calculator: BudgetCalculator
    /// Attempts of each new outbox row (`webhooks.max_attempts`).
    public let attemptLimit: Int
    let logger: Logger

    public init(index: IndexDatabase, calculator: BudgetCalculator, attemptLimit: Int, logger: Logger) {
        self.index = index
        self.calculator = calculator
        self.attemptLimit = attemptLimit
        self.logger = logger
    }

    /// What one evaluation did.
    public struct Outcome: Sendable, Equatable {
        public var budgetsEvaluated = 0
        public var budgetEvents = 0
        public var alertsEvaluated = 0
        public var alertTransitions = 0
        public var failures = 0
        public init() {}
    }

    /// Evaluates every active budget and every enabled alert rule of every org at `nowMs`.
    /// A rule that cannot be evaluated is logged and counted; the others go on.
    ///
    /// Besides each budget's current period (and the previous one during the first 24 h of a
    /// period), every past period that received new events since the last evaluation is evaluated
    /// again (the hours marked by the seals, ``IndexDatabase/evaluationMarks()``), so a late event
    /// emits its period's crossing however late it arrives; ingestion refuses events older than the
    /// raw data horizon, so no period before it is ever looked at. The marks of an org are cleared
    /// once all its budgets were evaluated.
    public func run(nowMs: Int64) async throws -> Outcome {
        var outcome = Outcome()
        let marks = try index.evaluationMarks()
        var touched: [String: [Int64]] = [:]
        for m in marks { touched[m.orgID, default: []].append(m.hourStart) }
        var failedOrgs: Set<String> = []
        for budget in try index.budgets(orgID: nil) where budget.status == "active" {
            // A daemon shutting down stops between budgets (the marks stay for the next run; an
            // evaluation is idempotent).
            try Task.checkCancellation()
            do {
                outcome.budgetEvents += try await evaluate(budget, nowMs: nowMs, touchedHours: touched[budget.orgID] ?? [])
                outcome.budgetsEvaluated += 1
            } catch {
                outcome.failures += 1
                failedOrgs.insert(budget.orgID)
                logger.error("budget evaluation failed", metadata: ["budget.id": "\(budget.id)", "org.id": "\(budget.orgID)", "error": "\(error)"])
            }
        }
        try index.clearEvaluationMarks(marks.filter { !failedOrgs.contains($0.orgID) })
        let rules = AlertRules(index: index, calculator: calculator, attemptLimit: attemptLimit)
        for alert in try index.alerts(orgID: nil) where alert.enabled {
            try Task.checkCancellation()
            do {
                if try await rules.evaluate(alert, nowMs: nowMs) { outcome.alertTransitions += 1 }
                outcome.alertsEvaluated += 1
            } catch {
                outcome.failures += 1
                logger.error("alert evaluation failed", metadata: ["alert.id": "\(alert.id)", "org.id": "\(alert.orgID)", "error": "\(error)"])
            }
        }
        return outcome
    }

    /// How long after a period ends its thresholds are still evaluated, for late events.
    public static let latePeriodGraceMs: Int64 = 86_400_000

    /// Records the budget's new crossings in its current period, in the previous one during the
    /// first 24 h after it ended (events not sealed yet included), and in every past period that
    /// contains one of `touchedHours` (UTC hour starts that sealed new events) — a past period only
    /// if the budget existed before it ended; returns how many events it emitted.
    public func evaluate(_ budget: BudgetRecord, nowMs: Int64, touchedHours: [Int64] = []) async throws -> Int {
        let status = try await calculator.status(budget, nowMs: nowMs)
        var emitted = try await record(budget, status, forecast: true, nowMs: nowMs)
        let start = status.period.startMs
        var done: Set<Int64> = [start]
        if nowMs - start < Self.latePeriodGraceMs, budget.createdAt < start {
            let previous = try await calculator.status(budget, nowMs: start - 1)
            done.insert(previous.period.startMs)
            emitted += try await record(budget, previous, forecast: false, nowMs: nowMs)
        }
        guard !touchedHours.isEmpty else { return emitted }
        let d = BudgetDefinition(budget)
        guard let tz = TimeZone(identifier: d.timeZone) else { return emitted }
        var past: [PeriodBounds] = []
        for hour in touchedHours where hour < start {
            // An hour can straddle two periods in a zone with a half-hour offset.
            for t in [hour, min(hour + 3_599_999, start - 1)] {
                let p = PeriodBounds.containing(t, period: d.period, timeZone: tz)
                if p.endMs <= start, budget.createdAt < p.endMs, !done.contains(p.startMs) {
                    done.insert(p.startMs)
                    past.append(p)
                }
            }
        }
        for p in past.sorted(by: { $0.startMs < $1.startMs }) {
            try Task.checkCancellation()
            let s = try await calculator.status(budget, nowMs: p.endMs - 1)
            emitted += try await record(budget, s, forecast: false, nowMs: nowMs)
        }
        return emitted
    }

    func record(_ budget: BudgetRecord, _ status: BudgetStatus, forecast: Bool, nowMs: Int64) async throws -> Int {
        let d = BudgetDefinition(budget)
        var emitted = 0
        var crossings: [Int?] = status.reached(d.thresholds)
        if forecast && status.forecastExceedsAtMs != nil { crossings.append(nil) }
        for threshold in crossings {
            let event = NotificationPayload.budget(budget, status: status, threshold: threshold, at: nowMs)
            let crossing = BudgetCrossing(
                budgetID: budget.id, periodStart: status.period.startMs, threshold: threshold ?? BudgetCrossing.forecastThreshold,
                eventID: event.id, crossedAt: nowMs, spendUnits: Int64(clamping: status.spend), amountUnits: budget.amountUnits,
                basis: budget.basis)
            if try index.recordCrossing(orgID: budget.orgID, crossing, event: event, attemptLimit: attemptLimit) {
                emitted += 1
                logger.info("budget threshold crossed", metadata: [
                    "budget.id": "\(budget.id)", "org.id": "\(budget.orgID)", "event.type": "\(event.type)", "event.id": "\(event.id)",
                ])
            }
        }
        return emitted
    }
}
