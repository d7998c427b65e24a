import Alerts
import HTTPTypes
import Hummingbird
import NIOCore
import TokentraCore

/// Shared request handling of the management API (`/v1/budgets`, `/v1/alerts`, `/v1/webhooks`).
struct ManagementSupport: Sendable {
    let authorizer: Authorizer
    let wallClock: @Sendable () -> Int64
    /// Largest accepted body (64 KiB: a definition is a few hundred bytes).
    var maxBodyBytes = 64 << 10
    var bodyTimeout: Duration = .seconds(10)

    /// Authorizes reads (`usage:read` or `admin`) or writes (`admin`).
    func authorize(_ request: Request, write: Bool) throws -> (APIKeyInfo, Authorizer.LimitState) {
        try authorizer.authorize(request, scope: write ? .admin : .usageRead, nowMs: wallClock())
    }

    /// Reads and parses a JSON body (413 above the limit, 408 when it does not arrive, 400 when malformed).
    ///
    /// A body over the limit (say 10 MB) is `413 PAYLOAD_TOO_LARGE` with `error.field = "body"`
    /// and the limit in the message: the whole body is refused before any field is looked at. A
    /// field too long inside a body under the limit (a 60 KB `name`) is `400 VALIDATION_ERROR`
    /// naming that field.
    func json(_ request: Request, _ context: TokentraRequestContext) async throws -> JSONValue {
        guard let collected = try await BoundedBody.read(request, context, limit: maxBodyBytes, timeout: bodyTimeout) else {
            throw APIError(.contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: "request body exceeds the limit of \(maxBodyBytes) bytes",
                           extra: [("field", JSONWriter.quoted("body")), ("limit_bytes", String(maxBodyBytes))], headers: [.connection: "close"])
        }
        guard collected.readableBytes > 0 else { throw APIError(.badRequest, code: "INVALID_REQUEST", message: "a JSON object body is required") }
        do {
            return try collected.withUnsafeReadableBytes { raw in
                try JSONValue.parse(UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: raw.count))
            }
        } catch {
            throw APIError(.badRequest, code: "INVALID_REQUEST", message: "malformed JSON: \(error)")
        }
    }

    static func invalid(_ e: FieldError, headers: HTTPFields = [:]) -> APIError {
        APIError(.badRequest, code: "VALIDATION_ERROR", message: e.message, extra: [("field", JSONWriter.quoted(e.field))], headers: headers)
    }

    static func notFound(_ what: String, _ id: String) -> APIError {
        APIError(.notFound, code: "NOT_FOUND", message: "no \(what) '\(id.prefix(100))' in this organization")
    }

    /// Runs `work` with field errors mapped to 400s.
    static func validating<T>(_ headers: HTTPFields = [:], _ work: () throws -> T) throws -> T {
        do {
            return try work()
        } catch let e as FieldError {
            throw invalid(e, headers: headers)
        }
    }

    /// The `limit` query parameter (1...1000, default 100).
    static func limit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters["limit"].map(String.init) else { return 100 }
        guard let n = Int(text), n >= 1, n <= 1000 else {
            throw APIError(.badRequest, code: "INVALID_PARAMETER", message: "limit must be an integer from 1 to 1000", extra: [("parameter", JSONWriter.quoted("limit"))])
        }
        return n
    }
}

extension Response {
    /// A JSON response written by ``JSONWriter``.
    static func json(_ status: HTTPResponse.Status, headers: HTTPFields = [:], _ body: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter()
        body(&w)
        return .json(status, w.text, headers: headers)
    }
}
