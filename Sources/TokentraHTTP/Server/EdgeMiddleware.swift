import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// One registered endpoint: path, method and handler. The list of specs is the route table that
/// `/schema/openapi.yaml` is checked against, and the source of `405 Allow` headers.
public struct RouteSpec: Sendable {
    public var path: String
    public var method: HTTPRequest.Method
    let handler: @Sendable (Request, TokentraRequestContext) async throws -> Response

    init(path: String, method: HTTPRequest.Method, handler: @escaping @Sendable (Request, TokentraRequestContext) async throws -> Response) {
        self.path = path
        self.method = method
        self.handler = handler
    }
}

/// The HTTP edge: maps every error to `{"error":{"code","message"}}` once (404 and 405
/// included; anything that is not an ``APIError`` becomes a logged 500), and counts requests by
/// route, method and status.
struct EdgeMiddleware: RouterMiddleware {
    typealias Context = TokentraRequestContext
    /// Methods by path, for 405.
    let methods: [String: [String]]
    let metrics: TokentraMetrics
    let logger: Logger

    init(routes: [RouteSpec], metrics: TokentraMetrics, logger: Logger) {
        var methods: [String: [String]] = [:]
        for r in routes { methods[r.path, default: []].append(r.method.rawValue) }
        self.methods = methods
        self.metrics = metrics
        self.logger = logger
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response()
        } catch let error as HTTPError {
            response = map(error, request).response()
        } catch {
            logger.error("request failed", metadata: [
                "error.type": "\(String(reflecting: type(of: error)))", "error": "\(error)",
                "http.method": "\(request.method.rawValue)", "http.path": "\(request.uri.path)",
            ])
            response = APIError.internalError().response()
        }
        var route = context.endpointPath ?? "unmatched"
        if route == "NotFound" { route = "unmatched" }
        metrics.recordHTTP(route: route, method: request.method.rawValue, status: response.status.code,
                           nanoseconds: UInt64((ContinuousClock.now - started).nanoseconds))
        return response
    }

    /// The methods of a route with `{parameter}` segments matching `path` (`/v1/budgets/{budget_id}`).
    func parameterized(_ path: String) -> [String]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for (pattern, allowed) in methods where pattern.contains("{") {
            let p = pattern.split(separator: "/", omittingEmptySubsequences: false)
            guard p.count == parts.count else { continue }
            if zip(p, parts).allSatisfy({ $0.hasPrefix("{") ? !$1.isEmpty : $0 == $1 }) { return allowed }
        }
        return nil
    }

    func map(_ error: HTTPError, _ request: Request) -> APIError {
        let path = request.uri.path
        switch error.status {
        case .notFound:
            if let allowed = methods[path] ?? methods[path.hasSuffix("/") ? String(path.dropLast()) : path + "/"] ?? parameterized(path) {
                return APIError(.methodNotAllowed, code: "METHOD_NOT_ALLOWED",
                                message: "\(request.method.rawValue) is not allowed on \(path) (allowed: \(allowed.joined(separator: ", ")))",
                                headers: [.allow: allowed.joined(separator: ", ")])
            }
            return APIError(.notFound, code: "NOT_FOUND", message: "No endpoint \(request.method.rawValue) \(path)")
        case .contentTooLarge:
            return APIError(.contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: error.body ?? "request body too large")
        default:
            let code = error.status.reasonPhrase.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
            return APIError(error.status, code: String(code), message: error.body ?? error.status.reasonPhrase)
        }
    }
}
