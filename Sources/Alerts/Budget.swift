import Foundation
import TokentraCore
import UsageIndex

/// A bad field of a request body (HTTP 400 `VALIDATION_ERROR` with `error.field`; the CLI exits 2).
public struct FieldError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The offending field, as named in the API (`amount`, `alert_thresholds[2]`, `scope.team_id`).
    public var field: String
    public var message: String
    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "\(field): \(message)" }
}

/// How long a budget's period is (in the budget's time zone).
public enum BudgetPeriod: String, Sendable, CaseIterable {
    case daily, weekly, monthly, quarterly
}

/// What a budget (or an alert) counts: one attribute's value, or the whole org when absent.
public enum ScopeKind: String, Sendable, CaseIterable {
    case team, project, feature, environment, costCenter = "cost_center", model

    /// The field name in request bodies and the query parameter of `/v1/usage` (one name for both).
    public var field: String {
        switch self {
        case .team: "team_id"
        case .project: "project_id"
        case .feature: "feature"
        case .environment: "environment"
        case .costCenter: "cost_center"
        case .model: "model"
        }
    }

    public init?(field: String) {
        guard let k = Self.allCases.first(where: { $0.field == field }) else { return nil }
        self = k
    }
}

/// A scope: an attribute and its value.
public struct Scope: Sendable, Equatable {
    public var kind: ScopeKind
    public var value: String
    public init(kind: ScopeKind, value: String) {
        self.kind = kind
        self.value = value
    }
}

/// A validated budget definition (what POST creates and PATCH changes).
public struct BudgetDefinition: Sendable, Equatable {
    public var name: String
    public var amount: Money
    public var period: BudgetPeriod
    public var timeZone: String
    public var scope: Scope?
    /// Percentages, ascending and distinct, each 1...1000.
    public var thresholds: [Int]
    public var hardLimit: Bool
    /// `active` or `paused`.
    public var status: String

    public static let defaultThresholds = [50, 80, 100]
    public static let maxNameLength = 200
    public static let maxScopeValueLength = 256

    public init(name: String, amount: Money, period: BudgetPeriod, timeZone: String = "UTC", scope: Scope? = nil,
                thresholds: [Int] = defaultThresholds, hardLimit: Bool = false, status: String = "active") {
        self.name = name
        self.amount = amount
        self.period = period
        self.timeZone = timeZone
        self.scope = scope
        self.thresholds = thresholds
        self.hardLimit = hardLimit
        self.status = status
    }

    public init(_ r: BudgetRecord) {
        name = r.name
        amount = Money(units: r.amountUnits)
        period = BudgetPeriod(rawValue: r.period) ?? .monthly
        timeZone = r.timeZone
        if let t = r.scopeType, let k = ScopeKind(rawValue: t), let v = r.scopeValue { scope = Scope(kind: k, value: v) }
        thresholds = r.alertThresholds.split(separator: ",").compactMap { Int($0) }
        hardLimit = r.hardLimit
        status = r.status
    }

    public func record(id: String, orgID: String, createdAt: Int64, updatedAt: Int64) -> BudgetRecord {
        BudgetRecord(
            id: id, orgID: orgID, name: name, amountUnits: amount.units, period: period.rawValue, timeZone: timeZone,
            scopeType: scope?.kind.rawValue, scopeValue: scope?.value, alertThresholds: thresholds.map(String.init).joined(separator: ","),
            hardLimit: hardLimit, status: status, createdAt: createdAt, updatedAt: updatedAt)
    }

    static let fields: Set<String> = Set<String>(["name", "amount", "period", "time_zone", "scope", "alert_thresholds", "hard_limit", "status"])
        .union(ScopeKind.allCases.map(\.field))

    /// Parses a POST body (every field validated; `name`, `amount`, `period` required).
    package static func parse(create body: JSONValue) throws(FieldError) -> BudgetDefinition {
        guard case .object = body else { throw FieldError("body", "the body must be a JSON object") }
        for required in ["name", "amount", "period"] where body[required] == nil {
            throw FieldError(required, "\(required) is required")
        }
        var d = BudgetDefinition(name: "", amount: .zero, period: .monthly)
        try d.apply(body, creating: true)
        return d
    }

    /// Applies a PATCH body (only the fields given change; `scope: null` makes it org-wide).
    package mutating func apply(patch body: JSONValue) throws(FieldError) {
        guard case .object = body else { throw FieldError("body", "the body must be a JSON object") }
        try apply(body, creating: false)
    }

