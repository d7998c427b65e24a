/// ISO-8601 timestamps ↔ milliseconds since the Unix epoch (UTC), without Foundation.
///
/// Accepted input: `YYYY-MM-DDTHH:MM:SS[.fraction]` followed by `Z` or an offset `±HH:MM` or
/// `±HHMM`. `t`/`z` may be lower case and a single space may replace `T`. The fraction has 1–9
/// digits (`,` is accepted as the decimal mark, as ISO-8601 allows); digits below the millisecond
/// are truncated (`.1239` → 123 ms), never rounded, so a
/// timestamp never moves into the next millisecond (or hour bucket). The calendar is validated
/// (month lengths, Gregorian leap years); seconds are 00–59 (no leap second), offsets up to ±23:59.
/// A time zone is required: a naive `2026-11-24T19:30:00` is rejected, because guessing UTC would
/// silently shift events from other zones.
///
/// ```swift
/// let ms = try UTCTimestamp.parse("2026-11-24T20:30:00.123+01:00").get()  // 1795548600123
/// UTCTimestamp.format(ms)                                                 // "2026-11-24T19:30:00.123Z"
/// ```
public enum UTCTimestamp {
    /// Why a timestamp was rejected.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
    @inline(__always)
    public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day number counted from 1970-01-01.
    @inline(__always)
    public static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    @inline(__always)
    static func isLeapYear(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    @inline(__always)
    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Parses the bytes of an ISO-8601 timestamp (see ``UTCTimestamp``).
    /// - Returns: milliseconds since the epoch, or why the text was rejected.
    public static func parse(_ b: UnsafeBufferPointer<UInt8>) -> Result<Int64, ParseError> {
        let n = b.count
        @inline(__always) func digit(_ i: Int) -> Int64? {
            guard i < n else { return nil }
            let c = b[i]
            return c >= 0x30 && c <= 0x39 ? Int64(c - 0x30) : nil
        }
        @inline(__always) func number(_ i: Int, _ width: Int) -> Int64? {
            var v: Int64 = 0
            for k in 0..<width {
                guard let d = digit(i + k) else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard n >= 20 else { return .failure(ParseError("too short for YYYY-MM-DDTHH:MM:SSZ")) }
        guard let year = number(0, 4), b[4] == 0x2D, let month = number(5, 2), b[7] == 0x2D,
            let day = number(8, 2)
        else { return .failure(ParseError("the date must be YYYY-MM-DD")) }
        let sep = b[10]
        guard sep == 0x54 || sep == 0x74 || sep == 0x20 else {
            return .failure(ParseError("expected 'T' between date and time"))
        }
        guard let hour = number(11, 2), b[13] == 0x3A, let minute = number(14, 2), b[16] == 0x3A,
            let second = number(17, 2)
        else { return .failure(ParseError("the time must be HH:MM:SS")) }
        guard month >= 1 && month <= 12 else { return .failure(ParseError("month \(month) is out of range")) }
        guard day >= 1 && day <= daysInMonth(year: year, month: month) else {
            return .failure(ParseError("day \(day) is out of range for \(year)-\(month < 10 ? "0" : "")\(month)"))
        }
        guard hour <= 23, minute <= 59, second <= 59 else {
            return .failure(ParseError("time \(hour):\(minute):\(second) is out of range"))
        }
        var i = 19
        var millis: Int64 = 0
        if i < n && (b[i] == 0x2E || b[i] == 0x2C) {
            i += 1
            var digits = 0
            while let d = digit(i) {
                if digits < 3 { millis = millis * 10 + d }
                digits += 1
                i += 1
            }
            guard digits >= 1 && digits <= 9 else {
                return .failure(ParseError("the fraction of a second must have 1 to 9 digits"))
            }
            if digits < 3 { for _ in digits..<3 { millis *= 10 } }
        }
        guard i < n else { return .failure(ParseError("missing time zone (Z or ±HH:MM)")) }
        var offsetMinutes: Int64 = 0
        let z = b[i]
        if z == 0x5A || z == 0x7A {
            i += 1
        } else if z == 0x2B || z == 0x2D {
            guard let oh = number(i + 1, 2) else { return .failure(ParseError("invalid time zone offset")) }
            var j = i + 3
            if j < n && b[j] == 0x3A { j += 1 }
            guard let om = number(j, 2), oh <= 23, om <= 59 else {
                return .failure(ParseError("invalid time zone offset"))
            }
            offsetMinutes = (oh * 60 + om) * (z == 0x2D ? -1 : 1)
            i = j + 2
        } else {
            return .failure(ParseError("missing time zone (Z or ±HH:MM)"))
        }
        guard i == n else { return .failure(ParseError("unexpected text after the time zone")) }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        return .success(seconds * 1000 + millis)
    }

    /// Parses an ISO-8601 timestamp string (see ``parse(_:)-(UnsafeBufferPointer<UInt8>)``).
    public static func parse(_ text: some StringProtocol) -> Result<Int64, ParseError> {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { parse(UnsafeBufferPointer($0)) }
    }

    /// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (always 3 fraction digits).
    public static func format(_ ms: Int64) -> String {
        let (secondsTotal, millis) = floorDivMod(ms, 1000)
        let (days, secondOfDay) = floorDivMod(secondsTotal, 86_400)
        let (y, m, d) = civilFromDays(days)
        var out = [UInt8]()
        out.reserveCapacity(24)
        func put(_ v: Int64, _ width: Int) {
            var digits = [UInt8](repeating: 0x30, count: width)
            var x = v
            var k = width - 1
            while k >= 0 {
                digits[k] = UInt8(0x30 + x % 10)
                x /= 10
                k -= 1
            }
            if x > 0 { out.append(contentsOf: Array(String(v).utf8)) } else { out.append(contentsOf: digits) }
        }
        if y < 0 {
            out.append(0x2D)
            put(-y, 4)
        } else {
            put(y, 4)
        }
        out.append(0x2D)
        put(m, 2)
        out.append(0x2D)
        put(d, 2)
        out.append(0x54)
        put(secondOfDay / 3600, 2)
        out.append(0x3A)
        put(secondOfDay / 60 % 60, 2)
        out.append(0x3A)
        put(secondOfDay % 60, 2)
        out.append(0x2E)
        put(millis, 3)
        out.append(0x5A)
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b
        let r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }
}

/// Formats milliseconds since the epoch as `2026-11-24T19:30:00.123Z` (always 3 fraction digits).
///
/// - Parameter ms: milliseconds since 1970-01-01T00:00:00Z.
/// - Returns: the UTC ISO-8601 text; see ``UTCTimestamp/format(_:)``.
public func formatTimestamp(_ ms: Int64) -> String { UTCTimestamp.format(ms) }

/// Parses an ISO-8601 timestamp with a time zone into milliseconds since the epoch (UTC).
///
/// - Returns: the milliseconds, or `nil` when the text is not accepted (see ``UTCTimestamp``).
public func parseTimestamp(_ text: some StringProtocol) -> Int64? { try? UTCTimestamp.parse(text).get() }
