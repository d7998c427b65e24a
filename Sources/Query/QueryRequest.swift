import Foundation
import Rollups
import TokentraCore
import UsageIndex

/// A bad query parameter: the parameter's name and why (HTTP 400 `INVALID_PARAMETER`).
public struct QueryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The offending parameter(s), as named in the HTTP API (`start_date`, `granularity`, ...).
    public var parameter: String
    public var message: String
    public init(_ parameter: String, _ message: String) {
        self.parameter = parameter
        self.message = message
    }
    public var description: String { message }
}

/// Bucket size of a usage time series.
public enum QueryGranularity: String, Sendable, CaseIterable {
    case hour, day, week, month
}

/// What a breakdown query groups by.
public enum QueryBreakdown: String, Sendable, CaseIterable {
    case models, teams, features, projects, environments
    case costCenters = "cost-centers"

    /// The rollup dimension holding the slices.
    public var dimension: RollupDimension {
        switch self {
        case .models: .model
        case .teams: .team
        case .features: .feature
        case .projects: .project
        case .environments: .environment
        case .costCenters: .costCenter
        }
    }

    /// The JSON/CSV key field of a row (models: `provider` and `model`).
    public var keyField: String {
        switch self {
        case .models: "model"
        case .teams: "team_id"
        case .features: "feature"
        case .projects: "project_id"
        case .environments: "environment"
        case .costCenters: "cost_center"
        }
    }
}

/// Order of breakdown rows (always descending).
public enum QuerySort: String, Sendable, CaseIterable {
    case cost, requests, tokens
}

/// Filters of a query: each narrows to the slices of one rollup dimension.
public struct QueryFilters: Sendable, Equatable {
    public var provider: String?
    public var model: String?
    public var teamID: String?
    public var projectID: String?
    public var feature: String?
    public var environment: String?
    public var costCenter: String?

    public init() {}

    /// The filters given, as (parameter name, dimension, value).
    var active: [(name: String, dimension: RollupDimension, value: String)] {
        var out: [(String, RollupDimension, String)] = []
        if let provider { out.append(("provider", .model, provider)) }
        if let model { out.append(("model", .model, model)) }
        if let teamID { out.append(("team_id", .team, teamID)) }
        if let projectID { out.append(("project_id", .project, projectID)) }
        if let feature { out.append(("feature", .feature, feature)) }
        if let environment { out.append(("environment", .environment, environment)) }
        if let costCenter { out.append(("cost_center", .costCenter, costCenter)) }
        return out
    }

    /// Whether a slice of `dimension` passes the filters (only filters of that dimension apply).
    func matches(_ key: SliceKey, dimension: RollupDimension) -> Bool {
        func eq(_ filter: String?, _ value: String?) -> Bool {
            guard let filter else { return true }
            return filter == (value ?? SliceKey.noneLabel)
        }
        switch dimension {
        case .model: return eq(provider, key.provider) && eq(model, key.value)
        case .team: return eq(teamID, key.value)
        case .project: return eq(projectID, key.value)
        case .feature: return eq(feature, key.value)
        case .environment: return eq(environment, key.value)
        case .costCenter: return eq(costCenter, key.value)
        }
    }
}

/// Limits on the queried range.
public struct QueryLimits: Sendable {
    /// Longest range for `granularity=hour`, in days.
    public var maxHourRangeDays: Int = 31
    /// Longest range for the other granularities and breakdowns, in days.
    public var maxRangeDays: Int = 3660
    /// Largest `limit`.
    public var maxLimit: Int = 10_000
    public init() {}
}

/// A validated query: one org, a range [start, end), a bucket size in a time zone, filters, and
/// for breakdowns the grouping, sort and limit.
public struct UsageQuery: Sendable {
    public var orgID: String
    /// Inclusive start, ms since the epoch.
    public var startMs: Int64
    /// Exclusive end, ms since the epoch.
    public var endMs: Int64
    public var granularity: QueryGranularity = .day
    public var timeZone: TimeZone = TimeZone(identifier: "UTC")!
    public var filters = QueryFilters()
    public var breakdown: QueryBreakdown?
    public var sort: QuerySort = .cost
    public var limit: Int?

    public init(orgID: String, startMs: Int64, endMs: Int64) {
        self.orgID = orgID
        self.startMs = startMs
        self.endMs = endMs
    }

    /// The parameter names ``parse(orgID:parameters:breakdown:limits:)`` accepts.
    public static let parameterNames: Set<String> = [
        "start_date", "end_date", "granularity", "tz", "provider", "model", "team_id", "project_id", "feature",
        "environment", "cost_center", "sort", "limit",
    ]

