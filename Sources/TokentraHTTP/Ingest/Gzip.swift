import CZlib

/// Inflates `Content-Encoding: gzip` request bodies with a hard limit on the output size, so a
/// small compressed body cannot expand into gigabytes (a "gzip bomb").
enum Gzip {
    enum Failure: Error, Equatable {
        /// The decompressed body would exceed the limit.
        case tooLarge(limit: Int)
        /// The input is not a valid gzip stream (message from zlib).
        case corrupt(String)
    }

    /// Decompresses one or more concatenated gzip members.
    /// - Parameters:
    ///   - input: the compressed bytes.
    ///   - limit: maximum decompressed size in bytes.
    /// - Throws: ``Failure``.
    static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        // 15 window bits + 16: gzip wrapper only.
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt("cannot initialize zlib")
        }
        defer { inflateEnd(&stream) }
        guard let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count > 0 else {
            throw .corrupt("empty gzip body")
        }
        var output = [UInt8]()
        output.reserveCapacity(min(limit, max(4096, input.count * 4)))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        stream.next_in = UnsafeMutablePointer(mutating: base)
        stream.avail_in = UInt32(input.count)
        while true {
            let status: Int32 = chunk.withUnsafeMutableBufferPointer { buffer in
                stream.next_out = buffer.baseAddress
                stream.avail_out = UInt32(buffer.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.avail_out)
            if output.count + produced > limit { throw .tooLarge(limit: limit) }
            output.append(contentsOf: chunk[0..<produced])
            switch status {
            case Z_OK:
                if stream.avail_in == 0 && produced == 0 { throw .corrupt("truncated gzip body") }
            case Z_STREAM_END:
                // Another member may follow (concatenated gzip, RFC 1952 section 2.2).
                guard stream.avail_in > 0 else { return output }
                guard inflateReset(&stream) == Z_OK else { throw .corrupt("cannot reset zlib") }
            case Z_BUF_ERROR:
                if stream.avail_in == 0 { throw .corrupt("truncated gzip body") }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                throw .corrupt("invalid gzip body: \(message)")
            }
        }
    }
}
