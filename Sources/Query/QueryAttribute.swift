import Rollups
import SegmentStore
import TokentraCore

/// An event attribute that queries filter on and break down by.
public enum QueryAttribute: Sendable, Hashable, CustomStringConvertible {
    case provider, model, team, project, feature, environment, costCenter, userID
    /// A top-level key of the event's metadata object (`metadata.route`).
    case metadata(String)

    /// Every attribute but metadata keys, in documentation order.
    public static let fixed: [QueryAttribute] = [.provider, .model, .team, .project, .feature, .environment, .costCenter, .userID]

    /// Parses a parameter name: `provider`, `model`, `team_id`, `project_id`, `feature`,
    /// `environment`, `cost_center`, `user_id` or `metadata.KEY` (KEY: 1–128 bytes).
    public init?(name: String) {
        if name.hasPrefix("metadata.") {
            let key = String(name.dropFirst("metadata.".count))
            guard !key.isEmpty, key.utf8.count <= 128 else { return nil }
            self = .metadata(key)
            return
        }
        guard let a = Self.fixed.first(where: { $0.name == name }) else { return nil }
        self = a
    }

    /// The parameter name (also the JSON/CSV key field of breakdown rows).
    public var name: String {
        switch self {
        case .provider: "provider"
        case .model: "model"
        case .team: "team_id"
        case .project: "project_id"
        case .feature: "feature"
        case .environment: "environment"
        case .costCenter: "cost_center"
        case .userID: "user_id"
        case .metadata(let key): "metadata." + key
        }
    }

    public var description: String { name }

    /// The rollup dimension whose slices hold this attribute; `nil` when rollups do not break
    /// usage down by it (user ids, metadata keys): such questions are answered from the segments.
    public var dimension: RollupDimension? {
        switch self {
        case .provider, .model: .model
        case .team: .team
        case .project: .project
        case .feature: .feature
        case .environment: .environment
        case .costCenter: .costCenter
        case .userID, .metadata: nil
        }
    }

    /// The segment column holding the attribute's values.
    var column: SegmentFormat.Column {
        switch self {
        case .provider: .provider
        case .model: .model
        case .team: .team
        case .project: .project
        case .feature: .feature
        case .environment: .environment
        case .costCenter: .costCenter
        case .userID: .userID
        case .metadata: .metadata
        }
    }

    /// The attribute's value in an event (`nil` when absent).
    func value(of e: UsageEvent) -> String? {
        switch self {
        case .provider: e.provider
        case .model: e.model
        case .team: e.team
        case .project: e.project
        case .feature: e.feature
        case .environment: e.environment
        case .costCenter: e.costCenter
        case .userID: e.userID
        case .metadata(let key): e.metadata.flatMap { MetadataLookup.value(key, inJSON: $0) }
        }
    }
}

/// What a breakdown groups by: one of the per-attribute routes (`/v1/usage/models`, ...) or any
/// attribute through `/v1/usage/breakdown?by=...`.
public struct QueryBreakdown: Sendable, Hashable {
    public var attribute: QueryAttribute
    /// The name in `meta.breakdown`: the route's name (`models`, `cost-centers`) or the attribute's.
    public var rawValue: String

    public init(_ attribute: QueryAttribute, name: String? = nil) {
        self.attribute = attribute
        self.rawValue = name ?? attribute.name
    }

    public static let models = QueryBreakdown(.model, name: "models")
    public static let teams = QueryBreakdown(.team, name: "teams")
    public static let features = QueryBreakdown(.feature, name: "features")
    public static let projects = QueryBreakdown(.project, name: "projects")
    public static let environments = QueryBreakdown(.environment, name: "environments")
    public static let costCenters = QueryBreakdown(.costCenter, name: "cost-centers")

    /// The breakdowns with a route of their own, `/v1/usage/<rawValue>`.
    public static let routes: [QueryBreakdown] = [.models, .teams, .features, .projects, .environments, .costCenters]

    /// Whether rows are keyed by (provider, model).
    var byModel: Bool { attribute == .model }

    /// The JSON/CSV key field of a row (models: `provider` and `model`).
    public var keyField: String { attribute.name }
}

/// Filters of a query: attribute = value, all of which an event must match (a value of
/// `(none)` matches events without the attribute).
public struct QueryFilters: Sendable, Equatable {
    /// In parameter order of ``QueryAttribute/fixed``, then metadata keys sorted.
    public private(set) var values: [(attribute: QueryAttribute, value: String)] = []

    public init() {}

    public subscript(_ a: QueryAttribute) -> String? {
        get { values.first { $0.attribute == a }?.value }
        set {
            values.removeAll { $0.attribute == a }
            if let newValue { values.append((a, newValue)) }
            values.sort { Self.rank($0.attribute) < Self.rank($1.attribute) }
        }
    }

    static func rank(_ a: QueryAttribute) -> (Int, String) {
        if case .metadata(let k) = a { return (100, k) }
        return (QueryAttribute.fixed.firstIndex(of: a) ?? 99, "")
    }

    public var provider: String? { get { self[.provider] } set { self[.provider] = newValue } }
    public var model: String? { get { self[.model] } set { self[.model] = newValue } }
    public var teamID: String? { get { self[.team] } set { self[.team] = newValue } }
    public var projectID: String? { get { self[.project] } set { self[.project] = newValue } }
    public var feature: String? { get { self[.feature] } set { self[.feature] = newValue } }
    public var environment: String? { get { self[.environment] } set { self[.environment] = newValue } }
    public var costCenter: String? { get { self[.costCenter] } set { self[.costCenter] = newValue } }
    public var userID: String? { get { self[.userID] } set { self[.userID] = newValue } }

    public var isEmpty: Bool { values.isEmpty }

    public static func == (a: QueryFilters, b: QueryFilters) -> Bool {
        a.values.count == b.values.count && zip(a.values, b.values).allSatisfy { $0.attribute == $1.attribute && $0.value == $1.value }
    }

    /// The rollup dimensions the filters touch; `nil` when a filter has no rollup dimension.
    var dimensions: Set<RollupDimension>? {
        var out = Set<RollupDimension>()
        for f in values {
            guard let d = f.attribute.dimension else { return nil }
            out.insert(d)
        }
        return out
    }

    /// Whether a slice of `dimension` passes the filters (only filters of that dimension apply).
    func matches(_ key: SliceKey, dimension: RollupDimension) -> Bool {
        for f in values where f.attribute.dimension == dimension {
            let v = f.attribute == .provider ? key.provider : key.value
            if f.value != (v ?? SliceKey.noneLabel) { return false }
        }
        return true
    }

    /// Whether an event passes every filter.
    func matches(_ e: UsageEvent) -> Bool {
        values.allSatisfy { $0.value == ($0.attribute.value(of: e) ?? SliceKey.noneLabel) }
    }
}

/// Reads one top-level key of a metadata object (stored as compact JSON text).
enum MetadataLookup {
    /// The key's value: a string as itself, a number, boolean or null as its JSON text, an object
    /// or array as its compact JSON text; `nil` when the key is absent or the text is not an object.
    static func value(_ key: String, inJSON text: String) -> String? {
        guard let object = try? JSONValue.parse(text), let v = object[key] else { return nil }
        if case .string(let s) = v { return s }
        return v.compactText
    }
}
