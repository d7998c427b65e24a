/// An exact amount of US dollars in fixed point with 10 decimal places (the seed's `DECIMAL(18,10)`).
///
/// Amounts are parsed from the JSON text of a number, never through `Double`, so `0.1 + 0.2` is
/// exactly `0.3`. One event's amount fits `Int64` (up to ±922,337,203.6854775807 USD); sums use
/// ``MoneySum`` (Int128) so they never overflow silently.
///
/// ```swift
/// let m = try Money(parsing: "0.0108094")
/// m.description // "0.0108094"
/// ```
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Units of 1e-10 USD.
    public var units: Int64

    /// Ten to the number of decimal places.
    public static let scale: Int64 = 10_000_000_000
    public static let decimalPlaces = 10
    public static let zero = Money(units: 0)

    public init(units: Int64) { self.units = units }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.units < rhs.units }

    /// Parses a JSON number's text exactly.
    ///
    /// Accepts an optional minus sign, digits, an optional fraction and an optional exponent
    /// (`1.5e-7`). Digits beyond the 10th decimal place must be zero.
    /// - Throws: ``MoneyParseError`` when the text is not a number, has more than 10 significant
    ///   decimal places, or does not fit.
    public init(parsing text: some StringProtocol) throws(MoneyParseError) {
        var bytes = Array(text.utf8)
        self = try bytes.withUnsafeMutableBufferPointer { buffer throws(MoneyParseError) in
            try Money.parse(UnsafeBufferPointer(buffer))
        }
    }

    /// Parses the bytes of a JSON number exactly (see ``init(parsing:)``).
    /// - Parameter rounding: when true, digits beyond the 10th decimal place are rounded half to
    ///   even instead of rejected (for client costs computed in floating point, such as the seed
    ///   SDK's `0.034019999999999995`).
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, rounding: Bool = false) throws(MoneyParseError) -> Money {
        var i = 0
        let n = bytes.count
        var negative = false
        if i < n, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        // Collect significant digits as a decimal mantissa with an exponent.
        var mantissa: Int128 = 0
        var exponent = 0
        var sawDigit = false
        var mantissaDigits = 0
        var sticky = false  // a non-zero digit was dropped beyond the 36 kept (rounding mode only)
        while i < n, bytes[i] >= 48, bytes[i] <= 57 {
            sawDigit = true
            if mantissaDigits < 36 {
                mantissa = mantissa * 10 + Int128(bytes[i] - 48)
                if mantissa != 0 { mantissaDigits += 1 }
            } else {
                throw .outOfRange
            }
            i += 1
        }
        if i < n, bytes[i] == UInt8(ascii: ".") {
            i += 1
            var fractionDigit = false
            while i < n, bytes[i] >= 48, bytes[i] <= 57 {
                fractionDigit = true
                if mantissaDigits < 36 {
                    mantissa = mantissa * 10 + Int128(bytes[i] - 48)
                    if mantissa != 0 { mantissaDigits += 1 }
                    exponent -= 1
                } else if bytes[i] != 48 {
                    if !rounding { throw .tooPrecise }
                    sticky = true
                }
                i += 1
            }
            if !fractionDigit { throw .notANumber }
        }
        if !sawDigit { throw .notANumber }
        if i < n, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            var expNegative = false
            if i < n, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") {
                expNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            var e = 0
            var expDigit = false
            while i < n, bytes[i] >= 48, bytes[i] <= 57 {
                expDigit = true
                if e < 10_000 { e = e * 10 + Int(bytes[i] - 48) }
                i += 1
            }
            if !expDigit { throw .notANumber }
            exponent += expNegative ? -e : e
        }
        if i != n { throw .notANumber }
        // value = mantissa * 10^exponent; units = value * 10^10
        var shift = exponent + Money.decimalPlaces
        if mantissa == 0 { return Money(units: 0) }
        if shift < 0 && rounding {
            // Divide by 10^-shift, rounding half to even; `sticky` breaks ties upward.
            var divisor: Int128 = 1
            for _ in 0..<min(-shift, 38) { divisor *= 10 }
            if -shift > 38 { return Money(units: 0) }
            var q = mantissa / divisor
            let r = mantissa % divisor
            let twice = r * 2
            if twice > divisor || (twice == divisor && (sticky || q % 2 != 0)) { q += 1 }
            mantissa = q
            shift = 0
        }
        while shift < 0 {
            if mantissa % 10 != 0 { throw .tooPrecise }
            mantissa /= 10
            shift += 1
        }
        while shift > 0 {
            mantissa *= 10
            shift -= 1
            if mantissa > Int128(Int64.max) { throw .outOfRange }
        }
        if mantissa > Int128(Int64.max) { throw .outOfRange }
        let units = Int64(mantissa)
        return Money(units: negative ? -units : units)
    }

    /// The exact decimal text: no exponent, no trailing zeros, `0` for zero.
    public var description: String { MoneySum(Int128(units)).description }

    public static func + (lhs: Money, rhs: Money) -> Money { Money(units: lhs.units + rhs.units) }
    public static func - (lhs: Money, rhs: Money) -> Money { Money(units: lhs.units - rhs.units) }

    /// Adds, reporting overflow instead of trapping.
    public func adding(_ other: Money) -> Money? {
        let (r, o) = units.addingReportingOverflow(other.units)
        return o ? nil : Money(units: r)
    }
}

/// Why a money amount could not be parsed.
public enum MoneyParseError: Error, Sendable, Equatable {
    case notANumber
    case tooPrecise
    case outOfRange
}

/// A sum of ``Money`` amounts in 1e-10 USD units, wide enough (Int128) that no realistic sum overflows.
public struct MoneySum: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var units: Int128
    public static let zero = MoneySum(0)
    public init(_ units: Int128) { self.units = units }
    public init(_ money: Money) { self.units = Int128(money.units) }
    public static func < (lhs: MoneySum, rhs: MoneySum) -> Bool { lhs.units < rhs.units }
    public static func += (lhs: inout MoneySum, rhs: Money) { lhs.units += Int128(rhs.units) }
    public static func += (lhs: inout MoneySum, rhs: MoneySum) { lhs.units += rhs.units }
    public static func + (lhs: MoneySum, rhs: MoneySum) -> MoneySum { MoneySum(lhs.units + rhs.units) }

    /// The exact decimal text: no exponent, trailing zeros trimmed, `0` for zero.
    public var description: String {
        let negative = units < 0
        let magnitude = negative ? UInt128(bitPattern: 0 &- units) : UInt128(units)
        let scale = UInt128(Money.scale)
        let whole = magnitude / scale
        var fraction = magnitude % scale
        var text = negative ? "-" : ""
        text += String(whole)
        if fraction != 0 {
            var digits = [UInt8](repeating: 48, count: Money.decimalPlaces)
            var k = Money.decimalPlaces - 1
            while fraction > 0 {
                digits[k] = 48 + UInt8(fraction % 10)
                fraction /= 10
                k -= 1
            }
            while digits.last == 48 { digits.removeLast() }
            text += "." + String(decoding: digits, as: UTF8.self)
        }
        return text
    }

    /// The nearest `Double`, for averages and display only; never used for stored sums.
    public var approximateValue: Double { Double(units) / Double(Money.scale) }
}
