import TokentraCore

// UTC days as the index stores them (`segments.day`, `rollup_daily.day`: `YYYY-MM-DD`).
extension IndexDatabase {
    /// `YYYY-MM-DD` of the UTC day containing `ms`.
    public static func dayString(_ ms: Int64) -> String {
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let (y, m, d) = UTCTimestamp.civilFromDays(days)
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// The start (ms) of a `YYYY-MM-DD` UTC day, or `nil` when the text is not such a date.
    public static func dayStart(_ text: String) -> Int64? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]), (1...12).contains(m), (1...31).contains(d)
        else { return nil }
        let days = UTCTimestamp.daysFromCivil(year: y, month: m, day: d)
        guard UTCTimestamp.civilFromDays(days) == (y, m, d) else { return nil }
        return days * 86_400_000
    }
}
