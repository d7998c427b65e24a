import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TokentraCore

/// The overview page at `GET /` and its sign-in (README "Overview page").
///
/// - `GET /`: the overview of the signed-in org, else the sign-in form.
/// - `POST /signin` (form field `key`): a `usage:read` (or `admin`) key starts a session: `303` to
///   `/` with the cookie `tokentra_session` (HttpOnly, SameSite=Strict, Path=/, 12 h). A wrong key
///   is the form again with the reason and `401` (`403` for a key without the scope, `429` when
///   its rate limit is used up).
/// - `GET /signin?token=T`: redeems a one-time sign-in link (from `POST /v1/signin-links`) the same way.
/// - `POST /signout`: ends the session and clears the cookie.
/// - `POST /v1/signin-links` (Bearer `usage:read`): a one-time link, valid 60 s, for a browser
///   that cannot be handed a cookie or a key (headless Chromium in the tests, a kiosk screen).
///
/// CSRF: the cookie is SameSite=Strict and the form POSTs must carry an `Origin` equal to the
/// request's own `http(s)://Host` (and no cross-site `Sec-Fetch-Site`); else `403`.
struct OverviewController: Sendable {
    static let cookieName = "tokentra_session"

    let authorizer: Authorizer
    let sessions: OverviewSessions
    let reporter: OverviewReporter
    let logger: Logger
    let wallClock: @Sendable () -> Int64
    /// Largest sign-in form body.
    var maxFormBytes = 4096
    var bodyTimeout: Duration = .seconds(10)

    var routes: [RouteSpec] {
        [
            RouteSpec(path: "/", method: .get) { r, _ in try await self.home(r) },
            RouteSpec(path: "/signin", method: .post) { r, c in try await self.signIn(r, c) },
            RouteSpec(path: "/signin", method: .get) { r, _ in try await self.redeem(r) },
            RouteSpec(path: "/signout", method: .post) { r, _ in self.signOut(r) },
            RouteSpec(path: "/v1/signin-links", method: .post) { r, _ in try self.issueLink(r) },
        ]
    }

    // MARK: Pages

    func home(_ request: Request) async throws -> Response {
        let now = wallClock()
        guard let token = Self.cookie(request), let grant = sessions.session(token, nowMs: now) else {
            return Self.html(.ok, OverviewPage.signIn(message: nil))
        }
        // The key behind the session must still be valid (a revoked key ends its sessions).
        do {
            _ = try authorizer.authorize(
                key: { try authorizer.keys.authenticate(prefix: grant.keyPrefix, hash: grant.keyHash, nowMs: now) },
                scope: .usageRead, nowMs: now)
        } catch let e as APIError {
            sessions.endSession(token)
            return Self.html(e.status, OverviewPage.signIn(message: "Your session ended: \(e.message)"), headers: Self.clearCookie)
        }
        do {
            return Self.html(.ok, OverviewPage.overview(try await reporter.report(orgID: grant.orgID, nowMs: now)))
        } catch {
            // An HTML page, not the JSON error body, for the browser; the cause goes to the log.
            logger.error("overview page failed", metadata: ["error.type": "\(String(reflecting: type(of: error)))", "error": "\(error)"])
            return Self.html(.internalServerError, OverviewPage.document(
                title: "tokentra: error", body: "<main><section><h2>The overview could not be computed</h2><p class=\"error\">"
                    + OverviewPage.escape("\(error)") + "</p><p><a href=\"/\">Try again</a></p></section></main>"))
        }
    }

    func signIn(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        if let refused = Self.crossOrigin(request) { return refused }
        let form = try await readForm(request, context)
        guard let key = form["key"]?.trimmingCharacters(in: .whitespaces), !key.isEmpty else {
            return Self.html(.unauthorized, OverviewPage.signIn(message: "Enter an API key."))
        }
        let now = wallClock()
        let info: APIKeyInfo
        do {
            (info, _) = try authorizer.authorize(key: { try authorizer.keys.authenticate(Substring(key), nowMs: now) }, scope: .usageRead, nowMs: now)
        } catch let e as APIError {
            let message = e.code == "INSUFFICIENT_SCOPE"
                ? "This key cannot read usage: it needs the usage:read (or admin) scope." : "Sign-in failed: \(e.message)"
            return Self.html(e.status, OverviewPage.signIn(message: message), headers: e.headers)
        }
        return startSession(.init(orgID: info.orgID, keyPrefix: info.prefix, keyHash: info.keyHash), nowMs: now)
    }