    mutating func apply(_ body: JSONValue, creating: Bool) throws(FieldError) {
        guard case .object(let members) = body else { return }
        var seen: Set<String> = []
        var scopeGiven = false
        for (key, value) in members {
            guard Self.fields.contains(key) else {
                throw FieldError(key, "unknown field '\(key)'; accepted: \(Self.fields.sorted().joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else { throw FieldError(key, "\(key) is given twice") }
            switch key {
            case "name": name = try Validate.name(value, field: key, max: Self.maxNameLength)
            case "amount":
                amount = try Validate.money(value, field: key)
                guard amount.units > 0 else { throw FieldError(key, "amount must be greater than 0") }
            case "period":
                guard case .string(let s) = value, let p = BudgetPeriod(rawValue: s) else {
                    throw FieldError(key, "period must be one of daily, weekly, monthly, quarterly")
                }
                period = p
            case "time_zone": timeZone = try Validate.timeZone(value, field: key)
            case "alert_thresholds": thresholds = try Validate.thresholds(value, field: key)
            case "hard_limit":
                guard case .bool(let b) = value else { throw FieldError(key, "hard_limit must be true or false") }
                hardLimit = b
            case "status":
                guard case .string(let s) = value, s == "active" || s == "paused" else {
                    throw FieldError(key, "status must be active or paused")
                }
                status = s
            case "scope":
                guard !scopeGiven else { throw FieldError(key, "give the scope once: either scope or one of \(ScopeKind.allCases.map(\.field).joined(separator: ", "))") }
                scopeGiven = true
                scope = try Validate.scopeObject(value, field: key, max: Self.maxScopeValueLength)
            default:
                guard !scopeGiven else { throw FieldError(key, "a budget has one scope: give either scope or one of \(ScopeKind.allCases.map(\.field).joined(separator: ", "))") }
                scopeGiven = true
                let kind = ScopeKind(field: key)!
                scope = Scope(kind: kind, value: try Validate.scopeValue(value, field: key, max: Self.maxScopeValueLength))
            }
        }
    }
}

/// Field validators shared by budgets, alerts and webhooks.
public enum Validate {
    package static func name(_ v: JSONValue, field: String, max: Int) throws(FieldError) -> String {
        guard case .string(let s) = v else { throw FieldError(field, "\(field) must be a string") }
        let trimmed = s.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw FieldError(field, "\(field) must not be empty") }
        guard s.utf8.count <= max else { throw FieldError(field, "\(field) is longer than \(max) bytes") }
        return s
    }

    /// An exact decimal amount in USD: a JSON number or a decimal string, at most 10 decimal places, ≥ 0.
    package static func money(_ v: JSONValue, field: String) throws(FieldError) -> Money {
        let text: String
        switch v {
        case .number(let t): text = t
        case .string(let t): text = t
        default: throw FieldError(field, "\(field) must be a decimal number of USD (e.g. 5000.00)")
        }
        guard text.utf8.count <= 40, !text.hasPrefix("-") else {
            throw FieldError(field, "\(field) must be a non-negative decimal number of USD, got \(text.prefix(40))")
        }
        do {
            return try Money(parsing: text)
        } catch {
            throw FieldError(field, "\(field) must be a decimal number of USD with at most 10 decimal places and below 922337203, got \(text)")
        }
    }

    package static func timeZone(_ v: JSONValue, field: String) throws(FieldError) -> String {
        guard case .string(let s) = v, s.utf8.count <= 64, TimeZone(identifier: s) != nil else {
            throw FieldError(field, "\(field) must be an IANA time zone name such as UTC or Europe/Berlin")
        }
        return s
    }

    package static func thresholds(_ v: JSONValue, field: String) throws(FieldError) -> [Int] {
        guard case .array(let items) = v, !items.isEmpty, items.count <= 20 else {
            throw FieldError(field, "\(field) must be an array of 1 to 20 percentages (e.g. [50, 80, 100])")
        }
        var out: [Int] = []
        for (i, item) in items.enumerated() {
            guard case .number(let t) = item, let n = Int(t), n >= 1, n <= 1000 else {
                throw FieldError("\(field)[\(i)]", "each threshold must be a whole percentage from 1 to 1000")
            }
            guard !out.contains(n) else { throw FieldError("\(field)[\(i)]", "threshold \(n) is listed twice") }
            out.append(n)
        }
        return out.sorted()
    }

    package static func scopeValue(_ v: JSONValue, field: String, max: Int) throws(FieldError) -> String {
        guard case .string(let s) = v, !s.isEmpty else { throw FieldError(field, "\(field) must be a non-empty string") }
        guard s.utf8.count <= max else { throw FieldError(field, "\(field) is longer than \(max) bytes") }
        return s
    }

    /// `{"team_id":"x"}` (one key of the scope fields) or `null` (the whole org).
    package static func scopeObject(_ v: JSONValue, field: String, max: Int) throws(FieldError) -> Scope? {
        if case .null = v { return nil }
        guard case .object(let members) = v, members.count == 1 else {
            throw FieldError(field, "\(field) must be null or an object with one of \(ScopeKind.allCases.map(\.field).joined(separator: ", "))")
        }
        let (key, value) = members[0]
        guard let kind = ScopeKind(field: key) else {
            throw FieldError("\(field).\(key)", "unknown scope key '\(key)'; accepted: \(ScopeKind.allCases.map(\.field).joined(separator: ", "))")
        }
        return Scope(kind: kind, value: try scopeValue(value, field: "\(field).\(key)", max: max))
    }
}

/// Random identifiers: a prefix and 24 hex digits (96 bits from the system CSPRNG).
public enum Identifier {
    public static func make(_ prefix: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        var out = Array(prefix.utf8)
        for _ in 0..<24 { out.append(hex[Int(rng.next() & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
