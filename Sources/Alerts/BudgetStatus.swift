import Foundation
import Query
import Rollups
import SegmentStore
import TokentraCore
import UsageIndex

/// The raw tail a spend computation adds to the rollups: acknowledged events not yet sealed and the
/// org's segments, pinned together (the daemon passes its store's read snapshot).
public typealias RawTail = @Sendable (_ orgID: String, _ fromMs: Int64, _ toMs: Int64) async throws -> SegmentStore.ReadSnapshot?

/// A period [start, end) of a budget in its time zone.
public struct PeriodBounds: Sendable, Equatable {
    public var startMs: Int64
    public var endMs: Int64

    /// The period containing `nowMs`: the local day, the ISO week (from Monday), the month, or the
    /// quarter (January, April, July, October) in `timeZone` — the calendar rules of the usage
    /// queries' buckets (``Query/QueryEngine``).
    public static func containing(_ nowMs: Int64, period: BudgetPeriod, timeZone: TimeZone) -> PeriodBounds {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        cal.firstWeekday = 2
        cal.minimumDaysInFirstWeek = 4
        let date = Date(timeIntervalSince1970: Double(nowMs) / 1000)
        func ms(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        switch period {
        case .daily, .weekly, .monthly:
            let component: Calendar.Component = period == .daily ? .day : (period == .weekly ? .weekOfYear : .month)
            let interval = cal.dateInterval(of: component, for: date)!
            return PeriodBounds(startMs: ms(interval.start), endMs: ms(interval.end))
        case .quarterly:
            let c = cal.dateComponents([.year, .month], from: date)
            let firstMonth = (c.month! - 1) / 3 * 3 + 1
            let start = cal.date(from: DateComponents(year: c.year!, month: firstMonth, day: 1))!
            let end = cal.date(byAdding: .month, value: 3, to: start)!
            return PeriodBounds(startMs: ms(start), endMs: ms(end))
        }
    }
}

/// A budget's state at one moment: spend in the current period, use and forecast.
///
/// **Forecast** (documented in the README): the period's run rate so far, extrapolated linearly to
/// the period end — `forecast = spend × period_length ÷ elapsed`, in exact integer arithmetic
/// (1e-10 USD, rounded down), where `elapsed` is the time from the period start to now. It needs at
/// least one hour of elapsed time and some spend (else it equals the spend). When it exceeds the
/// amount while the spend does not yet, the date the run rate reaches the amount is
/// `start + ⌈amount × elapsed ÷ spend⌉`. A series with constant spend per hour is forecast exactly.
public struct BudgetStatus: Sendable {
    public var period: PeriodBounds
    /// Exact spend in the period (1e-10 USD): the rollups plus the events not rolled up yet.
    public var spend: Int128
    public var amount: Int128
    public var forecast: Int128
    /// When the run rate reaches the amount (only while spend < amount < forecast).
    public var forecastExceedsAtMs: Int64?
    public var asOfMs: Int64

    /// spend / amount × 100.
    public var percentageUsed: Double { amount == 0 ? 0 : Double(spend) * 100 / Double(amount) }
    /// Whether spend ≥ amount.
    public var exceeded: Bool { spend >= amount }

    public init(period: PeriodBounds, spend: Int128, amount: Int128, nowMs: Int64) {
        self.period = period
        self.spend = spend
        self.amount = amount
        self.asOfMs = nowMs
        let length = Int128(period.endMs - period.startMs)
        let elapsed = Int128(min(max(nowMs - period.startMs, 0), period.endMs - period.startMs))
        if spend > 0, elapsed >= 3_600_000 {
            forecast = spend * length / elapsed
        } else {
            forecast = spend
        }
        if spend > 0, spend < amount, forecast > amount, elapsed >= 3_600_000 {
            let num = amount * elapsed
            let offset = (num + spend - 1) / spend
            forecastExceedsAtMs = period.startMs + Int64(offset)
        }
    }

