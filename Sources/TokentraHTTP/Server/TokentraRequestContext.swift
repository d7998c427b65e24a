import Hummingbird
import Logging
import NIOCore

/// The request context of the tokentra API: Hummingbird's core storage plus the connection's
/// channel (for the body read deadline).
public struct TokentraRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection, when the request came from a socket.
    public let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Thrown into a request's body stream when the body did not arrive within the read timeout.
struct BodyTimeoutError: Error {}

/// Arms a read deadline on a connection: when it fires before ``disarm()``, the request body
/// stream fails with ``BodyTimeoutError`` (the handler answers 408 and the connection closes).
struct BodyDeadline {
    private let scheduled: Scheduled<Void>?

    init(channel: (any Channel)?, timeout: TimeAmount) {
        guard let channel else {
            scheduled = nil
            return
        }
        scheduled = channel.eventLoop.scheduleTask(in: timeout) {
            channel.pipeline.fireErrorCaught(BodyTimeoutError())
        }
    }

    func disarm() { scheduled?.cancel() }
}

/// Reads a small request body (a management call, a sign-in form) under a byte limit and the
/// body read deadline.
enum BoundedBody {
    /// The body, or `nil` when it exceeds `limit` (by its `Content-Length` or as it arrives).
    /// Past the limit the rest is read and dropped (up to 16 MiB), so the client can read the 413.
    /// - Throws: ``APIError`` 408 `REQUEST_TIMEOUT` when the body does not arrive within `timeout`.
    static func read(_ request: Request, _ context: TokentraRequestContext, limit: Int, timeout: Duration) async throws -> ByteBuffer? {
        let deadline = BodyDeadline(channel: context.channel, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
        defer { deadline.disarm() }
        var collected = ByteBuffer()
        var tooLarge = request.headers[.contentLength].flatMap({ Int($0) }).map { $0 > limit } ?? false
        var drained = 0
        do {
            for try await chunk in request.body {
                if tooLarge || collected.readableBytes + chunk.readableBytes > limit {
                    tooLarge = true
                    drained += chunk.readableBytes
                    if drained > 16 << 20 { break }
                    continue
                }
                var c = chunk
                collected.writeBuffer(&c)
            }
        } catch is BodyTimeoutError {
            throw APIError(.requestTimeout, code: "REQUEST_TIMEOUT", message: "request body not received in time", headers: [.connection: "close"])
        }
        return tooLarge ? nil : collected
    }
}
