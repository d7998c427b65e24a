import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SegmentStore
import TokentraCore

/// Limits of the ingest endpoint.
public struct IngestSettings: Sendable {
    /// Events per request (`BATCH_TOO_LARGE` above).
    public var maxBatchEvents = 100
    /// Body bytes as sent (413 above).
    public var maxBodyBytes = 1 << 20
    /// Body bytes after gzip decompression (413 above).
    public var maxDecompressedBytes = 8 << 20
    /// The whole body must arrive within this time (408).
    public var bodyTimeout: TimeAmount = .seconds(10)
    /// Requests per key when the key has no limits of its own.
    public var defaultLimits = RateLimiter.Limits(perMinute: 6_000, perDay: 1_000_000)
    /// After a 413, at most this many more body bytes are read and discarded (so the client can
    /// read the response) before the connection is closed.
    public var maxDrainBytes = 16 << 20

    public init() {}
}

/// `POST /api/v1/sdk/ingest` (seed section 13.1) and `GET /api/v1/sdk/ingest`.
///
/// The response to a POST is sent only after every accepted event is durable (the store's
/// `ingest` returned, so the WAL record is fsync'd); a failure to store answers 507 (disk full) or
/// 500, never 200.
struct IngestController: Sendable {
    let store: SegmentStore
    let decoder: EventDecoder
    let horizon: IngestHorizon
    let authorizer: Authorizer
    let state: DaemonState
    let metrics: TokentraMetrics
    let settings: IngestSettings
    let logger: Logger
    let serverVersion: String
    let wallClock: @Sendable () -> Int64

    var bodyReader: RequestBodyReader { RequestBodyReader(settings: settings) }
    var durable: DurableIngest { DurableIngest(store: store, state: state, metrics: metrics, logger: logger, wallClock: wallClock) }

    /// The ingest API version reported by `GET /api/v1/sdk/ingest` (the seed's contract).
    static let apiVersion = "1.0"

    var routes: [RouteSpec] {
        [
            RouteSpec(path: "/api/v1/sdk/ingest", method: .post) { request, context in try await self.ingest(request, context) },
            RouteSpec(path: "/api/v1/sdk/ingest", method: .get) { _, _ in self.health() },
        ]
    }

    func health() -> Response {
        let now = wallClock()
        var w = JSONWriter()
        w.object {
            $0.field("status", "ok")
            $0.field("version", Self.apiVersion)
            $0.field("server_version", serverVersion)
            $0.field("timestamp", UTCTimestamp.format(now))
        }
        return Response.json(.ok, w.text)
    }

    func ingest(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let now = wallClock()
        let (key, limit) = try authorizer.authorize(request, scope: .sdkWrite, nowMs: now)
        var headers = limit.headers
        do {
            let body = try await bodyReader.read(request, context)
            return try await process(body: body, key: key, now: now, started: started, headers: &headers)
        } catch var error as APIError {
            for field in headers where error.headers[field.name] == nil { error.headers.append(field) }
            throw error
        }
    }

    func process(body: ByteBuffer, key: APIKeyInfo, now: Int64, started: ContinuousClock.Instant, headers: inout HTTPFields) async throws -> Response {
        struct Failure {
            var index: Int
            var requestID: String?
            var error: EventError
        }
        let maxEvents = settings.maxBatchEvents
        let decoder = self.decoder
        let org = OrgPolicy.fixed(key.orgID)
        let decoded: Result<(EventBatch, [Failure]), APIError> = body.withUnsafeReadableBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            switch EventInput.batchBody(bytes, maxEvents: maxEvents) {
            case .failure(.invalidJSON(let message)):
                return .failure(APIError(.badRequest, code: "INVALID_REQUEST", message: message))
            case .failure(.missingEvents):
                return .failure(APIError(.badRequest, code: "INVALID_REQUEST", message: "events array required: the body must be {\"events\":[...]}"))
            case .failure(.tooManyEvents(let count, let limit)):
                return .failure(APIError(.badRequest, code: "BATCH_TOO_LARGE", message: "Maximum \(limit) events per batch (got \(count))"))
            case .success(let ranges):
                var events = EventBatch()
                events.reserveCapacity(ranges.count)
                var failures: [Failure] = []
                let rules = horizon.rules(nowMs: now)  // read once per request, not per event
                for (i, range) in ranges.enumerated() {
                    if let f = decoder.decode(UnsafeBufferPointer(rebasing: bytes[range]), org: org, nowMs: now, into: &events) {
                        failures.append(Failure(index: i, requestID: f.requestID, error: f.error))
                    } else if let f = events.checkLast(rules, nowMs: now) {
                        failures.append(Failure(index: i, requestID: f.requestID, error: f.error))
                    }
                }
                return .success((events, failures))
            }
        }
        let (events, failures) = try decoded.get()
        let writeErrors: (inout JSONWriter) -> Void = { w in
            w.array { a in
                for f in failures {
                    a.object { o in
                        o.field("index", f.index)
                        o.field("request_id", f.requestID)
                        o.field("code", f.error.code.rawValue)
                        o.field("message", f.error.message)
                        if let field = f.error.field { o.field("field", field) }
                    }
                }
            }
        }
        if events.isEmpty && !failures.isEmpty {
            metrics.recordBatch(size: failures.count, stored: 0, duplicates: 0, rejectedCodes: failures.map(\.error.code.rawValue))
            throw APIError(.badRequest, code: "VALIDATION_ERROR", message: "All events failed validation", extra: [("details", { var w = JSONWriter(); writeErrors(&w); return w.text }())])
        }
        var stored = 0
        var duplicates = 0
        if !events.isEmpty {
            (stored, duplicates) = try await durable.store(events, keyID: key.id)
        }
        metrics.recordBatch(size: events.count + failures.count, stored: stored, duplicates: duplicates,
                            rejectedCodes: failures.map(\.error.code.rawValue))
        let elapsed = ContinuousClock.now - started
        metrics.ackDuration.recordNanoseconds(elapsed.nanoseconds)
        var w = JSONWriter()
        w.object { o in
            o.field("success", true)
            o.field("processed", stored)
            o.field("failed", failures.count)
            o.field("duplicates", duplicates)
            o.key("errors")
            writeErrors(&o)
        }
        let out = w.text
        headers[.processingTime] = String(elapsed.nanoseconds / 1_000_000)
        return Response.json(.ok, out, headers: headers)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let c = components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}

extension HTTPField.Name {
    static let processingTime = HTTPField.Name("X-Processing-Time-Ms")!
    static let apiKey = HTTPField.Name("X-API-Key")!
    static let rateLimitRemainingMinute = HTTPField.Name("X-RateLimit-Remaining-Minute")!
    static let rateLimitRemainingDay = HTTPField.Name("X-RateLimit-Remaining-Day")!
    static let rateLimitLimitMinute = HTTPField.Name("X-RateLimit-Limit-Minute")!
    static let rateLimitLimitDay = HTTPField.Name("X-RateLimit-Limit-Day")!
    static let rateLimitResetMinute = HTTPField.Name("X-RateLimit-Reset-Minute")!
    static let rateLimitResetDay = HTTPField.Name("X-RateLimit-Reset-Day")!
}

extension Response {
    static func json(_ status: HTTPResponse.Status, _ body: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
