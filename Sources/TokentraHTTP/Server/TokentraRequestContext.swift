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
