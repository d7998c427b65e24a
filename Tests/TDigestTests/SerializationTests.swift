import Testing
import TDigest

@Suite("Serialization")
struct SerializationTests {
    typealias Error = TDigest.SerializationError

    /// Digests covering every mode and shape, for round-trip and corruption tests.
    static func corpus() -> [TDigest] {
        var digests: [TDigest] = [TDigest(), TDigest([5]), TDigest([1, 2, 3]), TDigest(compression: 100)]
        var weighted = TDigest()
        weighted.add(-2.5, weight: 7)
        weighted.add(1e-300)
        digests.append(weighted)
        for (n, seed) in [(150, 1), (200, 2), (201, 3), (5_000, 4), (200_000, 5)] {
            digests.append(makeSample(count: n, seed: UInt64(seed)) { $0.latency() }.digest)
        }
        digests.append(makeSample(count: 50_000, seed: 6) { $0.pareto() }.digest)
        digests.append(makeSample(count: 20_000, seed: 7) { Double($0.int(in: 0...50)) }.digest)
        digests.append(makeSample(count: 3_000, seed: 8, compression: 2_000) { $0.normal() }.digest)
        return digests
    }

    @Test("round trip: equal digest, equal quantiles, identical bytes")
    func roundTrip() throws {
        for d in Self.corpus() {
            let bytes = d.serialized()
            let decoded = try TDigest(serialized: bytes)
            #expect(decoded == d)
            #expect(decoded.serialized() == bytes)
            #expect(decoded.count == d.count && decoded.min == d.min && decoded.max == d.max)
            #expect(decoded.sum.bitPattern == d.sum.bitPattern)
            #expect(decoded.compression == d.compression)
            #expect(decoded.effectiveCompression == d.effectiveCompression)
            #expect(decoded.centroids == d.centroids)
            for i in 0...100 {
                let q = Double(i) / 100
                #expect(decoded.quantile(q) == d.quantile(q))
            }
            if let x = d.quantile(0.7) { #expect(decoded.cdf(x) == d.cdf(x)) }
            decoded._checkInvariants()
            // A decoded digest keeps working like the original (flushed: decoding gives the
            // flushed state, and the flush points shape the centroids).
            var a = d
            a.flush()
            var b = decoded
            a.add(contentsOf: [1, 2, 3, 1_000])
            b.add(contentsOf: [1, 2, 3, 1_000])
            #expect(a.serialized() == b.serialized())
            // Decoding from a slice or another collection works too.
            #expect(try TDigest(serialized: bytes[...]) == d)
            #expect(try TDigest(serialized: ContiguousArray(bytes)) == d)
        }
    }

    @Test("the format is stable (golden bytes for [1, 2, 3])")
    func golden() {
        let expected: [UInt8] = [
            0x01, 0x02,  // format version 1, scale function 2
            0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x7F, 0x40,  // compression 500.0
            0x00,  // size-budget level 0
            0x03,  // count 3
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F,  // min 1.0
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x40,  // max 3.0
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x40,  // sum 6.0
            0x03,  // 3 centroids
            0x03, 0x00,  // weight 1, 24-bit mean; 1.0 − min = 0
            0x03, 0x80, 0x80, 0x80, 0x04,  // weight 1; 2.0 is 2²³ 24-bit steps above 1.0
            0x03, 0x80, 0x80, 0x80, 0x02,  // weight 1; 3.0 is 2²² steps above 2.0
        ]
        #expect(TDigest([1, 2, 3]).serialized() == expected)
        #expect(TDigest().serialized() == [0x01, 0x02, 0, 0, 0, 0, 0, 0x40, 0x7F, 0x40, 0x00, 0x00])
    }

    @Test("serialized size ≤ 2 KB for any count and value pattern")
    func sizeBound() {
        var rng = SplitMix64(seed: 2024)
        let generators: [(String, (inout SplitMix64) -> Double)] = [
            ("latency", { $0.latency() }),
            ("pareto", { $0.pareto() }),
            ("uniform", { $0.uniform() }),
            ("integers", { Double($0.int(in: 0...1_000_000)) }),
            ("random bits", { g in
                while true {
                    let x = Double(bitPattern: g.next())
                    if x.isFinite { return x }
                }
            }),
        ]
        for (name, generate) in generators {
            var d = TDigest()
            var next = 1
            for i in 1...300_000 {
                d.add(generate(&rng))
                if i == next || i == 300_000 {
                    let size = d.serialized().count
                    #expect(size <= TDigest.maximumSerializedSize, "\(name) n=\(i): \(size) bytes")
                    next = next < 1_000 ? next + 1 : next * 2
                }
            }
            d._checkInvariants()
        }
        // The worst case of exact mode: 200 values spread evenly over the whole order of doubles
        // (both signs, all exponents), so every delta takes 9 bytes.
        var spread = TDigest()
        for i in 0..<TDigest.exactCapacity {
            let key = UInt64.max / 200 * UInt64(i) + UInt64.max / 400
            let x = Double(bitPattern: key >> 63 == 1 ? key & ~(1 << 63) : ~key)
            let accepted = spread.add(x)
            #expect(accepted)
        }
        #expect(spread.isExact && spread.count == TDigest.exactCapacity)
        #expect(spread.serialized().count <= TDigest.maximumSerializedSize)
    }

    @Test("huge weights: count exact, size bounded")
    func hugeWeights() throws {
        var d = TDigest()
        var rng = SplitMix64(seed: 5)
        var total = 0
        for _ in 0..<20_000 {
            let w = rng.int(in: 1...(1 << 38))
            total += w
            d.add(rng.latency(), weight: w)
        }
        #expect(d.count == total)
        #expect(d.serialized().count <= TDigest.maximumSerializedSize)
        let decoded = try TDigest(serialized: d.serialized())
        #expect(decoded.count == total)
        // Each value here is ~10⁻⁴ of the total, so later values shift earlier centroids to
        // ranks where the bound is lower; such carried-over centroids are not split.
        decoded._checkInvariants(checkSizeBound: false)
    }

    @Test("rejected: empty, truncated, wrong version or scale function, bad compression")
    func rejectsHeaders() {
        let valid = TDigest([1, 2, 3]).serialized()
        #expect(throws: Error.truncated) { try TDigest(serialized: [UInt8]()) }
        for length in 0..<valid.count {
            #expect(throws: Error.self, "prefix \(length)") { try TDigest(serialized: valid.prefix(length)) }
        }
        for version: UInt8 in [0, 2, 0xFF] {
            var bytes = valid
            bytes[0] = version
            #expect(throws: Error.unsupportedFormatVersion(version)) { try TDigest(serialized: bytes) }
        }
        for scale: UInt8 in [0, 1, 3, 0x82] {
            var bytes = valid
            bytes[1] = scale
            #expect(throws: Error.unsupportedScaleFunction(scale)) { try TDigest(serialized: bytes) }
        }
        for compression in [5.0, 1e9, -500] {
            var bytes = valid
            withUnsafeBytes(of: compression.bitPattern.littleEndian) { bytes.replaceSubrange(2..<10, with: $0) }
            #expect(throws: Error.invalidCompression(compression)) { try TDigest(serialized: bytes) }
        }
        var nan = valid
        withUnsafeBytes(of: Double.nan.bitPattern.littleEndian) { nan.replaceSubrange(2..<10, with: $0) }
        #expect(throws: Error.self) { try TDigest(serialized: nan) }
        #expect(throws: Error.trailingBytes(1)) { try TDigest(serialized: valid + [0]) }
        #expect(throws: Error.trailingBytes(2)) { try TDigest(serialized: TDigest().serialized() + [1, 2]) }
        #expect(throws: Error.tooLarge(3_000)) { try TDigest(serialized: [UInt8](repeating: 1, count: 3_000)) }
        #expect("\(Error.unsupportedFormatVersion(9))".contains("version 9"))
    }

    @Test("rejected: inconsistent content")
    func rejectsContent() {
        let valid = TDigest([1, 2, 3]).serialized()
        func expectRejected(
            _ error: Error, _ edit: (inout [UInt8]) -> Void, sourceLocation: SourceLocation = #_sourceLocation
        ) {
            var bytes = valid
            edit(&bytes)
            #expect(throws: error, sourceLocation: sourceLocation) { try TDigest(serialized: bytes) }
        }
        // Level above the maximum, or non-zero in exact mode.
        expectRejected(.malformed(.invalidLevel)) { $0[10] = 0xFF }
        expectRejected(.malformed(.invalidLevel)) { $0[10] = 1 }
        // Count 3 written as a non-minimal varint.
        expectRejected(.malformed(.invalidVarint)) { $0.replaceSubrange(11..<12, with: [0x83, 0x00]) }
        // Count above 2^53.
        expectRejected(.countTooLarge(1 << 60)) {
            $0.replaceSubrange(11..<12, with: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])
        }
        // Varint longer than 64 bits.
        expectRejected(.malformed(.invalidVarint)) {
            $0.replaceSubrange(11..<12, with: [UInt8](repeating: 0xFF, count: 10) + [0x01])
        }
        // min > max; NaN min.
        expectRejected(.malformed(.minAboveMax)) { $0[19] = 0x41 }
        expectRejected(.malformed(.nonFiniteBound)) {
            $0[18] = 0xF8
            $0[19] = 0x7F
        }
        // Centroid count 0, or above the count.
        expectRejected(.malformed(.invalidCentroidCount)) { $0[36] = 0 }
        expectRejected(.malformed(.invalidCentroidCount)) { $0[36] = 4 }
        // Weight 0 (tag 0x01 = weight 0, compact).
        expectRejected(.malformed(.zeroWeight)) { $0[37] = 0x01 }
        // Weight 2 on the first centroid: weights no longer add up to the count.
        expectRejected(.malformed(.weightSumMismatch)) { $0[37] = 0x05 }
        // The first mean's "compact" flag cleared although 1.0 has 24 significant bits.
        expectRejected(.malformed(.nonCanonicalMean)) { $0[37] = 0x02 }
        // The first mean moved above the minimum: exact digests start at min.
        expectRejected(.malformed(.invalidExactDigest)) { $0[38] = 0x01 }
        // The last mean pushed beyond max.
        expectRejected(.malformed(.meanOutOfRange)) { $0[48] = 0x03 }
        // Second and third mean equal (delta 0): exact digests list distinct values.
        expectRejected(.malformed(.invalidExactDigest)) { $0.replaceSubrange(44..<49, with: [0x03, 0x00]) }
    }

