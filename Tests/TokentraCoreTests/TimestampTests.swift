import Testing
import TokentraCore

@Suite struct TimestampTests {
    static let base: Int64 = 1_795_548_600_000  // 2026-11-24T19:30:00Z

    static let valid: [(String, Int64)] = [
        ("2026-11-24T19:30:00Z", base),
        ("2026-11-24T19:30:00.123Z", base + 123),
        ("2026-11-24T19:30:00.1Z", base + 100),
        ("2026-11-24T19:30:00.12Z", base + 120),
        ("2026-11-24T19:30:00.123456Z", base + 123),  // microseconds truncated
        ("2026-11-24T19:30:00.999999999Z", base + 999),  // nanoseconds truncated, never rounded up
        ("2026-11-24T19:30:00,5Z", base + 500),
        ("2026-11-24t19:30:00z", base),
        ("2026-11-24 19:30:00Z", base),
        ("2026-11-24T20:30:00.123+01:00", base + 123),
        ("2026-11-24T20:30:00+0100", base),
        ("2026-11-24T14:00:00-05:30", base),
        ("2026-11-25T01:00:00.5+05:30", base + 500),
        ("2026-11-24T19:30:00+00:00", base),
        ("2026-11-24T19:30:00-00:00", base),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
        ("2000-02-29T00:00:00Z", 951_782_400_000),
        ("2024-02-29T12:00:00Z", 1_709_208_000_000),
        ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
        ("0000-01-01T00:00:00Z", -62_167_219_200_000),
    ]

    @Test(arguments: valid)
    func parses(text: String, ms: Int64) throws {
        #expect(try UTCTimestamp.parse(text).get() == ms)
        #expect(parseTimestamp(text) == ms)
    }

    static let invalid: [String] = [
        "2026-11-24T19:30:00",  // no time zone
        "2026-11-24T19:30Z",  // no seconds
        "2026-11-24",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-02-29T00:00:00Z",  // not a leap year
        "1900-02-29T00:00:00Z",  // divisible by 100, not by 400
        "2026-04-31T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T23:60:00Z",
        "2026-11-24T23:59:60Z",  // no leap seconds
        "2026-11-24T19:30:00.Z",
        "2026-11-24T19:30:00.1234567890Z",  // 10 fraction digits
        "2026-11-24T19:30:00+24:00",
        "2026-11-24T19:30:00+01:60",
        "2026-11-24T19:30:00+1",
        "2026-11-24T19:30:00+01:0",
        "2026-11-24T19:30:00ZZ",
        "2026-11-24T19:30:00Z ",
        " 2026-11-24T19:30:00Z",
        "2026/11/24T19:30:00Z",
        "2026-11-24X19:30:00Z",
        "+2026-11-24T19:30:00Z",
        "1795548600",
        "",
    ]

    @Test(arguments: invalid)
    func rejects(text: String) {
        #expect(parseTimestamp(text) == nil)
    }

    static let formatted: [(Int64, String)] = [
        (base + 123, "2026-11-24T19:30:00.123Z"),
        (base, "2026-11-24T19:30:00.000Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ]

    @Test(arguments: formatted)
    func formats(ms: Int64, text: String) {
        #expect(formatTimestamp(ms) == text)
        #expect(UTCTimestamp.format(ms) == text)
    }

    /// Day numbers and civil dates agree with a naive day-by-day walk from 1600 to 2400.
    @Test func civilConversionMatchesDayByDayWalk() {
        var days = UTCTimestamp.daysFromCivil(year: 1600, month: 1, day: 1)
        for year in Int64(1600)...2400 {
            for month in Int64(1)...12 {
                let length: Int64
                switch month {
                case 2: length = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
                case 4, 6, 9, 11: length = 30
                default: length = 31
                }
                for day in 1...length {
                    if UTCTimestamp.daysFromCivil(year: year, month: month, day: day) != days {
                        Issue.record("daysFromCivil(\(year)-\(month)-\(day))")
                        return
                    }
                    let civil = UTCTimestamp.civilFromDays(days)
                    if civil.year != year || civil.month != month || civil.day != day {
                        Issue.record("civilFromDays(\(days))")
                        return
                    }
                    days += 1
                }
            }
        }
        #expect(UTCTimestamp.daysFromCivil(year: 1970, month: 1, day: 1) == 0)
    }

    @Test func formatParsesBack() {
        var ms: Int64 = -86_400_000 * 400 + 7
        while ms < 4_102_444_800_000 {  // up to 2100
            #expect(parseTimestamp(formatTimestamp(ms)) == ms)
            ms += 86_400_000 * 13 + 3_600_000 * 7 + 60_000 * 11 + 1_234
        }
    }
}
