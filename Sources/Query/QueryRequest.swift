import Foundation
import Rollups
import TokentraCore
import UsageIndex

/// A bad query parameter: the parameter's name and why (HTTP 400 `INVALID_PARAMETER`).
public struct QueryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The offending parameter(s), as named in the HTTP API (`start_date`, `granularity`, ...).
    public var parameter: String
    public var message: String
    /// The API error code: `INVALID_PARAMETER`, or `RAW_DATA_RETIRED` when the question needs raw
    /// events that retention removed.
    public var code: String
    public init(_ parameter: String, _ message: String, code: String = "INVALID_PARAMETER") {
        self.parameter = parameter
        self.message = message
        self.code = code
    }
    public var description: String { message }
}

/// Bucket size of a usage time series.
public enum QueryGranularity: String, Sendable, CaseIterable {
    case hour, day, week, month
}

/// Order of breakdown rows (always descending).
public enum QuerySort: String, Sendable, CaseIterable {
    case cost, requests, tokens
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
    /// The zone's name as asked (Foundation calls UTC "GMT").
    public var timeZoneName = "UTC"
    public var filters = QueryFilters()
    public var breakdown: QueryBreakdown?
    public var sort: QuerySort = .cost
    public var limit: Int?

    public init(orgID: String, startMs: Int64, endMs: Int64) {
        self.orgID = orgID
        self.startMs = startMs
        self.endMs = endMs
    }

    /// The parameter names ``parse(orgID:parameters:breakdown:limits:)`` accepts, besides
    /// `metadata.KEY` filters (and `by` for ``parseBreakdown(orgID:parameters:limits:)``).
    public static let parameterNames: Set<String> = [
        "start_date", "end_date", "granularity", "tz", "provider", "model", "team_id", "project_id", "feature",
        "environment", "cost_center", "user_id", "sort", "limit",
    ]

    /// Parses `/v1/usage/breakdown?by=ATTRIBUTE&...`: a breakdown by any attribute.
    /// - Throws: ``QueryError`` naming the parameter.
    public static func parseBreakdown(orgID: String, parameters p: [String: String],
                                      limits: QueryLimits = QueryLimits()) throws(QueryError) -> UsageQuery {
        guard let by = p["by"], !by.isEmpty else {
            throw QueryError("by", "by is required: one of \(QueryAttribute.fixed.map(\.name).joined(separator: ", ")) or metadata.KEY")
        }
        guard let attribute = QueryAttribute(name: by) else {
            throw QueryError("by", "by must be one of \(QueryAttribute.fixed.map(\.name).joined(separator: ", ")) or metadata.KEY (KEY up to 128 bytes), got '\(by)'")
        }
        var rest = p
        rest["by"] = nil
        return try parse(orgID: orgID, parameters: rest, breakdown: QueryBreakdown(attribute), limits: limits)
    }

    /// Parses and validates the query parameters of the HTTP API (the CLI maps its options to the
    /// same names), so both report the same errors.
    /// - Throws: ``QueryError`` naming the parameter.
    public static func parse(orgID: String, parameters p: [String: String], breakdown: QueryBreakdown?,
                             limits: QueryLimits = QueryLimits()) throws(QueryError) -> UsageQuery {
        for name in p.keys.sorted() where !parameterNames.contains(name) {
            if name.hasPrefix("metadata.") {
                guard QueryAttribute(name: name) != nil else {
                    throw QueryError(name, "a metadata filter is metadata.KEY with a KEY of 1 to 128 bytes, got '\(name)'")
                }
                continue
            }
            throw QueryError(name, "unknown parameter '\(name)'; accepted: \(parameterNames.sorted().joined(separator: ", ")), metadata.KEY")
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
        var q = UsageQuery(orgID: orgID, startMs: start, endMs: end)
        q.granularity = granularity
        q.timeZone = tz
        q.timeZoneName = p["tz"].flatMap { $0.isEmpty ? nil : $0 } ?? "UTC"
        var f = QueryFilters()
        func value(_ name: String) -> String? { p[name].flatMap { $0.isEmpty ? nil : $0 } }
        for (name, v) in p where !v.isEmpty {
            if let a = QueryAttribute(name: name) { f[a] = v }
        }
        q.filters = f
        q.breakdown = breakdown
        if breakdown == nil {
            for name in ["sort", "limit"] where value(name) != nil {
                throw QueryError(name, "\(name) applies to the breakdowns (/v1/usage/models, /teams, /breakdown, ...), not to the usage time series")
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
        return q
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
