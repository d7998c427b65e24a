import HTTPTypes
import Hummingbird
import NIOCore
import TokentraCore

/// An error the HTTP API returns to the client: a status, a machine-readable code and a message,
/// rendered as `{"error":{"code":...,"message":...}}` (plus `details` for `VALIDATION_ERROR`).
///
/// ```swift
/// throw APIError(.unauthorized, code: "MISSING_AUTH", message: "Authorization header required")
/// ```
public struct APIError: HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    /// The stable error code (`INVALID_API_KEY`, `BATCH_TOO_LARGE`, ...).
    public var code: String
    /// A human-readable explanation.
    public var message: String
    /// Extra members of the `error` object: names and JSON values written by a ``JSONWriter``
    /// (`("details", "[...]")`).
    public var extra: [(name: String, json: String)]
    /// Extra response headers (`Retry-After`, `Allow`, rate-limit headers).
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, extra: [(name: String, json: String)] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// The JSON body of this error.
    public var body: String {
        var w = JSONWriter()
        w.object { o in
            o.field("error", object: { e in
                e.field("code", code)
                e.field("message", message)
                for (name, json) in extra { e.field(name, raw: json) }
            })
        }
        return w.text
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    /// The response for this error.
    public func response() -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

extension APIError {
    static func missingAuth() -> APIError {
        APIError(.unauthorized, code: "MISSING_AUTH", message: "Authorization header required (Authorization: Bearer <api key>)")
    }
    static func invalidKey() -> APIError {
        APIError(.unauthorized, code: "INVALID_API_KEY", message: "Invalid API key. Expected a key of the form tt_live_... or tt_test_... created with `tokentra keys create`")
    }
    /// A well-formed key that this daemon's data directory does not hold: usually a key created
    /// with `tokentra keys create --data-dir` for another directory than the one `serve` uses.
    static func unknownKey(prefix: String, dataDirectory: String) -> APIError {
        let directory = dataDirectory.isEmpty ? "this daemon's data directory" : "the data directory \(dataDirectory)"
        return APIError(
            .unauthorized, code: "INVALID_API_KEY",
            message: "Unknown API key \(prefix)…: no key in \(directory) matches it. Keys belong to one data directory: create one with `tokentra keys create --data-dir \(dataDirectory.isEmpty ? "DIR" : dataDirectory) …` (the --data-dir the daemon was started with)")
    }
    static func internalError() -> APIError {
        APIError(.internalServerError, code: "INTERNAL_ERROR", message: "Internal server error")
    }
}
