import Foundation
import TokentraCore
import UsageIndex

/// The alert rule types.
public enum AlertType: String, Sendable, CaseIterable {
    /// Spend of the current period (`period`, in `time_zone`) ≥ `threshold` USD.
    case spendThreshold = "spend_threshold"
    /// A budget's spend ≥ `threshold` percent of its amount.
    case budgetWarning = "budget_warning"
    /// A budget's forecast spend at period end ≥ `threshold` percent of its amount (default 100).
    case forecast
    /// z-score of today's spend against the previous 30 daily totals ≥ `threshold` (default 2.5).
    case anomaly
    /// Spend of the last complete hour ≥ `threshold` × the mean of the 24 hours before it (default 3).
    case rateSpike = "rate_spike"
    /// errors / requests over the last `window_minutes` ≥ `threshold` (a ratio, 0.05 = 5 %).
    case errorRate = "error_rate"
    /// p95 or p99 latency (`percentile`) over the last `window_minutes` ≥ `threshold` ms.
    case latency

    var defaultThreshold: String? {
        switch self {
        case .forecast: "100"
        case .anomaly: "2.5"
        case .rateSpike: "3"
        default: nil
        }
    }

    /// The largest accepted threshold.
    var maxThreshold: Int64 {
        switch self {
        case .spendThreshold: 900_000_000
        case .budgetWarning, .forecast: 1000
        case .anomaly: 100
        case .rateSpike: 1000
        case .errorRate: 1
        case .latency: 3_600_000
        }
    }

    var usesBudget: Bool { self == .budgetWarning || self == .forecast }
    var usesWindow: Bool { self == .errorRate || self == .latency }
}

/// A validated alert definition (what POST creates and PATCH changes).
public struct AlertDefinition: Sendable, Equatable {
    public var name: String
    public var type: AlertType
    /// Exact decimal (10 places), meaning by type (see ``AlertType``).
    public var threshold: Money
    public var period: BudgetPeriod = .daily
    public var windowMinutes = 60
    public var percentile = 95
    public var budgetID: String?
    public var scope: Scope?
    public var timeZone = "UTC"
    public var cooldownMinutes = 60
    public var enabled = true

    static let fields: Set<String> = Set<String>([
        "name", "type", "threshold", "period", "window_minutes", "percentile", "budget_id", "scope", "time_zone",
        "cooldown_minutes", "enabled", "channels",
    
    ]).union(ScopeKind.allCases.map(\.field))

    public init(name: String, type: AlertType, threshold: Money) {
        self.name = name
        self.type = type
        self.threshold = threshold
    }

    public init(_ r: AlertRecord) {
        name = r.name
        type = AlertType(rawValue: r.type) ?? .spendThreshold
        threshold = (try? Money(parsing: r.threshold)) ?? .zero
        period = r.period.flatMap(BudgetPeriod.init(rawValue:)) ?? .daily
        windowMinutes = r.windowMinutes ?? 60
        percentile = r.percentile ?? 95
        budgetID = r.budgetID
        if let t = r.scopeType, let k = ScopeKind(rawValue: t), let v = r.scopeValue { scope = Scope(kind: k, value: v) }
        timeZone = r.timeZone
        cooldownMinutes = r.cooldownSeconds / 60
        enabled = r.enabled
    }

    public func record(id: String, orgID: String, createdAt: Int64, updatedAt: Int64) -> AlertRecord {
        var r = AlertRecord(id: id, orgID: orgID, name: name, type: type.rawValue, threshold: threshold.description, timeZone: timeZone,
                            cooldownSeconds: cooldownMinutes * 60, enabled: enabled, createdAt: createdAt)
        r.updatedAt = updatedAt
        r.period = type == .spendThreshold ? period.rawValue : nil
        r.windowMinutes = type.usesWindow ? windowMinutes : nil
        r.percentile = type == .latency ? percentile : nil
        r.budgetID = type.usesBudget ? budgetID : nil
        r.scopeType = type.usesBudget ? nil : scope?.kind.rawValue
        r.scopeValue = type.usesBudget ? nil : scope?.value
        return r
    }

