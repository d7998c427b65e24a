/// Why a byte sequence is not valid JSON (RFC 8259), with the byte offset where it was noticed.
package struct JSONSyntaxError: Error, Sendable, Equatable {
    package enum Reason: Sendable, Equatable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case expectedValue
        case expectedKey
        case expectedColon
        case expectedCommaOrEnd
        case invalidEscape
        case unpairedSurrogate
        case controlCharacterInString
        case invalidUTF8
        case invalidNumber
        case invalidLiteral
        case tooDeep(Int)
        case trailingData
        case notAnObject
    }

    package var reason: Reason
    package var offset: Int

    package init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// A human-readable message, e.g. `invalid JSON at byte 17: expected ':'`.
    package var message: String {
        let what: String
        switch reason {
        case .unexpectedEnd: what = "unexpected end of input"
        case .unexpectedByte(let b):
            if b >= 0x20 && b < 0x7F {
                what = "unexpected character '\(Character(Unicode.Scalar(b)))'"
            } else {
                what = "unexpected byte 0x\(String(b, radix: 16))"
            }
        case .expectedValue: what = "expected a value"
        case .expectedKey: what = "expected a string key"
        case .expectedColon: what = "expected ':'"
        case .expectedCommaOrEnd: what = "expected ',' or the end of the object or array"
        case .invalidEscape: what = "invalid escape sequence in string"
        case .unpairedSurrogate: what = "unpaired UTF-16 surrogate in \\u escape"
        case .controlCharacterInString: what = "unescaped control character in string"
        case .invalidUTF8: what = "invalid UTF-8"
        case .invalidNumber: what = "invalid number"
        case .invalidLiteral: what = "invalid literal"
        case .tooDeep(let max): what = "nesting deeper than \(max) levels"
        case .trailingData: what = "unexpected data after the JSON value"
        case .notAnObject: what = "expected a JSON object"
        }
        return "invalid JSON at byte \(offset): \(what)"
    }
}

/// The position of a scanned JSON string (between the quotes) and whether it contains escapes.
package struct JSONStringToken: Sendable {
    /// Offset of the first byte after the opening quote.
    package var start: Int
    /// Offset of the closing quote.
    package var end: Int
    /// Whether the raw bytes contain a backslash escape (they must be decoded before use).
    package var hasEscapes: Bool
    package var count: Int { end - start }
}

/// A scanned JSON number: its text range and its value as `mantissa × 10^scale`.
///
/// Up to 19 significant digits are kept in ``mantissa``; further digits are dropped (an integer
/// digit dropped increments ``scale``) and ``droppedNonZero`` records whether any was not `0`.
package struct JSONNumberToken: Sendable {
    package var start: Int
    package var end: Int
    package var negative: Bool
    package var mantissa: UInt64
    package var scale: Int
    package var droppedNonZero: Bool
    /// Count of significant digits seen (kept and dropped), excluding leading zeros.
    package var significantDigits: Int

    /// The decimal exponent of the leading digit (`123.4` → 2), or `Int.min` for zero.
    package var magnitudeExponent: Int {
        if mantissa == 0 && !droppedNonZero { return Int.min }
        var digits = 0
        var m = mantissa
        while m > 0 { digits += 1; m /= 10 }
        return digits + scale - 1
    }

    /// Whether an IEEE-754 double would overflow to infinity for this value (|x| ≥ 1e309).
    @inline(__always)
    package var overflowsDouble: Bool {
        // significantDigits + scale bounds the exponent from above: skip the digit count when small.
        if significantDigits + scale < 300 { return false }
        return magnitudeExponent != Int.min && magnitudeExponent >= 309
    }
}

/// The exact integer value of a number token, or why it has none.
package enum JSONIntegerValue: Sendable, Equatable {
    case value(Int64)
    /// The value has a non-zero fractional part.
    case fractional
    /// The magnitude does not fit `Int64`.
    case overflow
}

