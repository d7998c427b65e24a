import CZlib
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SegmentStore
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex
/// gzip-compresses bytes (for request bodies).
func gzip(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
    var stream = z_stream()
    precondition(deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 64)
    var input = input
    let produced: Int = input.withUnsafeMutableBufferPointer { inBuf in
        output.withUnsafeMutableBufferPointer { outBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = UInt32(inBuf.count)
            stream.next_out = outBuf.baseAddress
            stream.avail_out = UInt32(outBuf.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return outBuf.count - Int(stream.avail_out)
        }
    }
    return Array(output[0..<produced])
}

/// A raw TCP connection for tests that need byte-level control (slow clients, half requests).
struct RawConnection {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func connect(port: Int) async throws -> RawConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawConnection(channel: channel)
    }

    /// Runs `body` with the writer and a reader that collects everything until the peer closes
    /// or `until` says the response is complete.
    func run<T: Sendable>(
        _ body: (NIOAsyncChannelOutboundWriter<ByteBuffer>, _ read: () async throws -> String) async throws -> T
    ) async throws -> T {
        try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            var received = ""
            return try await body(outbound) {
                // Read until the response headers and a body of Content-Length bytes arrived, or EOF.
                while true {
                    if let end = received.range(of: "\r\n\r\n") {
                        let head = received[..<end.lowerBound].lowercased()
                        if let cl = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                            let n = Int(cl.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
                            received.utf8.count - received.utf8.distance(from: received.utf8.startIndex, to: end.upperBound.samePosition(in: received.utf8)!) >= n
                        {
                            return received
                        }
                    }
                    guard let chunk = try await iterator.next() else { return received }
                    received += String(buffer: chunk)
                }
            }
        }
    }
}
