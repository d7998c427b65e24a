import Logging
import Synchronization
import TokentraCore
import UsageIndex

/// Resolves `Authorization: Bearer <key>` to an ``APIKeyInfo``.
///
/// Keys live in the SQLite index (`api_keys`), written by `tokentra keys` in another process. The
/// authenticator keeps them in memory, grouped by their 12-character prefix, and re-reads the
/// table when the cached copy is older than ``refreshInterval``; an unknown prefix is looked up in
/// the index at once, so a new key works immediately and a revoked key stops working within
/// ``refreshInterval``. A presented key is hashed (SHA-256) and compared with the stored hashes of
/// its prefix group in constant time. Keys are never logged.
public final class APIKeyAuthenticator: Sendable {
    /// Why a key was refused.
    public enum Failure: Error, Sendable, Equatable {
        /// Not of the form `tt_live_…`/`tt_test_…`.
        case malformed
        /// Well formed, but no key of this data directory's index matches it.
        case unknown(prefix: String)
        case revoked(at: Int64)
        case expired(at: Int64)
    }

    struct Snapshot {
        var byPrefix: [String: [APIKeyInfo]] = [:]
        var loadedAtMs: Int64 = 0
        var reloading = false
    }

    let index: IndexDatabase
    let logger: Logger
    /// How old the in-memory copy may get before it is re-read, in ms.
    public let refreshInterval: Int64
    /// The data directory whose index holds the keys (named in the unknown-key error).
    public let dataDirectory: String
    private let snapshot = Mutex(Snapshot())

    public init(index: IndexDatabase, refreshIntervalMs: Int64 = 2000, dataDirectory: String = "", logger: Logger) {
        self.index = index
        self.dataDirectory = dataDirectory
        self.refreshInterval = refreshIntervalMs
        self.logger = logger
    }

    /// Re-reads every key from the index.
    public func reload(nowMs: Int64) throws {
        let records: [APIKeyRecord]
        do {
            records = try index.apiKeys()
        } catch {
            snapshot.withLock { $0.reloading = false }
            throw error
        }
        var byPrefix: [String: [APIKeyInfo]] = [:]
        for r in records { byPrefix[r.prefix, default: []].append(APIKeyInfo(r)) }
        snapshot.withLock {
            $0.byPrefix = byPrefix
            $0.loadedAtMs = nowMs
            $0.reloading = false
        }
    }

    /// The key for the text after `Bearer `.
    /// - Throws: ``Failure`` (invalid, revoked, expired), or a database error while re-reading.
    public func authenticate(_ presented: Substring, nowMs: Int64) throws -> APIKeyInfo {
        guard APIKeys.isWellFormed(presented) else { throw Failure.malformed }
        return try authenticate(prefix: APIKeys.prefix(of: presented), hash: APIKeys.hash(presented), nowMs: nowMs)
    }

    /// The key with this prefix and SHA-256 hash, as it stands now (revoked or expired keys throw):
    /// how a signed-in overview session, which keeps the hash and never the key, is re-checked.
    /// - Throws: ``Failure`` (unknown, revoked, expired), or a database error while re-reading.
    public func authenticate(prefix: String, hash: [UInt8], nowMs: Int64) throws -> APIKeyInfo {
        // One caller re-reads a stale copy; the others go on with it meanwhile.
        let (stale, found) = snapshot.withLock { s in
            let stale = !s.reloading && nowMs - s.loadedAtMs >= refreshInterval
            if stale { s.reloading = true }
            return (stale, Self.match(s.byPrefix[prefix], hash))
        }
        var key = found
        if stale {
            try reload(nowMs: nowMs)
            key = snapshot.withLock { Self.match($0.byPrefix[prefix], hash) }
        }
        if key == nil {
            // A key created after the last refresh: look its prefix up (one indexed read) and cache it.
            let fresh = try index.apiKeys(prefix: prefix).map(APIKeyInfo.init)
            if !fresh.isEmpty {
                snapshot.withLock { $0.byPrefix[prefix] = fresh }
                key = Self.match(fresh, hash)
            }
        }
        guard let key else { throw Failure.unknown(prefix: prefix) }
        if let revoked = key.revokedAt, revoked <= nowMs { throw Failure.revoked(at: revoked) }
        if let expires = key.expiresAt, expires <= nowMs { throw Failure.expired(at: expires) }
        return key
    }

    /// Compares `hash` with every candidate (all of them, so the time does not depend on which matched).
    static func match(_ candidates: [APIKeyInfo]?, _ hash: [UInt8]) -> APIKeyInfo? {
        guard let candidates else { return nil }
        var found: APIKeyInfo?
        for c in candidates where APIKeys.constantTimeEqual(c.keyHash, hash) { found = c }
        return found
    }
}
