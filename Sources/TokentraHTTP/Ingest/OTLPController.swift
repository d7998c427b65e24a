import CoreMetrics
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SegmentStore
import TokentraCore

/// `POST /v1/traces`: the OTLP/HTTP traces receiver (protobuf or JSON, gzip or identity).
///
/// The same key auth (`sdk:write`), rate limit, body limits and durability as
/// `POST /api/v1/sdk/ingest` (``RequestBodyReader``, ``DurableIngest``): the 200 is sent only
/// after every stored span's event is in the fsync'd WAL. GenAI spans become events
/// (``GenAISpanMapper``), other spans are skipped and counted; spans that cannot be stored are
/// reported in `partial_success` while the good ones in the same request are kept. Errors follow
/// the OTLP/HTTP spec: a `google.rpc.Status` body in the request's encoding; 400 (malformed,
/// do not retry), 401/403, 413, 415, 429 and 503 with `Retry-After` (retryable; a full disk is
/// answered 503 here, not the SDK route's 507, so OTLP exporters retry).
struct OTLPController: Sendable {
    let mapper: GenAISpanMapper
    let horizon: IngestHorizon
    let authorizer: Authorizer
    let bodyReader: RequestBodyReader
    let durable: DurableIngest
    let metrics: TokentraMetrics
    let wallClock: @Sendable () -> Int64

    static let path = "/v1/traces"

    var routes: [RouteSpec] {
        [RouteSpec(path: Self.path, method: .post) { request, context in await self.export(request, context) }]
    }

    func export(_ request: Request, _ context: TokentraRequestContext) async -> Response {
        let started = ContinuousClock.now
        let contentType = request.headers[.contentType]
        let format = contentType.flatMap(OTLPFormat.init(contentType:))
        do {
            return try await handle(request, context, format: format, contentType: contentType, started: started)
        } catch let error as APIError {
            return Self.errorResponse(error, format: format ?? .json)
        } catch {
            durable.logger.error("OTLP export failed", metadata: ["error": "\(error)"])
            return Self.errorResponse(APIError.internalError(), format: format ?? .json)
        }
    }

    func handle(_ request: Request, _ context: TokentraRequestContext, format: OTLPFormat?, contentType: String?, started: ContinuousClock.Instant) async throws -> Response {
        let now = wallClock()
        let (key, limit) = try authorizer.authorize(request, scope: .sdkWrite, nowMs: now)
        var headers = limit.headers
        do {
            guard let format else {
                throw APIError(.unsupportedMediaType, code: "UNSUPPORTED_MEDIA_TYPE",
                               message: "Content-Type must be application/x-protobuf or application/json (got \(contentType.map { "'\($0.prefix(100))'" } ?? "none"))")
            }
            let body = try await bodyReader.read(request, context)
            let mapper = self.mapper
            let decoded: Result<OTLPDecodedBatch, OTLPDecodeError> = body.withUnsafeReadableBytes { raw in
                Result { () throws(OTLPDecodeError) in try mapper.decode(raw, format: format, org: key.orgID, nowMs: now) }
            }
            var batch: OTLPDecodedBatch
            switch decoded {
            case .success(let b): batch = b
            case .failure(let error):
                metrics.recordOTLPRequest("invalid")
                throw APIError(.badRequest, code: "INVALID_REQUEST",
                               message: "invalid OTLP \(format == .protobuf ? "protobuf" : "JSON") ExportTraceServiceRequest: \(error.message)")
            }
            let rules = horizon.rules(nowMs: now)
            var events = EventBatch()
            events.reserveCapacity(batch.events.count)
            for (i, e) in batch.events.enumerated() {
                if let error = rules.check(orgID: e.orgID, timestampMs: e.timestampMs, nowMs: now) {
                    let id = String(e.requestID.description.dropFirst("otel-".count))
                    batch.rejected.append(OTLPRejectedSpan(index: batch.eventSpanIndex[i], id: id, error: error))
                } else {
                    events.append(e)
                }
            }
            batch.rejected.sort { $0.index < $1.index }
            var stored = 0
            var duplicates = 0
            if !events.isEmpty {
                (stored, duplicates) = try await durable.store(events, keyID: key.id)
            }
            metrics.recordOTLPSpans(stored: stored, duplicates: duplicates, skipped: batch.skipped,
                                    rejectedCodes: batch.rejected.map(\.error.code.rawValue))
            metrics.recordOTLPRequest(batch.rejected.isEmpty ? "ok" : "partial")
            let elapsed = ContinuousClock.now - started
            metrics.ackDuration.recordNanoseconds(elapsed.nanoseconds)
            let reply = OTLPResponse.export(rejected: batch.rejected.count, message: OTLPResponse.rejectionMessage(batch.rejected), format: format)
            headers[.contentType] = format.contentType
            headers[.processingTime] = String(elapsed.nanoseconds / 1_000_000)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: reply)))
        } catch var error as APIError {
            for field in headers where error.headers[field.name] == nil { error.headers.append(field) }
            throw error
        }
    }

    /// An ``APIError`` as an OTLP error: the HTTP status (507 becomes a retryable 503), its
    /// headers, and a `google.rpc.Status` body with the matching gRPC code.
    static func errorResponse(_ error: APIError, format: OTLPFormat) -> Response {
        var status = error.status
        if status.code == 507 { status = .serviceUnavailable }
        let grpc: Int32
        switch status.code {
        case 400, 413, 415: grpc = 3  // INVALID_ARGUMENT
        case 401: grpc = 16  // UNAUTHENTICATED
        case 403: grpc = 7  // PERMISSION_DENIED
        case 408: grpc = 4  // DEADLINE_EXCEEDED
        case 429: grpc = 8  // RESOURCE_EXHAUSTED
        case 503: grpc = 14  // UNAVAILABLE
        default: grpc = 13  // INTERNAL
        }
        var headers = error.headers
        headers[.contentType] = format.contentType
        let body = OTLPResponse.status(code: grpc, message: "\(error.code): \(error.message)", format: format)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
