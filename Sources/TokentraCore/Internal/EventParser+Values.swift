/// Typed values of ``EventParser``: token counts, milliseconds, exact money, booleans, the
/// metadata object and the host objects.
extension EventParser {
    /// The number at the current position, or nil when there is none: `null` (nothing reported),
    /// a non-finite literal or another type (both reported as the field's error). `present` runs
    /// first for any value but `null`.
    @inline(__always)
    mutating func number(_ key: Int, expected: String, present: (inout Self) -> Void = { _ in }) throws(JSONSyntaxError) -> JSONNumberToken? {
        let c = s.base[s.pos]
        guard c == 0x2D || (c >= 0x30 && c <= 0x39) else {
            if c == 0x6E {
                _ = try s.scanLiteral()
                return nil
            }
            present(&self)
            if nonFinite(keyName(key)) { return nil }
            try wrongType(keyName(key), expected: expected)
            return nil
        }
        present(&self)
        if c == 0x2D && s.pos + 1 < s.end && s.base[s.pos + 1] == 0x49 {
            _ = nonFinite(keyName(key))
            return nil
        }
        return try s.scanNumber()
    }

    /// A token count: a non-negative integer (`12.0` is accepted as 12), or nil for null.
    mutating func tokens(_ key: Int) throws(JSONSyntaxError) -> Int64? {
        guard let n = try number(key, expected: "an integer") else { return nil }
        if n.overflowsDouble {
            fail(.nonFiniteNumber, "field \(keyName(key)) overflows: \(text(n.start, n.end))", field: keyName(key))
            return nil
        }
        let magnitude = JSONScanner.integerMagnitude(n)
        if n.negative && magnitude != .value(0) {
            fail(.negativeTokens, "field \(keyName(key)) must not be negative, got \(text(n.start, n.end))", field: keyName(key))
            return nil
        }
        switch magnitude {
        case .value(let v):
            guard v <= config.maxTokens else {
                fail(.invalidValue, "field \(keyName(key)) is \(v), more than the maximum \(config.maxTokens)", field: keyName(key))
                return nil
            }
            return v
        case .fractional:
            fail(.invalidValue, "field \(keyName(key)) must be an integer, got \(text(n.start, n.end))", field: keyName(key))
            return nil
        case .overflow:
            fail(.nonFiniteNumber, "field \(keyName(key)) overflows: \(text(n.start, n.end))", field: keyName(key))
            return nil
        }
    }

    /// A duration in ms: a non-negative number rounded half-up to an integer, or nil for null.
    mutating func millis(_ key: Int) throws(JSONSyntaxError) -> Int64? {
        guard let n = try number(key, expected: "a number") else { return nil }
        guard !n.overflowsDouble, let v = JSONScanner.roundedMagnitude(n) else {
            fail(.nonFiniteNumber, "field \(keyName(key)) overflows: \(text(n.start, n.end))", field: keyName(key))
            return nil
        }
        if n.negative && (n.mantissa != 0 || n.droppedNonZero) {
            fail(.negativeValue, "field \(keyName(key)) must not be negative, got \(text(n.start, n.end))", field: keyName(key))
            return nil
        }
        return v
    }

    private static let powersOf10: [Int64] = {
        var p: [Int64] = [1]
        for _ in 1...18 { p.append(p.last! * 10) }
        return p
    }()

    /// A cost in USD: an exact decimal with at most 10 places, non-negative, or nil for null.
    mutating func money(_ key: Int) throws(JSONSyntaxError) -> Money? {
        guard let n = try number(key, expected: "a number", present: { $0.sawCost = true }) else { return nil }
        if n.overflowsDouble {
            fail(.nonFiniteNumber, "field \(keyName(key)) overflows: \(text(n.start, n.end))", field: keyName(key))
            return nil
        }
        if n.negative && (n.mantissa != 0 || n.droppedNonZero) {
            fail(.invalidCost, "field \(keyName(key)) must not be negative, got \(text(n.start, n.end))", field: keyName(key))
            return nil
        }
        if n.mantissa == 0 && !n.droppedNonZero { return .zero }
        // Fast path: the value is exactly mantissa × 10^scale.
        if !n.droppedNonZero {
            let shift = n.scale + Money.decimalPlaces
            if shift >= 0 {
                if shift <= 18 {
                    let (r, o) = n.mantissa.multipliedReportingOverflow(by: UInt64(Self.powersOf10[shift]))
                    if !o && r <= UInt64(Int64.max) { return Money(units: Int64(r)) }
                }
            } else if shift >= -18 {
                let p = UInt64(Self.powersOf10[-shift])
                if n.mantissa % p == 0 && n.mantissa / p <= UInt64(Int64.max) { return Money(units: Int64(n.mantissa / p)) }
            }
        }
        // Slow path: exact classification of the error (or of exotic spellings).
        do {
            // Client costs often come from float arithmetic (0.034019999999999995): round them
            // half to even to the 1e-10 unit instead of rejecting the event.
            return try Money.parse(UnsafeBufferPointer(start: s.base + n.start, count: n.end - n.start), rounding: true)
        } catch {
            fail(.invalidCost, "field \(keyName(key)) is out of range: \(text(n.start, n.end))", field: keyName(key))
        }
        return nil
    }

