import Alerts
import Foundation
import Query
import SegmentStore
import TokentraCore
import UsageIndex

/// Everything the overview page shows for one org, computed by the usage query engine (the code
/// behind `/v1/usage`) and the budget calculator (the code behind `/v1/budgets`), so the page and
/// the API agree to the last digit.
///
/// The range is the last 30 UTC days including today: `start_date` = today − 29 days,
/// `end_date` = tomorrow (exclusive), the same parameters a client would pass to `/v1/usage`.
struct OverviewReport: Sendable {
    /// Days shown.
    static let days = 30
    /// Rows of the models and features tables.
    static let topRows = 10

    var orgID: String
    /// `YYYY-MM-DD` (UTC), inclusive.
    var startDate: String
    /// `YYYY-MM-DD` (UTC), exclusive.
    var endDate: String
    var asOfMs: Int64
    /// `/v1/usage?start_date&end_date&granularity=day`.
    var usage: UsageResult
    /// `/v1/usage/models?...&sort=cost&limit=10`.
    var models: BreakdownResult
    /// `/v1/usage/features?...&sort=cost&limit=10`.
    var features: BreakdownResult
    /// The org's budgets with their current status (`nil` when it could not be computed).
    var budgets: [(record: BudgetRecord, status: BudgetStatus?)]

    /// The query parameters of the range (as `/v1/usage` takes them).
    static func range(nowMs: Int64) -> (start: String, end: String) {
        let today = nowMs >= 0 ? nowMs / 86_400_000 : (nowMs - 86_399_999) / 86_400_000
        func date(_ day: Int64) -> String { String(UTCTimestamp.format(day * 86_400_000).prefix(10)) }
        return (date(today - Int64(days - 1)), date(today + 1))
    }
}

/// Computes ``OverviewReport``s.
struct OverviewReporter: Sendable {
    let engine: QueryEngine
    let index: IndexDatabase
    let calculator: BudgetCalculator
    /// The store's consistent raw tail (segments + unsealed events) for a range, as the query API uses.
    let snapshot: @Sendable (_ orgID: String, _ fromMs: Int64, _ toMs: Int64) async throws -> SegmentStore.ReadSnapshot?

    func report(orgID: String, nowMs: Int64) async throws -> OverviewReport {
        let (start, end) = OverviewReport.range(nowMs: nowMs)
        let base = ["start_date": start, "end_date": end]
        var series = base
        series["granularity"] = "day"
        var top = base
        top["sort"] = "cost"
        top["limit"] = String(OverviewReport.topRows)
        let usageQ = try UsageQuery.parse(orgID: orgID, parameters: series, breakdown: nil)
        let modelsQ = try UsageQuery.parse(orgID: orgID, parameters: top, breakdown: .models)
        let featuresQ = try UsageQuery.parse(orgID: orgID, parameters: top, breakdown: .features)

        // One pinned view of the raw tail for the three queries, as QueryController reads it.
        let raw = try await snapshot(orgID, usageQ.startMs - 86_400_000, usageQ.endMs)
        defer { raw?.release() }
        let fresh = raw?.unsealed.events ?? []
        let segments = raw?.segments
        let engine = self.engine
        let (usage, models, features) = try await blocking {
            (try engine.usage(usageQ, unsealed: fresh, segments: segments),
             try engine.breakdown(modelsQ, unsealed: fresh, segments: segments),
             try engine.breakdown(featuresQ, unsealed: fresh, segments: segments))
        }
        let records = try await blocking { [index] in try index.budgets(orgID: orgID) }
        var budgets: [(record: BudgetRecord, status: BudgetStatus?)] = []
        for r in records {
            budgets.append((r, try? await calculator.status(r, nowMs: nowMs)))
        }
        return OverviewReport(
            orgID: orgID, startDate: start, endDate: end, asOfMs: nowMs, usage: usage, models: models, features: features, budgets: budgets)
    }
}
