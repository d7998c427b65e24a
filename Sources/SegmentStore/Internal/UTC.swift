import TokentraCore

/// UTC bucketing of milliseconds since the epoch (calendar math is TokentraCore's ``UTCTimestamp``).
public enum UTC {
    public static let msPerHour: Int64 = 3_600_000
    public static let msPerDay: Int64 = 86_400_000

    @inline(__always) public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Start of the UTC hour containing `ms`.
    @inline(__always) public static func hourStart(_ ms: Int64) -> Int64 { floorDiv(ms, msPerHour) * msPerHour }

    /// Start of the UTC day containing `ms`.
    @inline(__always) public static func dayStart(_ ms: Int64) -> Int64 { floorDiv(ms, msPerDay) * msPerDay }

    /// `YYYY-MM-DD` of the UTC day containing `ms`.
    public static func dayString(_ ms: Int64) -> String {
        String(formatTimestamp(dayStart(ms)).prefix(10))
    }

    /// Parses `YYYY-MM-DD` to the ms of its start.
    public static func parseDay(_ s: String) -> Int64? {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              (1...12).contains(m), d >= 1, d <= daysInMonth(y, m)
        else { return nil }
        return UTCTimestamp.daysFromCivil(year: y, month: m, day: d) * msPerDay
    }

    static func daysInMonth(_ y: Int64, _ m: Int64) -> Int64 {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
