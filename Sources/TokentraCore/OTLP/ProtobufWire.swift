/// Why an OTLP request body could not be read (protobuf or JSON): a message naming the problem
/// and where it is.
public struct OTLPDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The protobuf wire types (the low 3 bits of a field tag).
enum WireType: UInt8 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5

    var name: String {
        switch self {
        case .varint: return "varint"
        case .fixed64: return "fixed64"
        case .lengthDelimited: return "length-delimited"
        case .startGroup, .endGroup: return "group"
        case .fixed32: return "fixed32"
        }
    }
}

/// A bounds-checked reader of the protobuf wire format over borrowed bytes.
///
/// Every read checks the remaining length first, so truncated input, over-long varints, lengths
/// past the end and unknown wire types throw a ``OTLPDecodeError`` with the absolute byte offset;
/// nothing is read out of bounds. Sub-messages are read by ``message()``, which returns a reader
/// limited to that message's bytes.
struct ProtobufReader {
    let base: UnsafePointer<UInt8>
    /// Absolute offset of the next byte.
    var pos: Int
    /// Absolute offset one past the last byte of this (sub-)message.
    let end: Int

    init(base: UnsafePointer<UInt8>, start: Int, end: Int) {
        self.base = base
        self.pos = start
        self.end = end
    }

    var atEnd: Bool { pos >= end }

    mutating func varint() throws(OTLPDecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = pos
        while true {
            guard pos < end else { throw OTLPDecodeError("truncated varint at byte \(start)") }
            let b = base[pos]
            pos += 1
            if shift == 63 && b > 1 { throw OTLPDecodeError("varint too long at byte \(start)") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw OTLPDecodeError("varint too long at byte \(start)") }
        }
    }

    /// The next field tag, or `nil` at the end of the message.
    mutating func tag() throws(OTLPDecodeError) -> (field: UInt64, wire: WireType)? {
        guard pos < end else { return nil }
        let at = pos
        let key = try varint()
        let field = key >> 3
        guard field >= 1, field <= 536_870_911 else { throw OTLPDecodeError("invalid field number \(field) at byte \(at)") }
        guard let wire = WireType(rawValue: UInt8(key & 7)), wire != .startGroup, wire != .endGroup else {
            throw OTLPDecodeError("unsupported wire type \(key & 7) for field \(field) at byte \(at)")
        }
        return (field, wire)
    }

    mutating func fixed64() throws(OTLPDecodeError) -> UInt64 {
        guard end - pos >= 8 else { throw OTLPDecodeError("truncated fixed64 at byte \(pos)") }
        let v = UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self)
        pos += 8
        return UInt64(littleEndian: v)
    }

    mutating func fixed32() throws(OTLPDecodeError) -> UInt32 {
        guard end - pos >= 4 else { throw OTLPDecodeError("truncated fixed32 at byte \(pos)") }
        let v = UnsafeRawPointer(base + pos).loadUnaligned(as: UInt32.self)
        pos += 4
        return UInt32(littleEndian: v)
    }

    /// The bytes of a length-delimited field, as an absolute range.
    mutating func lengthDelimited() throws(OTLPDecodeError) -> Range<Int> {
        let at = pos
        let n = try varint()
        guard n <= UInt64(end - pos) else {
            throw OTLPDecodeError("length \(n) at byte \(at) runs past the end of the enclosing message (\(end - pos) bytes left)")
        }
        let start = pos
        pos += Int(n)
        return start..<pos
    }

    /// A reader over the next length-delimited field.
    mutating func message() throws(OTLPDecodeError) -> ProtobufReader {
        let r = try lengthDelimited()
        return ProtobufReader(base: base, start: r.lowerBound, end: r.upperBound)
    }

    func bytes(_ r: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: base + r.lowerBound, count: r.count)
    }

    /// Skips a field's value of the given wire type.
    mutating func skip(_ wire: WireType) throws(OTLPDecodeError) {
        switch wire {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimited()
        case .startGroup, .endGroup: throw OTLPDecodeError("unsupported wire type group at byte \(pos)")
        }
    }

    /// Throws unless `wire` is what `field` of `message` must have.
    func expect(_ wire: WireType, _ expected: WireType, field: String, in message: String) throws(OTLPDecodeError) {
        guard wire == expected else {
            throw OTLPDecodeError("\(message).\(field) has wire type \(wire.name), expected \(expected.name) (before byte \(pos))")
        }
    }
}

/// Appends protobuf fields to a byte array (the few the OTLP responses need).
struct ProtobufWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func tag(_ field: UInt64, _ wire: WireType) { varint(field << 3 | UInt64(wire.rawValue)) }

    mutating func field(_ field: UInt64, int64 v: Int64) {
        tag(field, .varint)
        varint(UInt64(bitPattern: v))
    }

    mutating func field(_ field: UInt64, string s: String) {
        tag(field, .lengthDelimited)
        let u = Array(s.utf8)
        varint(UInt64(u.count))
        bytes += u
    }

    mutating func field(_ field: UInt64, message: [UInt8]) {
        tag(field, .lengthDelimited)
        varint(UInt64(message.count))
        bytes += message
    }
}

/// UTF-8 validation of raw bytes (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
enum UTF8Check {
    static func isValid(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let p = b.baseAddress else { return true }
        let n = b.count
        var i = 0
        while i < n {
            // ASCII fast path, 8 bytes at a time.
            while i + 8 <= n, UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 { i += 8 }
            guard i < n else { return true }
            let c = p[i]
            if c < 0x80 { i += 1; continue }
            let len: Int
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: len = 2
            case 0xE0: len = 3; lo = 0xA0
            case 0xE1...0xEC, 0xEE, 0xEF: len = 3
            case 0xED: len = 3; hi = 0x9F
            case 0xF0: len = 4; lo = 0x90
            case 0xF1...0xF3: len = 4
            case 0xF4: len = 4; hi = 0x8F
            default: return false
            }
            guard i + len <= n else { return false }
            let c1 = p[i + 1]
            guard c1 >= lo && c1 <= hi else { return false }
            for k in 2..<max(2, len) where p[i + k] & 0xC0 != 0x80 { return false }
            i += len
        }
        return true
    }
}
