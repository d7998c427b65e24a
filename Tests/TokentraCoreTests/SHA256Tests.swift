import Testing
import TokentraCore

@Suite struct SHA256Tests {
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    // FIPS 180-4 / NIST CAVP example vectors.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
        ("The quick brown fox jumps over the lazy dog", "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"),
    ])
    func knownVectors(input: String, expected: String) {
        #expect(Self.hex(SHA256.hash(Array(input.utf8))) == expected)
    }

    @Test func millionAs() {
        var h = SHA256()
        let chunk = [UInt8](repeating: 0x61, count: 1000)
        for _ in 0..<1000 { h.update(chunk) }
        #expect(Self.hex(h.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Every split of a 200-byte message into two updates gives the one-shot digest (block edges).
    @Test func streamingSplitsMatchOneShot() {
        let message = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let expected = SHA256.hash(message)
        for split in 0...message.count {
            var h = SHA256()
            h.update(message[..<split])
            h.update(message[split...])
            #expect(h.finalize() == expected, "split at \(split)")
        }
        // Lengths around the padding boundary (55, 56, 63, 64, 65 bytes).
        for n in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            var h = SHA256()
            for b in message[..<n] { h.update([b]) }
            #expect(h.finalize() == SHA256.hash(Array(message[..<n])), "length \(n)")
        }
    }

    @Test func digest128IsFirstSixteenBytes() {
        let bytes = Array("hello".utf8)
        let full = SHA256.hash(bytes)
        let d = bytes.withUnsafeBytes { SHA256.digest128($0) }
        var expectedHigh: UInt64 = 0
        var expectedLow: UInt64 = 0
        for i in 0..<8 { expectedHigh = expectedHigh << 8 | UInt64(full[i]) }
        for i in 8..<16 { expectedLow = expectedLow << 8 | UInt64(full[i]) }
        #expect(d.high == expectedHigh)
        #expect(d.low == expectedLow)
    }
}