    func redeem(_ request: Request) async throws -> Response {
        let now = wallClock()
        guard let token = request.uri.queryParameters["token"], let grant = sessions.redeemLink(token, nowMs: now) else {
            return Self.html(.unauthorized, OverviewPage.signIn(message: "This sign-in link is invalid, expired or already used."))
        }
        return startSession(grant, nowMs: now)
    }

    func startSession(_ grant: OverviewSessions.Grant, nowMs: Int64) -> Response {
        let (token, _) = sessions.createSession(grant, nowMs: nowMs)
        var headers = HTTPFields()
        headers[.setCookie] = "\(Self.cookieName)=\(token); Path=/; Max-Age=\(sessions.sessionLifetimeMs / 1000); HttpOnly; SameSite=Strict"
        headers[.location] = "/"
        return Self.html(.seeOther, "<!DOCTYPE html><title>Signed in</title><a href=\"/\">Continue</a>", headers: headers)
    }

    func signOut(_ request: Request) -> Response {
        if let refused = Self.crossOrigin(request) { return refused }
        if let token = Self.cookie(request) { sessions.endSession(token) }
        var headers = Self.clearCookie
        headers[.location] = "/"
        return Self.html(.seeOther, "<!DOCTYPE html><title>Signed out</title><a href=\"/\">Sign in</a>", headers: headers)
    }

    /// `POST /v1/signin-links`: `{"data":{"path":"/signin?token=…","expires_at":…}}`.
    func issueLink(_ request: Request) throws -> Response {
        let now = wallClock()
        let (key, limit) = try authorizer.authorize(request, scope: .usageRead, nowMs: now)
        let (token, expires) = sessions.createLink(.init(orgID: key.orgID, keyPrefix: key.prefix, keyHash: key.keyHash), nowMs: now)
        var headers = limit.headers
        headers[.cacheControl] = "no-store"
        return .json(.created, headers: headers) { w in
            w.object { o in
                o.field("data", object: { d in
                    d.field("path", "/signin?token=" + token)
                    d.field("expires_at", UTCTimestamp.format(expires))
                })
            }
        }
    }

    // MARK: HTTP details

    static let clearCookie: HTTPFields = [.setCookie: "\(cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"]

    /// An HTML response with the page's security headers.
    static func html(_ status: HTTPResponse.Status, _ body: String, headers extra: HTTPFields = [:]) -> Response {
        var h = extra
        h[.contentType] = "text/html; charset=utf-8"
        h[.cacheControl] = "no-store"
        h[HTTPField.Name("Content-Security-Policy")!] = OverviewPage.contentSecurityPolicy
        h[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        h[HTTPField.Name("X-Frame-Options")!] = "DENY"
        h[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The session token from `Cookie:` (the first `tokentra_session=` of any Cookie header).
    static func cookie(_ request: Request) -> Substring? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let p = part.drop { $0 == " " }
                if p.hasPrefix(cookieName + "=") { return p.dropFirst(cookieName.count + 1) }
            }
        }
        return nil
    }

    /// `403` unless the request is same-origin: `Origin` must be present and equal to
    /// `http://HOST` or `https://HOST` of the request's `Host`, and `Sec-Fetch-Site` (when sent)
    /// `same-origin` or `none`.
    static func crossOrigin(_ request: Request) -> Response? {
        func refuse(_ why: String) -> Response {
            html(.forbidden, OverviewPage.signIn(message: "Request refused: \(why). Sign in from this server's own page."))
        }
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
            return refuse("it came from another site (Sec-Fetch-Site: \(site))")
        }
        guard let origin = request.headers[.origin] else { return refuse("no Origin header") }
        guard let host = request.head.authority, !host.isEmpty,
              origin == "http://" + host || origin == "https://" + host
        else { return refuse("its Origin (\(origin.prefix(200))) is not this server") }
        return nil
    }

    /// Reads an `application/x-www-form-urlencoded` body of up to ``maxFormBytes``.
    func readForm(_ request: Request, _ context: TokentraRequestContext) async throws -> [String: String] {
        guard let collected = try await BoundedBody.read(request, context, limit: maxFormBytes, timeout: bodyTimeout) else {
            throw APIError(.contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: "the sign-in form exceeds \(maxFormBytes) bytes",
                           headers: [.connection: "close"])
        }
        return Self.parseForm(String(buffer: collected))
    }

    /// `a=1&b=x+y%21` → `["a": "1", "b": "x y!"]` (the first value of a repeated name wins).
    static func parseForm(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String? { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let k = decode(kv[0]), out[k] == nil else { continue }
            out[k] = kv.count > 1 ? decode(kv[1]) ?? "" : ""
        }
        return out
    }
}
