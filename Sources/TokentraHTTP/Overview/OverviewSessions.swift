import Crypto
import Foundation
import Synchronization

/// Signed-in sessions of the overview page (`GET /`) and one-time sign-in links, in memory.
///
/// A session is created by signing in with a `usage:read` key (the form at `GET /`, or a one-time
/// link issued by `POST /v1/signin-links`). Its token is 32 bytes from
/// `SystemRandomNumberGenerator` (the kernel's CSPRNG), base64url-encoded (43 characters), and is
/// the only thing the browser holds (an HttpOnly, SameSite=Strict cookie). The server keeps the
/// SHA-256 digest of each token, never the token and never the API key: a session remembers the
/// key's prefix and stored hash, so every page view re-checks the key (revoking it ends its
/// sessions). Sessions expire after ``sessionLifetimeMs``; links after ``linkLifetimeMs`` or on
/// first use. A restart signs everybody out.
final class OverviewSessions: Sendable {
    /// What a session (or a link) signs in as.
    struct Grant: Sendable, Equatable {
        var orgID: String
        var keyPrefix: String
        var keyHash: [UInt8]
    }

    private struct Entry {
        var grant: Grant
        var expiresAtMs: Int64
    }

    private struct State {
        var sessions: [[UInt8]: Entry] = [:]
        var links: [[UInt8]: Entry] = [:]
    }

    /// How long a session lasts (12 hours).
    let sessionLifetimeMs: Int64
    /// How long a sign-in link can be redeemed (60 s), once.
    let linkLifetimeMs: Int64
    /// Most sessions (and, separately, links) held; beyond it the ones closest to expiry go first.
    let capacity: Int
    private let state = Mutex(State())

    init(sessionLifetimeMs: Int64 = 12 * 3_600_000, linkLifetimeMs: Int64 = 60_000, capacity: Int = 10_000) {
        self.sessionLifetimeMs = sessionLifetimeMs
        self.linkLifetimeMs = linkLifetimeMs
        self.capacity = capacity
    }

    /// A fresh opaque token: 256 random bits, base64url without padding.
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for _ in 0..<4 {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether `token` has the shape ``newToken()`` makes (43 base64url characters).
    static func isWellFormed(_ token: some StringProtocol) -> Bool {
        token.utf8.count == 43 && token.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
        }
    }

    static func digest(_ token: some StringProtocol) -> [UInt8] { Array(SHA256.hash(data: Array(token.utf8))) }

    /// Starts a session; returns its token and when it expires.
    func createSession(_ grant: Grant, nowMs: Int64) -> (token: String, expiresAtMs: Int64) {
        let token = Self.newToken()
        let expires = nowMs + sessionLifetimeMs
        state.withLock { s in Self.insert(&s.sessions, Self.digest(token), Entry(grant: grant, expiresAtMs: expires), nowMs: nowMs, capacity: capacity) }
        return (token, expires)
    }

    /// The grant of a live session, `nil` for an unknown, malformed or expired token.
    func session(_ token: some StringProtocol, nowMs: Int64) -> Grant? {
        guard Self.isWellFormed(token) else { return nil }
        let d = Self.digest(token)
        return state.withLock { s in
            guard let e = s.sessions[d] else { return nil }
            guard e.expiresAtMs > nowMs else {
                s.sessions[d] = nil
                return nil
            }
            return e.grant
        }
    }

    /// Ends a session (signing out); unknown tokens are ignored.
    func endSession(_ token: some StringProtocol) {
        guard Self.isWellFormed(token) else { return }
        let d = Self.digest(token)
        _ = state.withLock { $0.sessions.removeValue(forKey: d) }
    }

    /// Issues a one-time sign-in link token.
    func createLink(_ grant: Grant, nowMs: Int64) -> (token: String, expiresAtMs: Int64) {
        let token = Self.newToken()
        let expires = nowMs + linkLifetimeMs
        state.withLock { s in Self.insert(&s.links, Self.digest(token), Entry(grant: grant, expiresAtMs: expires), nowMs: nowMs, capacity: capacity) }
        return (token, expires)
    }

    /// Redeems a link token: its grant the first time, before it expires; `nil` afterwards.
    func redeemLink(_ token: some StringProtocol, nowMs: Int64) -> Grant? {
        guard Self.isWellFormed(token) else { return nil }
        let d = Self.digest(token)
        return state.withLock { s in
            guard let e = s.links.removeValue(forKey: d), e.expiresAtMs > nowMs else { return nil }
            return e.grant
        }
    }

    /// Live sessions (for tests and the README's memory note).
    func sessionCount(nowMs: Int64) -> Int { state.withLock { s in s.sessions.values.count { $0.expiresAtMs > nowMs } } }

    private static func insert(_ table: inout [[UInt8]: Entry], _ digest: [UInt8], _ entry: Entry, nowMs: Int64, capacity: Int) {
        if table.count >= capacity {
            table = table.filter { $0.value.expiresAtMs > nowMs }
            while table.count >= capacity, let soonest = table.min(by: { $0.value.expiresAtMs < $1.value.expiresAtMs }) {
                table[soonest.key] = nil
            }
        }
        table[digest] = entry
    }
}
