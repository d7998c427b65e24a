import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A webhook receiver on loopback for tests: verifies every signature (HMAC-SHA256 computed here
/// with swift-crypto, independently of the daemon's signer), answers each request as its plan
/// says (a status, or hanging past the sender's timeout), and records everything it saw.
final class WebhookReceiver: Sendable {
    enum Behavior: Sendable {
        case status(Int)
        /// Wait this long, then answer 503 (the sender has given up by then).
        case hang(milliseconds: Int64)
        /// Send the head `200` at once, the body only after this long.
        case headThenStall(milliseconds: Int64)
    }

    struct Received: Sendable {
        var eventID: String
        var eventType: String
        var attempt: Int
        var signatureValid: Bool
        var body: String
        /// Whether it was answered 2xx in time (acknowledged).
        var acknowledged: Bool
        /// The `Host` header.
        var host: String = ""
    }

    struct State {
        var plan: [Behavior] = []
        var received: [Received] = []
        var secret = ""
        var channel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var port = 0
        /// Unreachable while listening: every connection is closed at once, unanswered (the port
        /// stays ours, so no other test's server can take it meanwhile).
        var down = false
        /// Bodies of ``Behavior/headThenStall(milliseconds:)`` answers finished.
        var stalledBodiesSent = 0
    }

    let state = Mutex(State())
    var port: Int { state.withLock { $0.port } }

    var url: String { "http://127.0.0.1:\(port)/hook" }
    var received: [Received] { state.withLock { $0.received } }
    var acknowledged: [Received] { received.filter(\.acknowledged) }

    func setSecret(_ s: String) { state.withLock { $0.secret = s } }
    func setPlan(_ plan: [Behavior]) { state.withLock { $0.plan = plan } }
    func setDown(_ down: Bool) { state.withLock { $0.down = down } }
    var stalledBodiesSent: Int { state.withLock { $0.stalledBodiesSent } }

    /// Binds (a free port the first time, the same port after ``stop()``).
    func start() async throws {
        let receiver = self
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                if receiver.state.withLock({ $0.down }) { return channel.close() }
                receiver.state.withLock { $0.connections[ObjectIdentifier(channel)] = channel }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(receiver))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
        state.withLock {
            $0.channel = channel
            $0.port = channel.localAddress?.port ?? 0
        }
    }

    /// Stops listening and closes every open connection (the sender's connections are refused until ``start()``).
    func stop() async throws {
        let (channel, connections) = state.withLock { s -> ((any Channel)?, [any Channel]) in
            defer {
                s.channel = nil
                s.connections = [:]
            }
            return (s.channel, Array(s.connections.values))
        }
        try await channel?.close()
        for c in connections { try? await c.close() }
    }

    func decide(head: HTTPRequestHead, body: [UInt8]) -> Behavior {
        let secret = state.withLock { $0.secret }
        let header = head.headers.first(name: "X-TokenTra-Signature") ?? ""
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
        let expected = "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
        return state.withLock { s in
            let behavior = s.plan.isEmpty ? .status(200) : s.plan.removeFirst()
            var ok = false
            if case .status(let code) = behavior { ok = (200..<300).contains(code) }
            if case .headThenStall = behavior { ok = true }
            s.received.append(Received(
                eventID: head.headers.first(name: "X-TokenTra-Event-Id") ?? "", eventType: head.headers.first(name: "X-TokenTra-Event-Type") ?? "",
                attempt: Int(head.headers.first(name: "X-TokenTra-Delivery-Attempt") ?? "") ?? 0,
                signatureValid: header == expected, body: String(decoding: body, as: UTF8.self), acknowledged: ok,
                host: head.headers.first(name: "Host") ?? ""))
            return behavior
        }
    }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let receiver: WebhookReceiver
        var head: HTTPRequestHead?
        var body: [UInt8] = []
        init(_ receiver: WebhookReceiver) { self.receiver = receiver }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body = []
            case .body(var buffer):
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            case .end:
                guard let head else { return }
                let behavior = receiver.decide(head: head, body: body)
                switch behavior {
                case .status(let code):
                    respond(context, code)
                case .headThenStall(let ms):
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Length", value: "2")
                    headers.add(name: "Content-Type", value: "application/json")
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                    let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                    let receiver = self.receiver
                    context.eventLoop.scheduleTask(in: .milliseconds(ms)) {
                        let (handler, ctx) = loopBound.value
                        receiver.state.withLock { $0.stalledBodiesSent += 1 }
                        ctx.write(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "{}")))), promise: nil)
                        ctx.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
                    }
                case .hang(let ms):
                    let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                    context.eventLoop.scheduleTask(in: .milliseconds(ms)) {
                        let (handler, ctx) = loopBound.value
                        handler.respond(ctx, 503)
                    }
                }
            }
        }

        func respond(_ context: ChannelHandlerContext, _ code: Int) {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "2")
            headers.add(name: "Content-Type", value: "application/json")
            let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "{}")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// Polls `condition` every 50 ms until it holds or `seconds` pass.
func eventually(_ seconds: Double, _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    if try await condition() { return }
    throw TestFailure("timed out after \(seconds) s waiting for: \(what)")
}