    /// Which thresholds (percent) the spend has reached: spend × 100 ≥ threshold × amount.
    public func reached(_ thresholds: [Int]) -> [Int] {
        thresholds.filter { spend * 100 >= Int128($0) * amount }
    }
}

/// Computes budget spend from the rollups (and the raw tail) through the usage query engine, so a
/// budget and `/v1/usage` with the same range, zone and filter always agree.
public struct BudgetCalculator: Sendable {
    public let engine: QueryEngine
    public let rawTail: RawTail?

    public init(engine: QueryEngine, rawTail: RawTail?) {
        self.engine = engine
        self.rawTail = rawTail
    }

    /// The usage query for [start, end) of `orgID` in `timeZone` narrowed to `scope`.
    /// - Throws: ``FieldError`` (`time_zone`) when the query engine cannot answer that zone exactly.
    public static func query(orgID: String, startMs: Int64, endMs: Int64, timeZone: String, scope: Scope?,
                             granularity: String = "day") throws(FieldError) -> UsageQuery {
        var p = ["start_date": UTCTimestamp.format(startMs), "end_date": UTCTimestamp.format(endMs), "tz": timeZone, "granularity": granularity]
        if let scope { p[scope.kind.field] = scope.value }
        do {
            return try UsageQuery.parse(orgID: orgID, parameters: p, breakdown: nil)
        } catch {
            throw FieldError(error.parameter == "tz" ? "time_zone" : error.parameter, error.message)
        }
    }

    /// Runs `body` on a Dispatch thread (SQLite and segment reads block; they stay off the
    /// cooperative pool) with the engine and the raw tail of `orgID` for [start, end).
    func read<T: Sendable>(orgID: String, startMs: Int64, endMs: Int64,
                           _ body: @escaping @Sendable (QueryEngine, [UsageEvent], [SegmentRecord]?) throws -> T) async throws -> T {
        let raw = try await rawTail?(orgID, startMs - 86_400_000, endMs)
        defer { raw?.release() }
        let unsealed = raw?.unsealed.events ?? []
        let segments = raw?.segments
        let engine = self.engine
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try body(engine, unsealed, segments) })
            }
        }
    }

    /// The usage of `orgID` in [start, end) narrowed to `scope`, including the raw tail.
    public func usage(orgID: String, startMs: Int64, endMs: Int64, timeZone: String, scope: Scope?,
                      granularity: String = "day") async throws -> UsageResult {
        let q = try Self.query(orgID: orgID, startMs: startMs, endMs: endMs, timeZone: timeZone, scope: scope, granularity: granularity)
        return try await read(orgID: orgID, startMs: startMs, endMs: endMs) { engine, unsealed, segments in
            try engine.usage(q, unsealed: unsealed, segments: segments)
        }
    }

    /// Totals and merged-digest percentiles of `orgID` in [start, end) narrowed to `scope`.
    public func summary(orgID: String, startMs: Int64, endMs: Int64, scope: Scope?) async throws -> UsageSummary {
        let q = try Self.query(orgID: orgID, startMs: startMs, endMs: endMs, timeZone: "UTC", scope: scope)
        return try await read(orgID: orgID, startMs: startMs, endMs: endMs) { engine, unsealed, segments in
            try engine.summary(q, unsealed: unsealed, segments: segments)
        }
    }

    /// The budget's status at `nowMs`.
    public func status(_ budget: BudgetRecord, nowMs: Int64) async throws -> BudgetStatus {
        let d = BudgetDefinition(budget)
        guard let tz = TimeZone(identifier: d.timeZone) else { throw FieldError("time_zone", "unknown time zone \(d.timeZone)") }
        let bounds = PeriodBounds.containing(nowMs, period: d.period, timeZone: tz)
        let result = try await usage(orgID: budget.orgID, startMs: bounds.startMs, endMs: bounds.endMs, timeZone: d.timeZone, scope: d.scope)
        return BudgetStatus(period: bounds, spend: result.totals.totalCost, amount: Int128(d.amount.units), nowMs: nowMs)
    }
}