    mutating func bool(_ key: Int) throws(JSONSyntaxError) -> Bool? {
        let c = s.base[s.pos]
        if c == 0x74 || c == 0x66 || c == 0x6E {
            let first = try s.scanLiteral()
            return first == 0x6E ? nil : first == 0x74
        }
        if nonFinite(keyName(key)) { return nil }
        try wrongType(keyName(key), expected: "a boolean")
        return nil
    }

    mutating func parseMetadata(_ key: Int) throws(JSONSyntaxError) {
        let c = s.base[s.pos]
        guard c == 0x7B else {
            if c == 0x6E {
                _ = try s.scanLiteral()
                return
            }
            if nonFinite("metadata") { return }
            return try wrongType("metadata", expected: "an object")
        }
        let start = s.pos
        s.sawInnerWhitespace = false
        s.sawNonFinite = false
        try s.skipValue()
        let end = s.pos
        if s.sawNonFinite {
            return fail(.nonFiniteNumber, "field metadata contains NaN or Infinity, which JSON does not allow", field: "metadata")
        }
        let raw = UnsafeBufferPointer(start: s.base + start, count: end - start)
        let limit = config.maxMetadataBytes
        if !s.sawInnerWhitespace {
            if raw.count == 2 { return }  // {}
            guard raw.count <= limit else {
                return fail(.metadataTooLarge, "field metadata is \(raw.count) bytes, the limit is \(limit)", field: "metadata")
            }
            metadata = TextRef(start: start, count: end - start, inArena: false)
            return
        }
        if raw.count > limit {
            let compact = Self.compactCount(raw)
            if compact > limit {
                return fail(.metadataTooLarge, "field metadata is \(compact) bytes, the limit is \(limit)", field: "metadata")
            }
        }
        let compactStart = arena.count
        JSONScanner.appendCompact(raw, to: &arena)
        if arena.count - compactStart == 2 {  // {}
            arena.removeLast(2)
            return
        }
        metadata = TextRef(start: compactStart, count: arena.count - compactStart, inArena: true)
    }

    static func compactCount(_ raw: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        var inString = false
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if inString {
                count += 1
                if c == 0x5C {
                    count += 1
                    i += 2
                    continue
                }
                if c == 0x22 { inString = false }
            } else if c == 0x22 {
                inString = true
                count += 1
            } else if !JSONScanner.isWhitespace(c) {
                count += 1
            }
            i += 1
        }
        return count
    }

    /// A nested host object: `{"hostname":…, "cloud_provider":…, "instance_id":…, "k8s":{"pod":…}}`.
    mutating func parseHost(_ key: Int) throws(JSONSyntaxError) {
        let name = keyName(key)
        let c = s.base[s.pos]
        guard c == 0x7B else {
            if c == 0x6E {
                _ = try s.scanLiteral()
                return
            }
            if nonFinite(name) { return }
            return try wrongType(name, expected: "an object")
        }
        try parseHostObject(prefix: name, keys: hostObjectKeys, level: 2)
    }

    mutating func parseHostObject(prefix: String, keys: [String: EventField], level: Int) throws(JSONSyntaxError) {
        guard level <= s.maxDepth + 1 else { throw JSONSyntaxError(.tooDeep(s.maxDepth + 1), at: s.pos) }
        s.pos += 1  // {
        s.skipWhitespace()
        if s.peek == 0x7D {
            s.pos += 1
            return
        }
        while true {
            guard s.peek == 0x22 else { throw JSONSyntaxError(s.atEnd ? .unexpectedEnd : .expectedKey, at: s.pos) }
            let keyToken = try s.scanString()
            let key = withBytes(keyToken) { String(decoding: $0, as: UTF8.self) }
            s.skipWhitespace()
            try s.expect(0x3A, .expectedColon)
            s.skipWhitespace()
            guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
            let path = prefix + "." + key
            if let field = keys[key] {
                if let token = try stringToken(0, path: path, level: level), token.count > 0,
                    let value = string(token, key: 0, path: path, limit: config.maxStringLength)
                {
                    mergeHost(field, value, name: path)
                }
            } else if (key == "k8s" || key == "kubernetes") && s.base[s.pos] == 0x7B && level == 2 {
                try parseHostObject(prefix: path, keys: kubernetesObjectKeys, level: level + 1)
            } else {
                s.sawNonFinite = false
                try skipValue(level: level)
                if s.sawNonFinite {
                    fail(.nonFiniteNumber, "field \(path) contains NaN or Infinity, which JSON does not allow", field: path)
                }
            }
            s.skipWhitespace()
            guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
            let d = s.base[s.pos]
            if d == 0x2C {
                s.pos += 1
                s.skipWhitespace()
            } else if d == 0x7D {
                s.pos += 1
                return
            } else {
                throw JSONSyntaxError(.expectedCommaOrEnd, at: s.pos)
            }
        }
    }
}
