import GRDB
import TokentraCore

// API keys (migration "v3-api-keys"). Keys are stored only as the SHA-256 of the full key plus a
// short display/lookup prefix; the key itself is shown once by `tokentra keys create` and never
// stored. The daemon reads this table through its own connection and re-reads it periodically, so
// `tokentra keys` (a separate process, WAL mode) takes effect while the daemon runs.

/// One API key as stored (never the key itself).
public struct APIKeyRecord: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "api_keys"

    /// `key_` + 24 hex digits.
    public var id: String
    public var orgID: String
    public var name: String
    /// The first characters of the key (`tt_live_AbCd`), for display and lookup.
    public var prefix: String
    /// SHA-256 of the full key.
    public var keyHash: [UInt8]
    /// Comma-separated scopes (`sdk:write,usage:read`).
    public var scopes: String
    /// Wall-clock ms.
    public var createdAt: Int64
    /// Wall-clock ms after which the key is rejected (`KEY_EXPIRED`); `nil`: never.
    public var expiresAt: Int64?
    /// Wall-clock ms when the key was revoked (`KEY_REVOKED`); `nil`: active.
    public var revokedAt: Int64?
    /// Requests per minute; `nil`: the server default; 0: unlimited.
    public var rateLimitMinute: Int64?
    /// Requests per UTC day; `nil`: the server default; 0: unlimited.
    public var rateLimitDay: Int64?
    /// Wall-clock ms of the last change (create or revoke).
    public var updatedAt: Int64

    public enum CodingKeys: String, CodingKey {
        case id, name, prefix, scopes
        case orgID = "org_id"
        case keyHash = "key_hash"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case revokedAt = "revoked_at"
        case rateLimitMinute = "rate_limit_minute"
        case rateLimitDay = "rate_limit_day"
        case updatedAt = "updated_at"
    }

    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let orgID = Column(CodingKeys.orgID)
        public static let prefix = Column(CodingKeys.prefix)
        public static let createdAt = Column(CodingKeys.createdAt)
    }

    public init(
        id: String, orgID: String, name: String, prefix: String, keyHash: [UInt8], scopes: String, createdAt: Int64,
        expiresAt: Int64? = nil, revokedAt: Int64? = nil, rateLimitMinute: Int64? = nil, rateLimitDay: Int64? = nil,
        updatedAt: Int64
    ) {
        self.id = id
        self.orgID = orgID
        self.name = name
        self.prefix = prefix
        self.keyHash = keyHash
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.rateLimitMinute = rateLimitMinute
        self.rateLimitDay = rateLimitDay
        self.updatedAt = updatedAt
    }
}

extension IndexDatabase {
    /// The body of migration `v3-api-keys` (registered by ``migrator``; append-only, never edited).
    static func createAPIKeyTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                name TEXT NOT NULL,
                prefix TEXT NOT NULL,
                key_hash BLOB NOT NULL UNIQUE,
                scopes TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER,
                revoked_at INTEGER,
                rate_limit_minute INTEGER,
                rate_limit_day INTEGER,
                updated_at INTEGER NOT NULL
            );
            CREATE INDEX api_keys_prefix ON api_keys(prefix);
            CREATE INDEX api_keys_org ON api_keys(org_id);
            """)
    }

    /// Stores a new key.
    /// - Throws: a GRDB `DatabaseError` (for example when the id or hash already exists).
    public func insertAPIKey(_ key: APIKeyRecord) throws {
        try writer.write { db in try key.insert(db) }
    }

    /// Every key, newest first, optionally of one org.
    public func apiKeys(orgID: String? = nil) throws -> [APIKeyRecord] {
        try writer.read { db in
            var request = APIKeyRecord.all()
            if let orgID { request = request.filter(APIKeyRecord.Columns.orgID == orgID) }
            return try request.order(APIKeyRecord.Columns.createdAt.desc, APIKeyRecord.Columns.id).fetchAll(db)
        }
    }

    /// The keys whose display prefix is `prefix` (normally zero or one).
    public func apiKeys(prefix: String) throws -> [APIKeyRecord] {
        try writer.read { db in
            try APIKeyRecord.filter(APIKeyRecord.Columns.prefix == prefix).fetchAll(db)
        }
    }

    /// The key with this id.
    public func apiKey(id: String) throws -> APIKeyRecord? {
        try writer.read { db in try APIKeyRecord.fetchOne(db, key: id) }
    }

    /// Marks a key revoked (idempotent: an already revoked key keeps its first revocation time).
    /// - Returns: The key after the change, or `nil` when no key has this id.
    @discardableResult
    public func revokeAPIKey(id: String, at now: Int64) throws -> APIKeyRecord? {
        try writer.write { db in
            try db.execute(
                sql: "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?), updated_at = ? WHERE id = ?",
                arguments: [now, now, id])
            return try APIKeyRecord.fetchOne(db, key: id)
        }
    }

    /// Number of segments and their total bytes (for metrics).
    public func segmentTotals() throws -> (count: Int, bytes: Int, rows: Int) {
        try writer.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b, COALESCE(SUM(rows), 0) AS r FROM segments")
            return (row?["n"] ?? 0, row?["b"] ?? 0, row?["r"] ?? 0)
        }
    }

    /// The dirty-mark time (wall-clock ms) of the oldest (org, hour) that began at or before `now`
    /// and still waits for a rollup, and how many such marks there are.
    public func oldestPendingRollup(now: Int64) throws -> (markedAt: Int64?, count: Int) {
        try writer.read { db in
            let row = try Row.fetchOne(
                db, sql: "SELECT MIN(marked_at) AS m, COUNT(*) AS n FROM dirty_hours WHERE hour_start <= ?", arguments: [now])
            return (row?["m"], row?["n"] ?? 0)
        }
    }
}

extension APIKeyRecord {
    /// A new key of `orgID`: its text (show it once, never stored) and the record to store (the
    /// key's SHA-256 and display prefix only). `tokentra keys create` and the tests issue keys here.
    public static func issue(
        orgID: String, name: String, scopes: [APIKeyScope], environment: APIKeys.Environment = .live, expiresAt: Int64? = nil,
        rateLimitMinute: Int64? = nil, rateLimitDay: Int64? = nil, now: Int64
    ) -> (key: String, record: APIKeyRecord) {
        let created = APIKeys.generate(environment: environment)
        let record = APIKeyRecord(
            id: APIKeys.newID(), orgID: orgID, name: name, prefix: created.prefix, keyHash: created.hash,
            scopes: scopes.map(\.rawValue).joined(separator: ","), createdAt: now, expiresAt: expiresAt,
            rateLimitMinute: rateLimitMinute, rateLimitDay: rateLimitDay, updatedAt: now)
        return (created.key, record)
    }
}
