import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SegmentStore
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex
@Suite struct AuthTests {
    @Test func authErrors() async throws {
        let d = try await TestDaemon.start { $0.keyRefreshSeconds = 1 }
        let body = Payload.batch([Payload.event()])
        let missing = try await HTTP.ingest(d, key: nil, body: body)
        #expect(missing.status == 401)
        #expect(missing.errorCode == "MISSING_AUTH")

        let basic = try await HTTP.ingest(d, key: nil, body: body, headers: [("Authorization", "Basic dXNlcjpwYXNz")])
        #expect(basic.status == 401)
        #expect(basic.errorCode == "MISSING_AUTH")

        let malformed = try await HTTP.ingest(d, key: "not-a-key", body: body)
        #expect(malformed.status == 401)
        #expect(malformed.errorCode == "INVALID_API_KEY")

        let unknown = try await HTTP.ingest(d, key: "tt_live_" + String(repeating: "A", count: 40), body: body)
        #expect(unknown.status == 401)
        #expect(unknown.errorCode == "INVALID_API_KEY")
        // A well-formed key this directory does not hold says so, and names the directory searched.
        let dataDir = URL(fileURLWithPath: d.store.configuration.dataDirectory).standardizedFileURL.path
        let unknownMessage = (unknown.json["error"] as? [String: Any])?["message"] as? String
        #expect(unknownMessage == "Unknown API key tt_live_AAAA…: no key in the data directory \(dataDir) matches it. Keys belong to one data directory: create one with `tokentra keys create --data-dir \(dataDir) …` (the --data-dir the daemon was started with)")
        let malformedMessage = (malformed.json["error"] as? [String: Any])?["message"] as? String
        #expect(malformedMessage?.hasPrefix("Invalid API key. Expected a key of the form tt_live_") == true)

        let (readOnly, _) = try d.createKey(scopes: "usage:read")
        let scope = try await HTTP.ingest(d, key: readOnly, body: body)
        #expect(scope.status == 403)
        #expect(scope.errorCode == "INSUFFICIENT_SCOPE")

        let (admin, _) = try d.createKey(scopes: "admin")
        #expect(try await HTTP.ingest(d, key: admin, body: body).status == 200)
        let (testKey, _) = try d.createKey(test: true)
        #expect(testKey.hasPrefix("tt_test_"))
        #expect(try await HTTP.ingest(d, key: testKey, body: Payload.batch([Payload.event()])).status == 200)

        // Expired: the expiry passes while the key is cached.
        let (expiring, _) = try d.createKey(expiresAt: Int64(Date().timeIntervalSince1970 * 1000) + 4000)
        #expect(try await HTTP.ingest(d, key: expiring, body: Payload.batch([Payload.event()])).status == 200)
        try await Task.sleep(for: .milliseconds(4100))
        let expired = try await HTTP.ingest(d, key: expiring, body: body)
        #expect(expired.status == 401)
        #expect(expired.errorCode == "KEY_EXPIRED")

        // Revoked in the index (as `tokentra keys revoke` does from another process): takes effect
        // within auth.key_refresh_seconds.
        let (key, id) = try d.createKey()
        #expect(try await HTTP.ingest(d, key: key, body: Payload.batch([Payload.event()])).status == 200)
        try d.index.revokeAPIKey(id: id, at: Int64(Date().timeIntervalSince1970 * 1000))
        var revoked = try await HTTP.ingest(d, key: key, body: body)
        let deadline = Date().addingTimeInterval(5)
        while revoked.status == 200 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            revoked = try await HTTP.ingest(d, key: key, body: Payload.batch([Payload.event()]))
        }
        #expect(revoked.status == 401)
        #expect(revoked.errorCode == "KEY_REVOKED")
        #expect((revoked.json["error"] as? [String: Any])?["message"] as? String ?? "" != "")
        try await d.stop()
    }

    @Test func newKeyWorksImmediately() async throws {
        let d = try await TestDaemon.start { $0.keyRefreshSeconds = 3600 }
        // Prime the cache, then add a key behind the daemon's back: the miss triggers a re-read.
        _ = try await HTTP.ingest(d, key: nil, body: "{}")
        let (key, _) = try d.createKey()
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await HTTP.ingest(d, key: key, body: Payload.batch([Payload.event()])).status == 200)
        try await d.stop()
    }

    @Test func rateLimitHeadersAnd429() async throws {
        // The daemon's clock is pinned 30 s into the current minute, so the windows are deterministic.
        let real = Int64(Date().timeIntervalSince1970 * 1000)
        let pinned = real - real % 60_000 + 30_000
        let d = try await TestDaemon.start(wallClock: { pinned })
        let (key, _) = try d.createKey(rateMinute: 3, rateDay: 100)
        var remaining: [String] = []
        for _ in 0..<3 {
            let r = try await HTTP.ingest(d, key: key, body: Payload.batch([Payload.event()]))
            #expect(r.status == 200)
            remaining.append(r.header("X-RateLimit-Remaining-Minute") ?? "?")
            #expect(r.header("X-RateLimit-Limit-Minute") == "3")
        }
        #expect(remaining == ["2", "1", "0"])
        let limited = try await HTTP.ingest(d, key: key, body: Payload.batch([Payload.event()]))
        #expect(limited.status == 429)
        #expect(limited.errorCode == "RATE_LIMIT_EXCEEDED")
        #expect(limited.header("Retry-After") == "30")
        #expect(limited.header("X-RateLimit-Remaining-Minute") == "0")
        #expect(limited.header("X-RateLimit-Remaining-Day") == "97")
        let resetMinute = try #require(limited.header("X-RateLimit-Reset-Minute"))
        let resetDay = try #require(limited.header("X-RateLimit-Reset-Day"))
        #expect(parseTimestamp(resetMinute) == pinned + 30_000)
        #expect(parseTimestamp(resetDay).map { $0 % 86_400_000 == 0 && $0 > pinned } == true)
        #expect((limited.json["error"] as? [String: Any])?["resetAt"] as? String == resetMinute)

        // Another key is not affected; an unlimited key has no limit headers.
        let (unlimited, _) = try d.createKey(rateMinute: 0, rateDay: 0)
        let free = try await HTTP.ingest(d, key: unlimited, body: Payload.batch([Payload.event()]))
        #expect(free.status == 200)
        #expect(free.header("X-RateLimit-Remaining-Minute") == nil)
        // Defaults apply to keys without their own limits.
        let (plain, _) = try d.createKey()
        let defaults = try await HTTP.ingest(d, key: plain, body: Payload.batch([Payload.event()]))
        #expect(defaults.header("X-RateLimit-Limit-Minute") == String(TokentraConfiguration().rateLimitPerMinute))
        try await d.stop()
    }

    @Test func dailyLimit() {
        let limiter = RateLimiter()
        let limits = RateLimiter.Limits(perMinute: 0, perDay: 2)
        let day: Int64 = 1_795_000_000_000 - 1_795_000_000_000 % 86_400_000
        #expect(limiter.admit(keyID: "k", limits: limits, nowMs: day + 1000).allowed)
        #expect(limiter.admit(keyID: "k", limits: limits, nowMs: day + 70_000).remainingDay == 0)
        let refused = limiter.admit(keyID: "k", limits: limits, nowMs: day + 3_600_000)
        #expect(!refused.allowed)
        #expect(refused.exhausted == "day")
        #expect(refused.retryAfterSeconds == 23 * 3600)
        #expect(refused.resetDayMs == day + 86_400_000)
        #expect(limiter.admit(keyID: "k", limits: limits, nowMs: day + 86_400_000).allowed)
    }

    @Test func keyFormat() throws {
        let pattern = try Regex("^tt_(live|test)_[a-zA-Z0-9_-]{32,}$")
        var seen = Set<String>()
        for env in APIKeys.Environment.allCases {
            for _ in 0..<200 {
                let k = APIKeys.generate(environment: env)
                #expect(k.key.wholeMatch(of: pattern) != nil, "\(k.key)")
                #expect(APIKeys.isWellFormed(k.key))
                #expect(k.prefix == String(k.key.prefix(12)))
                #expect(k.hash == APIKeys.hash(k.key))
                #expect(k.hash.count == 32)
                seen.insert(k.key)
            }
        }
        #expect(seen.count == 400)
        #expect(!APIKeys.isWellFormed("tt_live_short"))
        #expect(!APIKeys.isWellFormed("tt_prod_" + String(repeating: "a", count: 40)))
        #expect(!APIKeys.isWellFormed("tt_live_" + String(repeating: "a", count: 39) + "!"))
        #expect(APIKeys.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!APIKeys.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!APIKeys.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(try APIKeyScope.parseList("sdk:write, usage:read") == [.sdkWrite, .usageRead])
        #expect(throws: APIKeyError.self) { try APIKeyScope.parseList("sdk:read") }
    }

    @Test func keysAreNeverLoggedOrStored() async throws {
        let d = try await TestDaemon.start()
        let (key, id) = try d.createKey()
        let record = try #require(try d.index.apiKey(id: id))
        #expect(record.keyHash == APIKeys.hash(key))
        #expect(record.prefix.count == 12)
        let sqlite = try Data(contentsOf: URL(fileURLWithPath: d.store.configuration.dataDirectory + "/index.sqlite"))
        let wal = (try? Data(contentsOf: URL(fileURLWithPath: d.store.configuration.dataDirectory + "/index.sqlite-wal"))) ?? Data()
        #expect(sqlite.range(of: Data(key.utf8)) == nil)
        #expect(wal.range(of: Data(key.utf8)) == nil)
        try await d.stop()
    }
}
