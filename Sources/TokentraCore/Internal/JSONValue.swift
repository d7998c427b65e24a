/// A small JSON document model for configuration files (price tables) and tests.
///
/// Numbers keep their exact text (``number(_:)``), so money is never routed through `Double`.
/// Object members keep their order. Parsing is recursive but capped at 64 levels by the scanner
/// rules, so it is only used for small, trusted-ish files, never on the event hot path.
package enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    package static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member `key` of an object (the last one if repeated).
    package subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    /// Parses a complete JSON text (surrounding whitespace allowed).
    package static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> JSONValue {
        guard let base = bytes.baseAddress, bytes.count > 0 else { throw JSONSyntaxError(.unexpectedEnd, at: 0) }
        var s = JSONScanner(base: base, end: bytes.count)
        s.skipWhitespace()
        let value = try parseValue(&s, depth: 0)
        s.skipWhitespace()
        guard s.atEnd else { throw JSONSyntaxError(.trailingData, at: s.pos) }
        return value
    }

    package static func parse(_ text: some StringProtocol) throws(JSONSyntaxError) -> JSONValue {
        var bytes = Array(text.utf8)
        let count = bytes.count
        return try bytes.withUnsafeMutableBufferPointer { (buffer) throws(JSONSyntaxError) -> JSONValue in
            guard count > 0 else { throw JSONSyntaxError(.unexpectedEnd, at: 0) }
            return try parse(UnsafeBufferPointer(buffer))
        }
    }

    private static func string(_ s: JSONScanner, _ token: JSONStringToken) -> String {
        if !token.hasEscapes {
            return String(decoding: UnsafeBufferPointer(start: s.base + token.start, count: token.count), as: UTF8.self)
        }
        var out: [UInt8] = []
        s.decodeString(token, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func parseValue(_ s: inout JSONScanner, depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
        let c = s.base[s.pos]
        switch c {
        case 0x7B, 0x5B:
            guard depth < s.maxDepth else { throw JSONSyntaxError(.tooDeep(s.maxDepth), at: s.pos) }
            let isObject = c == 0x7B
            s.pos += 1
            s.skipWhitespace()
            var members: [(String, JSONValue)] = []
            var elements: [JSONValue] = []
            if s.peek == (isObject ? 0x7D : 0x5D) {
                s.pos += 1
                return isObject ? .object([]) : .array([])
            }
            while true {
                if isObject {
                    guard s.peek == 0x22 else { throw JSONSyntaxError(s.atEnd ? .unexpectedEnd : .expectedKey, at: s.pos) }
                    let key = string(s, try s.scanString())
                    s.skipWhitespace()
                    try s.expect(0x3A, .expectedColon)
                    s.skipWhitespace()
                    members.append((key, try parseValue(&s, depth: depth + 1)))
                } else {
                    elements.append(try parseValue(&s, depth: depth + 1))
                }
                s.skipWhitespace()
                guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
                let d = s.base[s.pos]
                if d == 0x2C {
                    s.pos += 1
                    s.skipWhitespace()
                } else if d == (isObject ? 0x7D : 0x5D) {
                    s.pos += 1
                    return isObject ? .object(members) : .array(elements)
                } else {
                    throw JSONSyntaxError(.expectedCommaOrEnd, at: s.pos)
                }
            }
        case 0x22:
            return .string(string(s, try s.scanString()))
        case 0x2D, 0x30...0x39:
            let n = try s.scanNumber()
            return .number(String(decoding: UnsafeBufferPointer(start: s.base + n.start, count: n.end - n.start), as: UTF8.self))
        case 0x74, 0x66, 0x6E:
            switch try s.scanLiteral() {
            case 0x74: return .bool(true)
            case 0x66: return .bool(false)
            default: return .null
            }
        default:
            throw JSONSyntaxError(.expectedValue, at: s.pos)
        }
    }
}

extension JSONValue {
    /// Compact JSON text of the value (numbers keep their exact text).
    package var compactText: String {
        var w = JSONWriter()
        write(to: &w)
        return w.text
    }

    package func write(to w: inout JSONWriter) {
        switch self {
        case .null: w.null()
        case .bool(let b): w.bool(b)
        case .number(let n): w.raw(n)
        case .string(let s): w.string(s)
        case .array(let items): w.array { for v in items { v.write(to: &$0) } }
        case .object(let members): w.object { for (k, v) in members { $0.key(k); v.write(to: &$0) } }
        }
    }
}
