/// Appends LEB128 varints and raw bytes (little helpers of the rollup blob encodings).
struct BlobWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    @inline(__always)
    mutating func uvarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inline(__always)
    mutating func uvarint(_ value: Int64) {
        precondition(value >= 0, "negative value for an unsigned varint")
        uvarint(UInt64(value))
    }

    /// Zigzag-encoded signed 128-bit value as an unsigned LEB128 varint (at most 19 bytes).
    @inline(__always)
    mutating func zigzag(_ value: Int128) {
        var v = UInt128(bitPattern: (value << 1) ^ (value >> 127))
        if v < 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v))
            return
        }
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// A UTF-8 string: varint length, then the bytes.
    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { b in
            uvarint(UInt64(b.count))
            bytes.append(contentsOf: b)
        }
    }

    /// An optional string: varint (length + 1), 0 for absent, then the bytes.
    mutating func optionalString(_ s: String?) {
        guard var s else {
            bytes.append(0)
            return
        }
        s.withUTF8 { b in
            uvarint(UInt64(b.count) + 1)
            bytes.append(contentsOf: b)
        }
    }

    mutating func append(_ other: [UInt8]) { bytes.append(contentsOf: other) }
}

/// Why a rollup blob could not be decoded.
public struct RollupDecodingError: Error, Sendable, CustomStringConvertible, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Bounds-checked reader over a rollup blob.
struct BlobReader {
    let bytes: [UInt8]
    var position: Int
    let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.position = start
        self.end = end ?? bytes.count
    }

    var isAtEnd: Bool { position >= end }
    var remaining: Int { end - position }

    mutating func byte() throws(RollupDecodingError) -> UInt8 {
        guard position < end else { throw RollupDecodingError("rollup blob is truncated") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func uvarint() throws(RollupDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64, shift < 63 || b <= 1 else { throw RollupDecodingError("varint too long in rollup blob") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func int64() throws(RollupDecodingError) -> Int64 {
        let v = try uvarint()
        guard v <= UInt64(Int64.max) else { throw RollupDecodingError("count out of range in rollup blob") }
        return Int64(v)
    }

    mutating func zigzag() throws(RollupDecodingError) -> Int128 {
        var result: UInt128 = 0
        var shift: UInt128 = 0
        while true {
            let b = try byte()
            guard shift < 128, shift < 126 || b <= 3 else { throw RollupDecodingError("varint too long in rollup blob") }
            result |= UInt128(b & 0x7F) << shift
            if b & 0x80 == 0 { break }
            shift += 7
        }
        return Int128(bitPattern: result >> 1) ^ -Int128(bitPattern: result & 1)
    }

    mutating func raw(_ n: Int) throws(RollupDecodingError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw RollupDecodingError("rollup blob is truncated") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    mutating func string() throws(RollupDecodingError) -> String {
        let n = try uvarint()
        guard n <= UInt64(remaining) else { throw RollupDecodingError("rollup blob is truncated") }
        return String(decoding: try raw(Int(n)), as: UTF8.self)
    }

    mutating func optionalString() throws(RollupDecodingError) -> String? {
        let n = try uvarint()
        if n == 0 { return nil }
        guard n - 1 <= UInt64(remaining) else { throw RollupDecodingError("rollup blob is truncated") }
        return String(decoding: try raw(Int(n - 1)), as: UTF8.self)
    }
}
