/// Numbers and literals of ``JSONScanner``: the strict number grammar, exact integer and rounded
/// fixed-point magnitudes, `true`/`false`/`null`, and the non-finite literals callers report.
extension JSONScanner {
    /// Scans a number at `pos` (a `-` or a digit) with the strict JSON grammar.
    @inline(__always)
    package mutating func scanNumber() throws(JSONSyntaxError) -> JSONNumberToken {
        let start = pos
        var negative = false
        if pos < end && base[pos] == 0x2D {
            negative = true
            pos += 1
        }
        var mantissa: UInt64 = 0
        var kept = 0
        var scale = 0
        var dropped = false
        var significant = 0
        guard pos < end else { throw JSONSyntaxError(.unexpectedEnd, at: pos) }
        var c = base[pos]
        if c == 0x30 {
            pos += 1
        } else if c >= 0x31 && c <= 0x39 {
            while pos < end {
                c = base[pos]
                guard c >= 0x30 && c <= 0x39 else { break }
                significant += 1
                if kept < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(c &- 0x30)
                    kept += 1
                } else {
                    scale += 1
                    if c != 0x30 { dropped = true }
                }
                pos += 1
            }
        } else {
            throw JSONSyntaxError(.invalidNumber, at: pos)
        }
        if pos < end && base[pos] == 0x2E {
            pos += 1
            let fractionStart = pos
            while pos < end {
                c = base[pos]
                guard c >= 0x30 && c <= 0x39 else { break }
                if mantissa == 0 && c == 0x30 && !dropped {
                    scale -= 1  // leading zero of the fraction: not significant
                } else {
                    significant += 1
                    if kept < 19 {
                        mantissa = mantissa &* 10 &+ UInt64(c &- 0x30)
                        kept += 1
                        scale -= 1
                    } else if c != 0x30 {
                        dropped = true
                    }
                }
                pos += 1
            }
            guard pos > fractionStart else { throw JSONSyntaxError(.invalidNumber, at: pos) }
        }
        if pos < end && (base[pos] == 0x65 || base[pos] == 0x45) {
            pos += 1
            var expNegative = false
            if pos < end && (base[pos] == 0x2B || base[pos] == 0x2D) {
                expNegative = base[pos] == 0x2D
                pos += 1
            }
            let expStart = pos
            var e = 0
            while pos < end {
                c = base[pos]
                guard c >= 0x30 && c <= 0x39 else { break }
                if e < 100_000_000 { e = e * 10 + Int(c &- 0x30) }
                pos += 1
            }
            guard pos > expStart else { throw JSONSyntaxError(.invalidNumber, at: pos) }
            scale += expNegative ? -e : e
        }
        return JSONNumberToken(
            start: start, end: pos, negative: negative, mantissa: mantissa, scale: scale,
            droppedNonZero: dropped, significantDigits: significant)
    }

    /// The exact integer value of a number token (ignoring its sign).
    package static func integerMagnitude(_ n: JSONNumberToken) -> JSONIntegerValue {
        var m = n.mantissa
        var s = n.scale
        if m == 0 { return n.droppedNonZero ? .fractional : .value(0) }
        if s < 0 {
            if n.droppedNonZero { return .fractional }
            while s < 0 {
                if m % 10 != 0 { return .fractional }
                m /= 10
                s += 1
            }
        } else if n.droppedNonZero {
            return .overflow  // ≥ 10^19 with dropped integer digits
        }
        while s > 0 {
            let (r, o) = m.multipliedReportingOverflow(by: 10)
            if o { return .overflow }
            m = r
            s -= 1
        }
        guard m <= UInt64(Int64.max) else { return .overflow }
        return .value(Int64(m))
    }

    /// The magnitude rounded half-up to the nearest integer, or `nil` when it does not fit `Int64`.
    package static func roundedMagnitude(_ n: JSONNumberToken) -> Int64? {
        var m = n.mantissa
        var s = n.scale
        if m == 0 { return 0 }
        if s < 0 {
            if s < -19 { return 0 }  // < 1e19 × 1e-20 = 0.1
            var p: UInt64 = 1
            for _ in 0 ..< -s { p &*= 10 }
            let q = m / p
            let r = m % p
            m = q
            if r >= p - r { m += 1 }  // r ≥ p/2 without overflow
            s = 0
        }
        while s > 0 {
            let (r, o) = m.multipliedReportingOverflow(by: 10)
            if o { return nil }
            m = r
            s -= 1
        }
        guard m <= UInt64(Int64.max) else { return nil }
        return Int64(m)
    }

    /// Scans `true`, `false` or `null` at `pos`; returns the first byte of the literal.
    @inline(__always)
    package mutating func scanLiteral() throws(JSONSyntaxError) -> UInt8 {
        let c = base[pos]
        let length: Int
        let expected: UInt32
        switch c {
        case 0x74: length = 4; expected = 0x6575_7274  // "true"
        case 0x6E: length = 4; expected = 0x6C6C_756E  // "null"
        case 0x66:
            length = 5; expected = 0x736C_6166  // "fals" + "e"
            guard pos + 5 <= end, base[pos + 4] == 0x65 else { throw JSONSyntaxError(.invalidLiteral, at: pos) }
        default: throw JSONSyntaxError(.unexpectedByte(c), at: pos)
        }
        guard pos + 4 <= end, UnsafeRawPointer(base + pos).loadUnaligned(as: UInt32.self) == expected else {
            throw JSONSyntaxError(.invalidLiteral, at: pos)
        }
        pos += length
        return c
    }

    /// If a `NaN`, `Infinity` or `-Infinity` literal starts at `pos`, skips it and returns true.
    package mutating func scanNonFiniteLiteral() -> Bool {
        var p = pos
        if p < end && base[p] == 0x2D { p += 1 }
        for word in [Array("NaN".utf8), Array("Infinity".utf8)] {
            if p + word.count <= end {
                var match = true
                for i in 0..<word.count where base[p + i] != word[i] {
                    match = false
                    break
                }
                if match && !(word.count == 3 && p != pos) {  // "-NaN" is not accepted
                    pos = p + word.count
                    return true
                }
            }
        }
        return false
    }
}
