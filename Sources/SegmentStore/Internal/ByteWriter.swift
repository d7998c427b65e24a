/// Appends little-endian integers, LEB128 varints and length-prefixed strings to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    @inline(__always) mutating func u8(_ v: UInt8) { bytes.append(v) }
    @inline(__always) mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    @inline(__always) mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    @inline(__always) mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    @inline(__always) mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }

    @inline(__always) mutating func uvarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inline(__always) mutating func varint(_ v: Int64) { uvarint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            uvarint(UInt64(buf.count))
            bytes.append(contentsOf: buf)
        }
    }

    /// A nullable string: 0 for nil, else length+1 then the bytes.
    mutating func optionalString(_ s: String?) {
        guard var s else { uvarint(0); return }
        s.withUTF8 { buf in
            uvarint(UInt64(buf.count) + 1)
            bytes.append(contentsOf: buf)
        }
    }

    mutating func append(_ other: [UInt8]) { bytes.append(contentsOf: other) }
    mutating func append(_ other: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: other) }
    @inline(__always) mutating func u64be(_ v: UInt64) { for i in (0..<8).reversed() { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }

    /// The raw little-endian bytes of a fixed-width array (x86-64 and arm64 are little-endian).
    mutating func array<T: FixedWidthInteger>(_ values: [T]) {
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}

/// Reads what ``ByteWriter`` wrote; every read is bounds-checked and throws on truncation.
struct ByteReader {
    let bytes: [UInt8]
    var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset >= bytes.count }

    @inline(__always) mutating func need(_ n: Int) throws(SegmentError) {
        if n < 0 || bytes.count - offset < n { throw SegmentError(.corrupt, "truncated data at byte \(offset)") }
    }

    mutating func u8() throws(SegmentError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(SegmentError) -> UInt16 {
        try need(2)
        var v: UInt16 = 0
        for i in 0..<2 { v |= UInt16(bytes[offset + i]) << (8 * i) }
        offset += 2
        return v
    }

    mutating func u32() throws(SegmentError) -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[offset + i]) << (8 * i) }
        offset += 4
        return v
    }

    mutating func u64() throws(SegmentError) -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }

    mutating func i64() throws(SegmentError) -> Int64 { Int64(bitPattern: try u64()) }

    @inline(__always) mutating func uvarint() throws(SegmentError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count else { throw SegmentError(.corrupt, "truncated varint at byte \(offset)") }
            let b = bytes[offset]
            offset += 1
            if shift == 63 && b > 1 { throw SegmentError(.corrupt, "varint overflow at byte \(offset)") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw SegmentError(.corrupt, "varint too long at byte \(offset)") }
        }
    }

    @inline(__always) mutating func varint() throws(SegmentError) -> Int64 {
        let u = try uvarint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    mutating func int(_ limit: Int = Int(Int32.max)) throws(SegmentError) -> Int {
        let v = try uvarint()
        guard v <= UInt64(limit) else { throw SegmentError(.corrupt, "value \(v) out of range at byte \(offset)") }
        return Int(v)
    }

    /// `count` fixed-width little-endian values written by ``ByteWriter/array(_:)``.
    mutating func array<T: FixedWidthInteger>(_ type: T.Type, count: Int) throws(SegmentError) -> [T] {
        let size = count * MemoryLayout<T>.size
        try need(size)
        let start = offset
        offset += size
        return [T](unsafeUninitializedCapacity: count) { out, initialized in
            bytes.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + size)]))
            }
            initialized = count
        }
    }

    mutating func raw(_ n: Int) throws(SegmentError) -> ArraySlice<UInt8> {
        try need(n)
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    mutating func string() throws(SegmentError) -> String {
        let n = try int()
        let slice = try raw(n)
        return String(decoding: slice, as: UTF8.self)
    }

    mutating func optionalString() throws(SegmentError) -> String? {
        let n = try int()
        if n == 0 { return nil }
        let slice = try raw(n - 1)
        return String(decoding: slice, as: UTF8.self)
    }
}
