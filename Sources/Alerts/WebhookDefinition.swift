import TokentraCore
import UsageIndex

/// A validated webhook endpoint definition (what POST creates and PATCH changes).
public struct WebhookDefinition: Sendable, Equatable {
    public var url: String
    /// Subscribed types; empty means every type (`*`).
    public var events: [NotificationType] = []
    public var description = ""
    public var enabled = true

    static let fields: Set<String> = ["url", "events", "description", "enabled"]

    public init(url: String) { self.url = url }

    public init(_ r: WebhookRecord) {
        url = r.url
        events = r.events == "*" ? [] : r.events.split(separator: ",").compactMap { NotificationType(rawValue: String($0)) }
        description = r.description
        enabled = r.enabled
    }

    public var eventsColumn: String { events.isEmpty ? "*" : events.map(\.rawValue).joined(separator: ",") }

    /// Parses a POST body (`url` required). `allowPrivate`: `webhooks.allow_private_targets`.
    package static func parse(create body: JSONValue, allowPrivate: Bool) throws(FieldError) -> WebhookDefinition {
        guard case .object = body else { throw FieldError("body", "the body must be a JSON object") }
        guard body["url"] != nil else { throw FieldError("url", "url is required") }
        var d = WebhookDefinition(url: "")
        try d.apply(body, allowPrivate: allowPrivate, extra: [])
        return d
    }

    /// Applies a PATCH body; `extra` are further accepted keys the caller handles (`rotate_secret`).
    package mutating func apply(patch body: JSONValue, allowPrivate: Bool, extra: Set<String>) throws(FieldError) {
        guard case .object = body else { throw FieldError("body", "the body must be a JSON object") }
        try apply(body, allowPrivate: allowPrivate, extra: extra)
    }

    mutating func apply(_ body: JSONValue, allowPrivate: Bool, extra: Set<String>) throws(FieldError) {
        guard case .object(let members) = body else { return }
        var seen: Set<String> = []
        for (key, value) in members {
            if extra.contains(key) { continue }
            guard Self.fields.contains(key) else {
                throw FieldError(key, "unknown field '\(key)'; accepted: \(Self.fields.union(extra).sorted().joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else { throw FieldError(key, "\(key) is given twice") }
            switch key {
            case "url":
                guard case .string(let s) = value else { throw FieldError(key, "url must be a string") }
                _ = try WebhookTarget.validate(s, allowPrivate: allowPrivate)
                url = s
            case "events":
                guard case .array(let items) = value, items.count <= NotificationType.allCases.count * 2 else {
                    throw FieldError(key, "events must be an array of event types (\(NotificationType.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                var list: [NotificationType] = []
                for (i, item) in items.enumerated() {
                    if item == .string("*") { list = []; break }
                    guard case .string(let s) = item, let t = NotificationType(rawValue: s) else {
                        throw FieldError("\(key)[\(i)]", "unknown event type; accepted: \(NotificationType.allCases.map(\.rawValue).joined(separator: ", ")) or *")
                    }
                    if !list.contains(t) { list.append(t) }
                }
                events = list
            case "description":
                guard case .string(let s) = value, s.utf8.count <= 500 else { throw FieldError(key, "description must be a string of at most 500 bytes") }
                description = s
            default:
                guard case .bool(let b) = value else { throw FieldError(key, "enabled must be true or false") }
                enabled = b
            }
        }
    }

    public func record(id: String, orgID: String, secret: String, createdAt: Int64, updatedAt: Int64) -> WebhookRecord {
        WebhookRecord(id: id, orgID: orgID, url: url, events: eventsColumn, secret: secret, description: description, enabled: enabled,
                      createdAt: createdAt, updatedAt: updatedAt)
    }

    /// A new signing secret: `whsec_` + 40 characters of `[A-Za-z0-9_-]` (240 bits from the system CSPRNG).
    public static func newSecret() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var rng = SystemRandomNumberGenerator()
        var out = Array("whsec_".utf8)
        for _ in 0..<40 { out.append(alphabet[Int(rng.next() & 63)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
