/// The idempotency key of an event: 16 bytes.
///
/// A canonical UUID (`8-4-4-4-12` hex, any case) is stored as its 16 raw bytes and printed back in
/// lowercase. Any other request id (up to 128 bytes) keeps its text in ``text`` and is keyed by
/// the first 16 bytes of its SHA-256 (computed by the caller, see ``init(opaque:digest:)``), so a
/// collision between an opaque id and a UUID (or two opaque ids) is as unlikely as any 128-bit
/// collision. Equality and hashing use only the 16 key bytes.
public struct RequestID: Sendable, Hashable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    /// The original text when it was not a UUID; `nil` for UUIDs.
    public var text: String?

    public init(high: UInt64, low: UInt64, text: String? = nil) {
        self.high = high
        self.low = low
        self.text = text
    }

    /// Parses a canonical UUID (36 characters with dashes at 8, 13, 18, 23).
    public init?(uuid: some StringProtocol) {
        var bytes = Array(uuid.utf8)
        guard let value = bytes.withUnsafeMutableBufferPointer({ RequestID.parseUUID(UnsafeBufferPointer($0)) })
        else { return nil }
        self = value
    }

    /// A non-UUID id keyed by a 16-byte digest of its text.
    public init(opaque text: String, digest: [UInt8]) {
        precondition(digest.count >= 16)
        var h: UInt64 = 0
        var l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(digest[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(digest[i]) }
        self.init(high: h, low: l, text: text)
    }

    public static func == (lhs: RequestID, rhs: RequestID) -> Bool { lhs.high == rhs.high && lhs.low == rhs.low }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(high)
        hasher.combine(low)
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt64? {
        switch c {
        case 48...57: return UInt64(c - 48)
        case 97...102: return UInt64(c - 87)
        case 65...70: return UInt64(c - 55)
        default: return nil
        }
    }

    /// Parses the 36 bytes of a canonical UUID (hex digits in any case, dashes at 8, 13, 18, 23).
    public static func parseUUID(_ b: UnsafeBufferPointer<UInt8>) -> RequestID? {
        guard b.count == 36, let p = b.baseAddress, p[8] == 45, p[13] == 45, p[18] == 45, p[23] == 45 else { return nil }
        let raw = UnsafeRawPointer(p)
        @inline(__always) func join(_ a: Int, _ b: Int) -> UInt64 {
            UInt64(raw.loadUnaligned(fromByteOffset: a, as: UInt32.self))
                | UInt64(raw.loadUnaligned(fromByteOffset: b, as: UInt32.self)) << 32
        }
        guard let w0 = hex8(raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            let w1 = hex8(join(9, 14)),
            let w2 = hex8(join(19, 24)),
            let w3 = hex8(raw.loadUnaligned(fromByteOffset: 28, as: UInt64.self))
        else { return nil }
        return RequestID(high: w0 << 32 | w1, low: w2 << 32 | w3)
    }

    /// Decodes 8 ASCII hex digits (first digit in the lowest byte) to their 32-bit value, or nil.
    @inline(__always)
    static func hex8(_ w: UInt64) -> UInt64? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = ones &* 0x80
        guard w & high == 0 else { return nil }
        let x = w | (ones &* 0x20)  // lower-case letters; digits already have bit 5 set
        // For bytes < 0x80: b ≥ lo ⇔ bit 7 of (b + 0x80 - lo); b ≤ hi ⇔ !bit 7 of (b + 0x7F - hi).
        let digit = (x &+ ones &* (0x80 - 0x30)) & ~(x &+ ones &* (0x7F - 0x39))
        let letter = (x &+ ones &* (0x80 - 0x61)) & ~(x &+ ones &* (0x7F - 0x66))
        guard (digit | letter) & high == high else { return nil }
        // Nibble values: low 4 bits, plus 9 for letters (bit 6 set).
        let v = (w & (ones &* 0x0F)) &+ ((w >> 6) & ones) &* 9
        // Pack 8 nibbles, first digit most significant.
        let pairs = ((v & 0x000F_000F_000F_000F) << 4) | ((v >> 8) & 0x000F_000F_000F_000F)
        let quads = (pairs | (pairs >> 8)) & 0x0000_FFFF_0000_FFFF
        let packed = UInt32(truncatingIfNeeded: quads | (quads >> 16))
        return UInt64(packed.byteSwapped)
    }

    /// The 16 key bytes, big-endian.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { out[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i))) }
        for i in 0..<8 { out[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i))) }
        return out
    }

    /// The text as received: the original text for opaque ids, the lowercase UUID otherwise.
    public var description: String {
        if let text { return text }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(36)
        for i in 0..<32 {
            let word = i < 16 ? high : low
            let shift = UInt64(60 - 4 * (i % 16))
            out.append(hex[Int((word >> shift) & 0xF)])
            if i == 7 || i == 11 || i == 15 || i == 19 { out.append(45) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
