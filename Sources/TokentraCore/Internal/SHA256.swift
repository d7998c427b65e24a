import Crypto

/// SHA-256 (FIPS 180-4), backed by swift-crypto.
///
/// Used to key non-UUID request ids (first 16 bytes of the digest), to derive ids for Token
/// Trackr events and to hash API keys. The digests are those of the standard algorithm, so ids
/// and key hashes stored by earlier versions (which used a hand-written implementation) are
/// unchanged; `SHA256Tests` checks the NIST vectors and known stored values.
///
/// ```swift
/// var h = SHA256()
/// h.update("abc".utf8)
/// let digest = h.finalize()   // 32 bytes, ba7816bf...
/// ```
package struct SHA256 {
    private var hasher = Crypto.SHA256()

    package init() {}

    /// Feeds bytes.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// Feeds bytes.
    package mutating func update(_ bytes: some Sequence<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        if handled == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        }
    }

    /// The 32-byte digest (the hasher should not be used afterwards).
    package mutating func finalize() -> [UInt8] {
        Array(hasher.finalize())
    }

    /// The digest as eight big-endian 32-bit words.
    package mutating func finalizeWords() -> (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) {
        let b = finalize()
        func word(_ i: Int) -> UInt32 {
            UInt32(b[4 * i]) << 24 | UInt32(b[4 * i + 1]) << 16 | UInt32(b[4 * i + 2]) << 8 | UInt32(b[4 * i + 3])
        }
        return (word(0), word(1), word(2), word(3), word(4), word(5), word(6), word(7))
    }

    /// The first 16 bytes of the digest of `bytes`, as two big-endian words.
    package static func digest128(_ bytes: UnsafeRawBufferPointer) -> (high: UInt64, low: UInt64) {
        var hasher = Crypto.SHA256()
        hasher.update(bufferPointer: bytes)
        let digest = hasher.finalize()
        return digest.withUnsafeBytes { p in
            var high: UInt64 = 0
            var low: UInt64 = 0
            for i in 0..<8 { high = high << 8 | UInt64(p[i]) }
            for i in 8..<16 { low = low << 8 | UInt64(p[i]) }
            return (high, low)
        }
    }

    /// The 32-byte digest of `bytes`.
    package static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }
}
