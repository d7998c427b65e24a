import HTTPTypes
import Hummingbird
import Logging
import TokentraCore

/// Authenticates `Authorization: Bearer <key>`, checks the scope, and applies the key's rate
/// limits, in the order of the seed's ingest route: 401, 403, 429.
struct Authorizer: Sendable {
    let keys: APIKeyAuthenticator
    let limiter: RateLimiter
    let defaultLimits: RateLimiter.Limits
    let logger: Logger

    /// The outcome of the rate limiter, as response headers.
    struct LimitState: Sendable {
        var decision: RateLimiter.Decision
        var limits: RateLimiter.Limits

        var headers: HTTPFields {
            var h = HTTPFields()
            if let m = decision.remainingMinute {
                h[.rateLimitLimitMinute] = String(limits.perMinute)
                h[.rateLimitRemainingMinute] = String(m)
                h[.rateLimitResetMinute] = UTCTimestamp.format(decision.resetMinuteMs)
            }
            if let d = decision.remainingDay {
                h[.rateLimitLimitDay] = String(limits.perDay)
                h[.rateLimitRemainingDay] = String(d)
                h[.rateLimitResetDay] = UTCTimestamp.format(decision.resetDayMs)
            }
            return h
        }
    }

    /// The key is read from `Authorization: Bearer <key>` or, when that header is absent, `X-API-Key: <key>`.
    /// - Returns: The key and the rate-limit state (for the response headers).
    /// - Throws: ``APIError`` 401 `MISSING_AUTH`/`INVALID_API_KEY`/`KEY_REVOKED`/`KEY_EXPIRED`,
    ///   403 `INSUFFICIENT_SCOPE`, 429 `RATE_LIMIT_EXCEEDED`.
    func authorize(_ request: Request, scope: APIKeyScope, nowMs: Int64) throws -> (APIKeyInfo, LimitState) {
        let presented: Substring
        if let header = request.headers[.authorization] {
            let trimmed = header.drop { $0 == " " }
            guard trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { throw APIError.missingAuth() }
            presented = trimmed.dropFirst(7).drop { $0 == " " }
        } else if let apiKey = request.headers[.apiKey], !apiKey.isEmpty {
            // Token Trackr-style clients send the key in X-API-Key.
            presented = Substring(apiKey)
        } else {
            throw APIError.missingAuth()
        }
        return try authorize(key: { try keys.authenticate(presented, nowMs: nowMs) }, scope: scope, nowMs: nowMs)
    }

    /// Checks the key `lookup` finds (a presented key, or a session's key by its hash), its scope and rate limits.
    /// - Throws: ``APIError`` 401, 403 or 429 as ``authorize(_:scope:nowMs:)``.
    func authorize(key lookup: () throws -> APIKeyInfo, scope: APIKeyScope, nowMs: Int64) throws -> (APIKeyInfo, LimitState) {
        let key: APIKeyInfo
        do {
            key = try lookup()
        } catch let failure as APIKeyAuthenticator.Failure {
            switch failure {
            case .malformed: throw APIError.invalidKey()
            case .unknown(let prefix): throw APIError.unknownKey(prefix: prefix, dataDirectory: keys.dataDirectory)
            case .revoked(let at):
                throw APIError(.unauthorized, code: "KEY_REVOKED", message: "API key was revoked on \(UTCTimestamp.format(at))")
            case .expired(let at):
                throw APIError(.unauthorized, code: "KEY_EXPIRED", message: "API key expired on \(UTCTimestamp.format(at))")
            }
        }
        guard key.allows(scope) else {
            throw APIError(.forbidden, code: "INSUFFICIENT_SCOPE", message: "\(scope.rawValue) scope required")
        }
        let limits = RateLimiter.Limits(
            perMinute: key.rateLimitMinute ?? defaultLimits.perMinute, perDay: key.rateLimitDay ?? defaultLimits.perDay)
        let decision = limiter.admit(keyID: key.id, limits: limits, nowMs: nowMs)
        let state = LimitState(decision: decision, limits: limits)
        guard decision.allowed else {
            var headers = state.headers
            headers[.retryAfter] = String(decision.retryAfterSeconds)
            let resetMs = decision.exhausted == "day" ? decision.resetDayMs : decision.resetMinuteMs
            let reset = UTCTimestamp.format(resetMs)
            throw APIError(
                .tooManyRequests, code: "RATE_LIMIT_EXCEEDED",
                message: "Rate limit exceeded (\(decision.exhausted == "day" ? limits.perDay : limits.perMinute) requests per \(decision.exhausted ?? "minute")). Resets at \(reset)",
                extra: [("resetAt", JSONWriter.quoted(reset))], headers: headers)
        }
        return (key, state)
    }
}
