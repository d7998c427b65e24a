/// The one writer of every JSON text tokentra serves or prints (RFC 8259).
///
/// A streaming builder: values are appended in order, commas and colons are placed by the writer,
/// so a caller cannot produce `{"a":1"b":2}`. Numbers are always valid JSON numbers:
/// - integers as decimal digits;
/// - money (``MoneySum``, 1e-10 USD units) as its exact decimal text, every digit kept;
/// - doubles through ``JSONNumber/format(_:fractionDigits:)``: never `613.`, `NaN` or `inf`
///   (a non-finite double is written as `null`).
///
/// ```swift
/// var w = JSONWriter()
/// w.object {
///     $0.field("total_cost", money: units)
///     $0.field("p50_latency_ms", 613.0)   // 613
///     $0.key("models"); $0.array { for m in models { $0.string(m) } }
/// }
/// print(w.text)
/// ```
public struct JSONWriter: Sendable {
    public private(set) var text: String = ""
    /// One flag per open container: does the next value need a comma before it?
    private var needsComma: [Bool] = []
    /// Set by ``key(_:)``: the next value completes a member and takes no comma.
    private var afterKey = false

    public init() { text.reserveCapacity(256) }

    // MARK: Containers

    public mutating func beginObject() { prepareValue(); text += "{"; needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); text += "}" }
    public mutating func beginArray() { prepareValue(); text += "["; needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); text += "]" }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        beginObject(); body(&self); endObject()
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        beginArray(); body(&self); endArray()
    }

    /// Starts an object member; the next value written is its value.
    public mutating func key(_ name: String) {
        prepareValue()
        JSONWriter.appendString(name, to: &text)
        text += ":"
        afterKey = true
    }

    // MARK: Scalars

    public mutating func string(_ s: String?) {
        prepareValue()
        if let s { JSONWriter.appendString(s, to: &text) } else { text += "null" }
    }

    public mutating func int(_ v: Int?) { integer(v) }
    public mutating func int(_ v: Int64?) { integer(v) }
    public mutating func int(_ v: UInt64?) { integer(v) }
    public mutating func int(_ v: Int128?) { integer(v) }

    private mutating func integer<T: BinaryInteger>(_ v: T?) {
        prepareValue()
        if let v { text += String(v) } else { text += "null" }
    }

    /// A double with up to `fractionDigits` decimals (trailing zeros dropped); `nil` and
    /// non-finite values are `null`.
    public mutating func double(_ v: Double?, fractionDigits: Int = 3) {
        prepareValue()
        if let v, let t = JSONNumber.format(v, fractionDigits: fractionDigits) { text += t } else { text += "null" }
    }

    /// An exact amount in 1e-10 USD units as a JSON number with every digit.
    public mutating func money(_ units: Int128?) {
        prepareValue()
        if let units { text += MoneySum(units).description } else { text += "null" }
    }

    public mutating func bool(_ v: Bool?) {
        prepareValue()
        if let v { text += v ? "true" : "false" } else { text += "null" }
    }

    public mutating func null() { prepareValue(); text += "null" }

    /// A JSON text produced by another ``JSONWriter`` (or by a codec whose output is tested to be
    /// JSON), inserted as one value.
    public mutating func raw(_ json: String) { prepareValue(); text += json }

    // MARK: Members

    public mutating func field(_ name: String, _ s: String?) { key(name); string(s) }
    public mutating func field(_ name: String, _ v: Int?) { key(name); int(v) }
    public mutating func field(_ name: String, _ v: Int64?) { key(name); int(v) }
    public mutating func field(_ name: String, _ v: UInt64?) { key(name); int(v) }
    public mutating func field(_ name: String, _ v: Int128?) { key(name); int(v) }
    public mutating func field(_ name: String, _ v: Double?, fractionDigits: Int = 3) {
        key(name); double(v, fractionDigits: fractionDigits)
    }
    public mutating func field(_ name: String, money units: Int128?) { key(name); money(units) }
    public mutating func field(_ name: String, _ v: Bool?) { key(name); bool(v) }
    public mutating func field(_ name: String, strings: [String]) {
        key(name); array { for s in strings { $0.string(s) } }
    }
    public mutating func field(_ name: String, object body: (inout JSONWriter) -> Void) { key(name); object(body) }
    public mutating func field(_ name: String, array body: (inout JSONWriter) -> Void) { key(name); array(body) }
    public mutating func field(_ name: String, raw json: String) { key(name); raw(json) }

    // MARK: Internals

    private mutating func prepareValue() {
        if afterKey { afterKey = false; return }
        guard let last = needsComma.indices.last else { return }
        if needsComma[last] { text += "," } else { needsComma[last] = true }
    }

    /// Appends `s` as a JSON string literal: `"` and `\` escaped, control characters as
    /// `\n`, `\r`, `\t` or `\u00XX`; everything else (all of Unicode) as UTF-8.
    public static func appendString(_ s: String, to out: inout String) {
        out += "\""
        var needsEscape = false
        for b in s.utf8 where b < 0x20 || b == 34 || b == 92 { needsEscape = true; break }
        if !needsEscape {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if scalar.value < 0x20 {
                        let hex = String(scalar.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
        }
        out += "\""
    }

    /// `s` as a JSON string literal.
    public static func quoted(_ s: String) -> String {
        var out = ""
        appendString(s, to: &out)
        return out
    }
}

/// Doubles as RFC 8259 number text.
public enum JSONNumber {
    /// `x` rounded half away from zero to `fractionDigits` decimals, trailing zeros and a bare
    /// point dropped: 613 → `613`, 0.5 → `0.5`, 1/3 → `0.333`, -0.0004 → `0`. Values too large to
    /// scale exactly use Swift's shortest round-trip text (`1e+16`). `nil` for NaN and infinities, which JSON cannot
    /// express.
    public static func format(_ x: Double, fractionDigits: Int = 3) -> String? {
        guard x.isFinite else { return nil }
        let digits = max(0, min(fractionDigits, 9))
        var pow10: Int64 = 1
        for _ in 0..<digits { pow10 *= 10 }
        let scaled = (x * Double(pow10)).rounded(.toNearestOrAwayFromZero)
        guard abs(scaled) < 9_007_199_254_740_992 else {
            // Beyond 2^53 the scaled value is no longer exact: Swift's shortest round-trip text
            // (`99999999999999.5`, `1e+16`) is already a valid JSON number.
            let t = x.description
            return t.hasSuffix(".0") ? String(t.dropLast(2)) : t
        }
        let n = Int64(scaled)
        if n == 0 { return "0" }
        let magnitude = n.magnitude
        let whole = magnitude / UInt64(pow10)
        var frac = magnitude % UInt64(pow10)
        var text = n < 0 ? "-" : ""
        text += String(whole)
        guard frac != 0 else { return text }
        var width = digits
        while frac % 10 == 0 { frac /= 10; width -= 1 }
        let f = String(frac)
        text += "." + String(repeating: "0", count: width - f.count) + f
        return text
    }
}