    /// Parses a POST body. `budgetExists` tells whether a budget id belongs to the org.
    package static func parse(create body: JSONValue, budgetExists: (String) throws -> Bool) throws -> AlertDefinition {
        guard case .object = body else { throw FieldError("body", "the body must be a JSON object") }
        for required in ["name", "type"] where body[required] == nil { throw FieldError(required, "\(required) is required") }
        guard case .string(let t) = body["type"]!, let type = AlertType(rawValue: t) else {
            throw FieldError("type", "type must be one of \(AlertType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var d = AlertDefinition(name: "", type: type, threshold: .zero)
        if body["threshold"] == nil {
            guard let def = type.defaultThreshold else { throw FieldError("threshold", "threshold is required for type \(type.rawValue)") }
            d.threshold = try Money(parsing: def)
        }
        try d.apply(body, budgetExists: budgetExists)
        return d
    }

    /// Applies a PATCH body (only the fields given change; the type cannot change).
    package mutating func apply(patch body: JSONValue, budgetExists: (String) throws -> Bool) throws {
        guard case .object = body else { throw FieldError("body", "the body must be a JSON object") }
        if let t = body["type"], t != .string(type.rawValue) {
            throw FieldError("type", "the type of an alert cannot change; create a new alert")
        }
        try apply(body, budgetExists: budgetExists)
    }

    mutating func apply(_ body: JSONValue, budgetExists: (String) throws -> Bool) throws {
        guard case .object(let members) = body else { return }
        var seen: Set<String> = []
        var scopeGiven = false
        for (key, value) in members {
            guard Self.fields.contains(key) else {
                throw FieldError(key, "unknown field '\(key)'; accepted: \(Self.fields.sorted().joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else { throw FieldError(key, "\(key) is given twice") }
            switch key {
            case "type": continue
            case "name": name = try Validate.name(value, field: key, max: BudgetDefinition.maxNameLength)
            case "threshold":
                threshold = try Validate.money(value, field: key)
                guard threshold.units > 0, threshold.units <= type.maxThreshold * Money.scale else {
                    throw FieldError(key, "threshold of a \(type.rawValue) alert must be greater than 0 and at most \(type.maxThreshold)")
                }
            case "period":
                guard case .string(let s) = value, let p = BudgetPeriod(rawValue: s) else {
                    throw FieldError(key, "period must be one of daily, weekly, monthly, quarterly")
                }
                period = p
            case "window_minutes":
                guard case .number(let t) = value, let n = Int(t), n >= 60, n <= 10_080, n % 60 == 0 else {
                    throw FieldError(key, "window_minutes must be a whole number of hours in minutes, 60 to 10080 (rollups are hourly)")
                }
                windowMinutes = n
            case "percentile":
                guard case .number(let t) = value, let n = Int(t), n == 95 || n == 99 else {
                    throw FieldError(key, "percentile must be 95 or 99")
                }
                percentile = n
            case "budget_id":
                guard case .string(let s) = value, s.utf8.count <= 64, try budgetExists(s) else {
                    throw FieldError(key, "budget_id must name a budget of this organization")
                }
                budgetID = s
            case "time_zone": timeZone = try Validate.timeZone(value, field: key)
            case "cooldown_minutes":
                guard case .number(let t) = value, let n = Int(t), n >= 0, n <= 43_200 else {
                    throw FieldError(key, "cooldown_minutes must be an integer from 0 to 43200")
                }
                cooldownMinutes = n
            case "enabled":
                guard case .bool(let b) = value else { throw FieldError(key, "enabled must be true or false") }
                enabled = b
            case "channels":
                // Seed 001's field. Transitions are delivered as signed webhooks only; Slack, email or
                // PagerDuty are reached through a webhook receiver that relays (README).
                guard case .array(let items) = value, !items.isEmpty, items.count <= 10 else {
                    throw FieldError(key, "channels must be a non-empty array; the only channel is \"webhook\"")
                }
                for (i, item) in items.enumerated() where item != .string("webhook") {
                    throw FieldError("\(key)[\(i)]", "the only channel is \"webhook\" (signed webhooks to /v1/webhooks endpoints); relay them to Slack, email or PagerDuty from a receiver")
                }
            case "scope":
                guard !scopeGiven else { throw FieldError(key, "give the scope once") }
                scopeGiven = true
                scope = try Validate.scopeObject(value, field: key, max: BudgetDefinition.maxScopeValueLength)
            default:
                guard !scopeGiven else { throw FieldError(key, "an alert has one scope: give either scope or one of \(ScopeKind.allCases.map(\.field).joined(separator: ", "))") }
                scopeGiven = true
                scope = Scope(kind: ScopeKind(field: key)!, value: try Validate.scopeValue(value, field: key, max: BudgetDefinition.maxScopeValueLength))
            }
        }
        if type.usesBudget && budgetID == nil { throw FieldError("budget_id", "budget_id is required for type \(type.rawValue)") }
        if type.usesBudget && scope != nil { throw FieldError("scope", "a \(type.rawValue) alert takes its scope from its budget") }
    }
}