/// A forward-only, allocation-free JSON scanner over a byte buffer.
///
/// The scanner validates the full RFC 8259 grammar (strict numbers, escapes including
/// `\uXXXX` surrogate pairs, UTF-8, no raw control characters in strings) and skips values
/// iteratively, so hostile nesting cannot overflow the stack: nesting is capped at ``maxDepth``
/// (at most 64) levels. The non-JSON literals `NaN`, `Infinity` and `-Infinity` are accepted
/// as values so callers can report them as non-finite numbers; ``sawNonFinite`` is set when one
/// is skipped.
package struct JSONScanner {
    package let base: UnsafePointer<UInt8>
    package let end: Int
    package var pos: Int
    package let maxDepth: Int
    /// Set when ``skipValue()`` skipped a `NaN`/`Infinity` literal.
    package var sawNonFinite = false
    /// Set when ``skipValue()`` skipped whitespace inside the value (the value is not compact).
    package var sawInnerWhitespace = false

    package init(base: UnsafePointer<UInt8>, start: Int = 0, end: Int, maxDepth: Int = 64) {
        self.base = base
        self.end = end
        self.pos = start
        self.maxDepth = min(max(maxDepth, 1), 64)
    }

    @inline(__always)
    package var atEnd: Bool { pos >= end }

    /// The byte at the current position, or 0 at the end.
    @inline(__always)
    package var peek: UInt8 { pos < end ? base[pos] : 0 }

    @inline(__always)
    package static func isWhitespace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    /// Skips JSON whitespace; returns whether any was skipped.
    @inline(__always) @discardableResult
    package mutating func skipWhitespace() -> Bool {
        let start = pos
        while pos < end {
            let c = base[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { break }
        }
        return pos != start
    }

    @inline(__always)
    package mutating func expect(_ c: UInt8, _ reason: JSONSyntaxError.Reason) throws(JSONSyntaxError) {
        guard pos < end else { throw JSONSyntaxError(.unexpectedEnd, at: pos) }
        guard base[pos] == c else { throw JSONSyntaxError(reason, at: pos) }
        pos += 1
    }

    // MARK: Strings

    /// Scans a string starting at the opening quote; leaves the position after the closing quote.
    @inline(__always)
    package mutating func scanString() throws(JSONSyntaxError) -> JSONStringToken {
        guard pos < end, base[pos] == 0x22 else {
            throw JSONSyntaxError(pos < end ? .unexpectedByte(base[pos]) : .unexpectedEnd, at: pos)
        }
        pos += 1
        let start = pos
        var hasEscapes = false
        while true {
            // Fast path: 8 bytes at a time while none is '"', '\\', a control byte or non-ASCII.
            while pos &+ 8 <= end {
                let w = UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101
                let high: UInt64 = 0x8080_8080_8080_8080
                let q = w ^ (ones &* 0x22)
                let b = w ^ (ones &* 0x5C)
                let m = ((q &- ones) & ~q) | ((b &- ones) & ~b) | (w &- ones &* 0x20) & ~w | w
                let flagged = m & high
                if flagged == 0 {
                    pos &+= 8
                } else {
                    pos &+= flagged.trailingZeroBitCount >> 3
                    break
                }
            }
            guard pos < end else { throw JSONSyntaxError(.unexpectedEnd, at: pos) }
            let c = base[pos]
            if c == 0x22 {
                let token = JSONStringToken(start: start, end: pos, hasEscapes: hasEscapes)
                pos += 1
                return token
            } else if c == 0x5C {
                hasEscapes = true
                try scanEscape()
            } else if c < 0x20 {
                throw JSONSyntaxError(.controlCharacterInString, at: pos)
            } else if c >= 0x80 {
                try scanUTF8Sequence()
            } else {
                pos += 1
            }
        }
    }

    @inline(__always)
    private static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x30...0x39: return UInt32(c &- 0x30)
        case 0x61...0x66: return UInt32(c &- 0x57)
        case 0x41...0x46: return UInt32(c &- 0x37)
        default: return nil
        }
    }

    private func readHex4(at p: Int) throws(JSONSyntaxError) -> UInt32 {
        guard p + 4 <= end else { throw JSONSyntaxError(.unexpectedEnd, at: end) }
        var v: UInt32 = 0
        for i in 0..<4 {
            guard let h = Self.hexValue(base[p + i]) else { throw JSONSyntaxError(.invalidEscape, at: p + i) }
            v = v << 4 | h
        }
        return v
    }

    /// Validates one escape at `pos` (a backslash) and moves past it.
    private mutating func scanEscape() throws(JSONSyntaxError) {
        guard pos + 1 < end else { throw JSONSyntaxError(.unexpectedEnd, at: end) }
        switch base[pos + 1] {
        case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74:
            pos += 2
        case 0x75:  // u
            let v = try readHex4(at: pos + 2)
            if v >= 0xD800 && v <= 0xDBFF {
                guard pos + 7 < end, base[pos + 6] == 0x5C, base[pos + 7] == 0x75 else {
                    throw JSONSyntaxError(.unpairedSurrogate, at: pos)
                }
                let low = try readHex4(at: pos + 8)
                guard low >= 0xDC00 && low <= 0xDFFF else { throw JSONSyntaxError(.unpairedSurrogate, at: pos) }
                pos += 12
            } else if v >= 0xDC00 && v <= 0xDFFF {
                throw JSONSyntaxError(.unpairedSurrogate, at: pos)
            } else {
                pos += 6
            }
        default:
            throw JSONSyntaxError(.invalidEscape, at: pos)
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `pos` (lead byte ≥ 0x80) and moves past it.
    private mutating func scanUTF8Sequence() throws(JSONSyntaxError) {
        let c = base[pos]
        let need: Int
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F
        default: throw JSONSyntaxError(.invalidUTF8, at: pos)
        }
        guard pos + need < end else { throw JSONSyntaxError(.invalidUTF8, at: pos) }
        let c1 = base[pos + 1]
        guard c1 >= lo && c1 <= hi else { throw JSONSyntaxError(.invalidUTF8, at: pos + 1) }
        var i = 2
        while i <= need {
            guard base[pos + i] & 0xC0 == 0x80 else { throw JSONSyntaxError(.invalidUTF8, at: pos + i) }
            i += 1
        }
        pos += need + 1
    }

    /// Appends the decoded UTF-8 bytes of an already validated string token to `out`.
    package func decodeString(_ token: JSONStringToken, into out: inout [UInt8]) {
        var i = token.start
        let e = token.end
        while i < e {
            let c = base[i]
            if c != 0x5C {
                out.append(c)
                i += 1
                continue
            }
            let k = base[i + 1]
            switch k {
            case 0x62: out.append(0x08); i += 2
            case 0x66: out.append(0x0C); i += 2
            case 0x6E: out.append(0x0A); i += 2
            case 0x72: out.append(0x0D); i += 2
            case 0x74: out.append(0x09); i += 2
            case 0x75:
                var v: UInt32 = 0
                for j in 0..<4 { v = v << 4 | (Self.hexValue(base[i + 2 + j]) ?? 0) }
                i += 6
                if v >= 0xD800 && v <= 0xDBFF {
                    var low: UInt32 = 0
                    for j in 0..<4 { low = low << 4 | (Self.hexValue(base[i + 2 + j]) ?? 0) }
                    i += 6
                    v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                }
                Self.appendUTF8(v, to: &out)
            default:  // " \ /
                out.append(k)
                i += 2
            }
        }
    }

    package static func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
        switch v {
        case 0..<0x80:
            out.append(UInt8(v))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (v >> 6)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (v >> 12)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (v >> 18)))
            out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    // MARK: Skipping values

    /// Skips one complete value of any kind, iteratively (no recursion), validating it.
    ///
    /// Sets ``sawNonFinite`` when a `NaN`/`Infinity` literal is skipped and
    /// ``sawInnerWhitespace`` when whitespace occurs inside a container.
    package mutating func skipValue() throws(JSONSyntaxError) {
        var depth = 0
        var objectBits: UInt64 = 0  // bit d set: level d is an object
        while true {
            // Expecting a value.
            guard pos < end else { throw JSONSyntaxError(.unexpectedEnd, at: pos) }
            let c = base[pos]
            switch c {
            case 0x7B, 0x5B:  // { [
                guard depth < maxDepth else { throw JSONSyntaxError(.tooDeep(maxDepth), at: pos) }
                let isObject = c == 0x7B
                if isObject { objectBits |= 1 << UInt64(depth) } else { objectBits &= ~(1 << UInt64(depth)) }
                depth += 1
                pos += 1
                if skipWhitespace() { sawInnerWhitespace = true }
                guard pos < end else { throw JSONSyntaxError(.unexpectedEnd, at: pos) }
                if base[pos] == (isObject ? 0x7D : 0x5D) {
                    pos += 1
                    depth -= 1
                    break  // an empty container is a complete value
                }
                if isObject {
                    try scanKeyAndColon()
                }
                continue
            case 0x22:
                _ = try scanString()
            case 0x2D, 0x30...0x39:
                if c == 0x2D && pos + 1 < end && base[pos + 1] == 0x49 {  // -Infinity
                    guard scanNonFiniteLiteral() else { throw JSONSyntaxError(.invalidNumber, at: pos) }
                    sawNonFinite = true
                } else {
                    _ = try scanNumber()
                }
            case 0x74, 0x66, 0x6E:
                _ = try scanLiteral()
            case 0x4E, 0x49:  // N I
                guard scanNonFiniteLiteral() else { throw JSONSyntaxError(.invalidLiteral, at: pos) }
                sawNonFinite = true
            default:
                throw JSONSyntaxError(.expectedValue, at: pos)
            }
            // After a complete value: close containers or move to the next element.
            while true {
                if depth == 0 { return }
                if skipWhitespace() { sawInnerWhitespace = true }
                guard pos < end else { throw JSONSyntaxError(.unexpectedEnd, at: pos) }
                let d = base[pos]
                let inObject = objectBits & (1 << UInt64(depth - 1)) != 0
                if d == 0x2C {
                    pos += 1
                    if skipWhitespace() { sawInnerWhitespace = true }
                    if inObject { try scanKeyAndColon() }
                    break
                } else if d == (inObject ? 0x7D : 0x5D) {
                    pos += 1
                    depth -= 1
                } else {
                    throw JSONSyntaxError(.expectedCommaOrEnd, at: pos)
                }
            }
        }
    }

    /// Scans `"key" :` and the whitespace after the colon.
    @inline(__always)
    private mutating func scanKeyAndColon() throws(JSONSyntaxError) {
        guard pos < end else { throw JSONSyntaxError(.unexpectedEnd, at: pos) }
        guard base[pos] == 0x22 else { throw JSONSyntaxError(.expectedKey, at: pos) }
        _ = try scanString()
        if skipWhitespace() { sawInnerWhitespace = true }
        try expect(0x3A, .expectedColon)
        if skipWhitespace() { sawInnerWhitespace = true }
    }

    // MARK: Compaction

    /// Appends the bytes of a validated value with all insignificant whitespace removed.
    ///
    /// Strings (with their escapes) and numbers are copied verbatim, so key order and number text
    /// are preserved.
    package static func appendCompact(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var inString = false
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            if inString {
                out.append(c)
                if c == 0x5C {
                    out.append(bytes[i + 1])
                    i += 2
                    continue
                }
                if c == 0x22 { inString = false }
            } else if c == 0x22 {
                inString = true
                out.append(c)
            } else if !isWhitespace(c) {
                out.append(c)
            }
            i += 1
        }
    }
}
