import TokentraCore
import UsageIndex

/// An API key as the server uses it (from an ``APIKeyRecord``).
public struct APIKeyInfo: Sendable, Equatable {
    public var id: String
    public var orgID: String
    public var name: String
    public var prefix: String
    public var keyHash: [UInt8]
    public var scopes: Set<String>
    public var expiresAt: Int64?
    public var revokedAt: Int64?
    /// `nil`: server default; 0: unlimited.
    public var rateLimitMinute: Int64?
    public var rateLimitDay: Int64?

    public init(_ record: APIKeyRecord) {
        id = record.id
        orgID = record.orgID
        name = record.name
        prefix = record.prefix
        keyHash = record.keyHash
        scopes = Set(record.scopes.split(separator: ",").map(String.init))
        expiresAt = record.expiresAt
        revokedAt = record.revokedAt
        rateLimitMinute = record.rateLimitMinute
        rateLimitDay = record.rateLimitDay
    }

    /// Whether the key carries `scope` (or `admin`).
    public func allows(_ scope: APIKeyScope) -> Bool {
        scopes.contains(scope.rawValue) || scopes.contains(APIKeyScope.admin.rawValue)
    }
}