    @Test("fuzz: random bytes never crash, and anything accepted is canonical")
    func fuzzRandom() {
        var rng = SplitMix64(seed: 0xF022)
        var accepted = 0
        for iteration in 0..<30_000 {
            let length = rng.int(in: 0...(iteration % 10 == 0 ? 2_100 : 64))
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Often start with a valid header so the fuzzing reaches the body.
            if iteration % 2 == 0 && bytes.count >= 11 {
                bytes.replaceSubrange(0..<11, with: [1, 2, 0, 0, 0, 0, 0, 0x40, 0x7F, 0x40, 0])
            }
            if let d = try? TDigest(serialized: bytes) {
                accepted += 1
                #expect(d.serialized() == bytes)
                d._checkInvariants(checkSizeBound: false)
                _ = d.quantiles([0, 0.5, 1])
            }
        }
        #expect(accepted < 30_000)
    }

    @Test("fuzz: mutated valid digests never crash, and anything accepted is canonical")
    func fuzzMutations() {
        var rng = SplitMix64(seed: 0xB17F)
        let originals = Self.corpus().map { $0.serialized() }
        var accepted = 0
        for iteration in 0..<20_000 {
            var bytes = originals[iteration % originals.count]
            switch rng.int(in: 0...4) {
            case 0:  // flip one bit
                let i = rng.int(in: 0...(bytes.count - 1))
                bytes[i] ^= UInt8(1) << UInt8(rng.int(in: 0...7))
            case 1:  // overwrite a byte
                bytes[rng.int(in: 0...(bytes.count - 1))] = UInt8(truncatingIfNeeded: rng.next())
            case 2:  // delete a byte
                bytes.remove(at: rng.int(in: 0...(bytes.count - 1)))
            case 3:  // insert a byte
                bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: rng.int(in: 0...bytes.count))
            default:  // several flips
                for _ in 0..<4 {
                    let i = rng.int(in: 0...(bytes.count - 1))
                    bytes[i] ^= UInt8(truncatingIfNeeded: rng.next())
                }
            }
            if let d = try? TDigest(serialized: bytes) {
                accepted += 1
                #expect(d.serialized() == bytes)
                d._checkInvariants(checkSizeBound: false)
                _ = d.quantiles([0, 0.25, 0.5, 0.99, 1])
                _ = d.cdf(1)
                var e = d
                e.add(1)
                e.merge(d)
                e._checkInvariants(checkSizeBound: false)
            }
        }
        // Some mutations (e.g. of the sum or of a mean's low bits) stay valid; most do not.
        #expect(accepted > 0 && accepted < 20_000)
    }
}
