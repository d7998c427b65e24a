import CoreMetrics
import Foundation
import Hummingbird
import Logging
import NIOCore
import SegmentStore
import TokentraCore

/// Reads a request body for the ingest routes (SDK and OTLP): bounded in bytes as sent and after
/// gzip inflation (413), bounded in time (408), `Content-Encoding` gzip or identity (else 415).
struct RequestBodyReader: Sendable {
    let settings: IngestSettings

    /// Reads the whole body (bounded in size and time) and inflates it when gzip-encoded.
    func read(_ request: Request, _ context: TokentraRequestContext) async throws -> ByteBuffer {
        var gzip = false
        if let encoding = request.headers[.contentEncoding]?.lowercased().trimmingCharacters(in: .whitespaces), !encoding.isEmpty {
            switch encoding {
            case "gzip", "x-gzip": gzip = true
            case "identity": break
            default:
                throw APIError(.unsupportedMediaType, code: "UNSUPPORTED_ENCODING",
                               message: "Content-Encoding '\(encoding)' is not supported (use gzip or identity)")
            }
        }
        let deadline = BodyDeadline(channel: context.channel, timeout: settings.bodyTimeout)
        let limit = settings.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            try await drain(request.body, deadline: deadline)
            throw tooLarge("request body of \(declared) bytes exceeds the limit of \(limit) bytes")
        }
        var collected = ByteBuffer()
        var iterator = request.body.makeAsyncIterator()
        do {
            while let chunk = try await iterator.next() {
                if collected.readableBytes + chunk.readableBytes > limit {
                    try await drain(iterator, deadline: deadline)
                    throw tooLarge("request body exceeds the limit of \(limit) bytes")
                }
                var chunk = chunk
                collected.writeBuffer(&chunk)
            }
        } catch is BodyTimeoutError {
            throw APIError(.requestTimeout, code: "REQUEST_TIMEOUT",
                           message: "request body not received within \(settings.bodyTimeout.nanoseconds / 1_000_000_000) s",
                           headers: [.connection: "close"])
        }
        deadline.disarm()
        guard gzip else { return collected }
        do {
            let inflated = try collected.withUnsafeReadableBytes { raw throws(Gzip.Failure) in
                try Gzip.decompress(raw, limit: settings.maxDecompressedBytes)
            }
            return ByteBuffer(bytes: inflated)
        } catch .tooLarge(let limit) {
            throw tooLarge("decompressed request body exceeds the limit of \(limit) bytes")
        } catch .corrupt(let message) {
            throw APIError(.badRequest, code: "INVALID_REQUEST", message: message)
        }
    }

    func tooLarge(_ message: String) -> APIError {
        APIError(.contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: message)
    }

    /// Reads and discards the rest of a body, so the client finishes sending and can read the
    /// error; past ``IngestSettings/maxDrainBytes`` or the deadline the connection is closed.
    func drain<S: AsyncSequence>(_ body: S, deadline: BodyDeadline) async throws where S.Element == ByteBuffer {
        try await drain(body.makeAsyncIterator(), deadline: deadline)
    }

    func drain<I: AsyncIteratorProtocol>(_ iterator: I, deadline: BodyDeadline) async throws where I.Element == ByteBuffer {
        var iterator = iterator
        var drained = 0
        do {
            while let chunk = try await iterator.next() {
                drained += chunk.readableBytes
                if drained > settings.maxDrainBytes { return }  // the deadline stays armed and closes the connection
            }
            deadline.disarm()
        } catch {
            // Timed out or the connection failed: it is closed after the response.
        }
    }

}

/// The durable write of an ingest request: the store's `ingest` returns once the WAL record is
/// fsync'd; a full disk is 507 `STORAGE_FULL` with `Retry-After`, a closing store 503.
struct DurableIngest: Sendable {
    let store: SegmentStore
    let state: DaemonState
    let metrics: TokentraMetrics
    let logger: Logger
    let wallClock: @Sendable () -> Int64

    /// Stores `events` durably. - Returns: how many were new and how many were duplicates.
    func store(_ events: EventBatch, keyID: String) async throws -> (stored: Int, duplicates: Int) {
        do {
            let result = try await store.ingest(events)
            state.clearStorageFull()
            return (result.stored, result.duplicateIndices.count)
        } catch let error as SegmentError where error.code == .storageFull {
            state.markStorageFull(atMs: wallClock())
            metrics.storageFull.increment()
            logger.error("disk full: batch rejected, nothing stored", metadata: ["key.id": "\(keyID)", "batch.events": "\(events.count)"])
            throw APIError(.init(code: 507, reasonPhrase: "Insufficient Storage"), code: "STORAGE_FULL",
                           message: "The server's disk is full: no event of this batch was stored. Retry later.",
                           headers: [.retryAfter: "30"])
        } catch {
            if !state.isStoreOpen {
                throw APIError(.serviceUnavailable, code: "SERVICE_UNAVAILABLE", message: "The server is shutting down; retry",
                               headers: [.retryAfter: "5"])
            }
            throw error
        }
    }
}