    /// Parses and validates the query parameters of the HTTP API (the CLI maps its options to the
    /// same names), so both report the same errors.
    /// - Throws: ``QueryError`` naming the parameter.
    public static func parse(orgID: String, parameters p: [String: String], breakdown: QueryBreakdown?,
                             limits: QueryLimits = QueryLimits()) throws(QueryError) -> UsageQuery {
        for name in p.keys.sorted() where !parameterNames.contains(name) {
            throw QueryError(name, "unknown parameter '\(name)'; accepted: \(parameterNames.sorted().joined(separator: ", "))")
        }
        var tz = TimeZone(identifier: "UTC")!
        if let name = p["tz"], !name.isEmpty {
            guard let zone = TimeZone(identifier: name) else {
                throw QueryError("tz", "tz must be an IANA time zone name such as UTC or Asia/Tokyo, got '\(name)'")
            }
            tz = zone
        }
        var granularity = QueryGranularity.day
        if let g = p["granularity"], !g.isEmpty {
            guard let parsed = QueryGranularity(rawValue: g.lowercased()) else {
                throw QueryError("granularity", "granularity must be one of hour, day, week, month, got '\(g)'")
            }
            granularity = parsed
        }
        guard let startText = p["start_date"], !startText.isEmpty else {
            throw QueryError("start_date", "start_date is required (YYYY-MM-DD in tz, or an ISO-8601 timestamp)")
        }
        guard let endText = p["end_date"], !endText.isEmpty else {
            throw QueryError("end_date", "end_date is required (exclusive; YYYY-MM-DD in tz, or an ISO-8601 timestamp)")
        }
        let start = try parseInstant(startText, name: "start_date", tz: tz)
        let end = try parseInstant(endText, name: "end_date", tz: tz)
        guard end > start else {
            throw QueryError("end_date", "end_date (\(endText)) must be after start_date (\(startText)); end_date is exclusive")
        }
        let maxDays = granularity == .hour ? limits.maxHourRangeDays : limits.maxRangeDays
        if end - start > Int64(maxDays) * 86_400_000 {
            throw QueryError("end_date", "the range start_date..end_date spans more than \(maxDays) days, the maximum for granularity=\(granularity.rawValue)")
        }
        if !wholeHourOffsets(tz, start, end) {
            throw QueryError("tz", "tz \(tz.identifier) has UTC offsets that are not whole hours in this range; hourly rollups cannot answer its days exactly")
        }
        guard start % 3_600_000 == 0 else {
            throw QueryError("start_date", "start_date must fall on a whole UTC hour (rollups are hourly), got '\(startText)'")
        }
        guard end % 3_600_000 == 0 else {
            throw QueryError("end_date", "end_date must fall on a whole UTC hour (rollups are hourly), got '\(endText)'")
        }
        var q = UsageQuery(orgID: orgID, startMs: start, endMs: end)
        q.granularity = granularity
        q.timeZone = tz
        var f = QueryFilters()
        func value(_ name: String) -> String? { p[name].flatMap { $0.isEmpty ? nil : $0 } }
        f.provider = value("provider")
        f.model = value("model")
        f.teamID = value("team_id")
        f.projectID = value("project_id")
        f.feature = value("feature")
        f.environment = value("environment")
        f.costCenter = value("cost_center")
        q.filters = f
        q.breakdown = breakdown
        if breakdown == nil {
            for name in ["sort", "limit"] where value(name) != nil {
                throw QueryError(name, "\(name) applies to the breakdowns (/v1/usage/models, /teams, ...), not to the usage time series")
            }
        }
        if let s = value("sort") {
            guard let sort = QuerySort(rawValue: s.lowercased()) else {
                throw QueryError("sort", "sort must be one of cost, requests, tokens, got '\(s)'")
            }
            q.sort = sort
        }
        if let l = value("limit") {
            guard let n = Int(l), n >= 1, n <= limits.maxLimit else {
                throw QueryError("limit", "limit must be an integer between 1 and \(limits.maxLimit), got '\(l)'")
            }
            q.limit = n
        }
        try q.validateDimensions()
        return q
    }

    /// Rollup slices are single-dimension: filters of two dimensions, or a filter on one dimension
    /// with a breakdown by another, cannot be answered exactly from them.
    func validateDimensions() throws(QueryError) {
        let active = filters.active
        let dims = Set(active.map(\.dimension))
        if dims.count > 1 {
            let names = active.map(\.name).joined(separator: " and ")
            throw QueryError(active.map(\.name).joined(separator: ","),
                             "filters \(names) cannot be combined: rollups break usage down by one attribute at a time, so the answer would not be exact")
        }
        if let breakdown, let d = dims.first, d != breakdown.dimension {
            let names = active.map(\.name).joined(separator: ",")
            throw QueryError(names, "filter \(names) cannot be combined with the \(breakdown.rawValue) breakdown: rollups break usage down by one attribute at a time, so the answer would not be exact")
        }
    }

    /// Whether every UTC offset the zone uses in [start, end) is a whole number of hours.
    static func wholeHourOffsets(_ tz: TimeZone, _ start: Int64, _ end: Int64) -> Bool {
        var t = Date(timeIntervalSince1970: Double(start) / 1000)
        let stop = Date(timeIntervalSince1970: Double(end) / 1000)
        while true {
            if tz.secondsFromGMT(for: t) % 3600 != 0 { return false }
            guard let next = tz.nextDaylightSavingTimeTransition(after: t), next < stop else { return true }
            t = next
        }
    }

    /// `YYYY-MM-DD` (midnight in `tz`) or an ISO-8601 timestamp.
    static func parseInstant(_ text: String, name: String, tz: TimeZone) throws(QueryError) -> Int64 {
        if text.count == 10, let utcMidnight = IndexDatabase.dayStart(text) {
            let days = utcMidnight / 86_400_000
            let (y, m, d) = UTCTimestamp.civilFromDays(days)
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = tz
            guard let date = cal.date(from: DateComponents(year: Int(y), month: Int(m), day: Int(d))) else {
                throw QueryError(name, "\(name) '\(text)' does not exist in time zone \(tz.identifier)")
            }
            return Int64((date.timeIntervalSince1970 * 1000).rounded())
        }
        if let ms = parseTimestamp(text) { return ms }
        throw QueryError(name, "\(name) must be a date (YYYY-MM-DD, midnight in tz) or an ISO-8601 timestamp (2026-11-01T00:00:00Z), got '\(text)'")
    }
}
