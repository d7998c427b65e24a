import Testing
import TokentraCore

@Suite struct MoneyTests {
    static let valid: [(String, Int64, String)] = [
        ("0", 0, "0"),
        ("-0", 0, "0"),
        ("0.0", 0, "0"),
        ("1", 10_000_000_000, "1"),
        ("0.0108094", 108_094_000, "0.0108094"),
        ("0.0000252", 252_000, "0.0000252"),
        ("0.00036", 3_600_000, "0.00036"),
        ("1e-7", 1000, "0.0000001"),
        ("1E-7", 1000, "0.0000001"),
        ("1.5e-7", 1500, "0.00000015"),
        ("2.5E+2", 2_500_000_000_000, "250"),
        ("0.0000000001", 1, "0.0000000001"),
        ("0.10000000000000000000", 1_000_000_000, "0.1"),  // trailing zeros beyond 10 places are exact
        ("123456789.0123456789", 1_234_567_890_123_456_789, "123456789.0123456789"),
        ("922337203.6854775807", Int64.max, "922337203.6854775807"),
        ("-922337203.6854775807", -Int64.max, "-922337203.6854775807"),
        ("-1.25", -12_500_000_000, "-1.25"),
        ("100e-12", 1, "0.0000000001"),
    ]

    @Test(arguments: valid)
    func parsesExactly(text: String, units: Int64, description: String) throws {
        let m = try Money(parsing: text)
        #expect(m.units == units)
        #expect(m.description == description)
    }

    static let invalid: [(String, MoneyParseError)] = [
        ("0.30000000000000004", .tooPrecise),
        ("0.00000000001", .tooPrecise),
        ("1e-11", .tooPrecise),
        ("922337203.6854775808", .outOfRange),
        ("1e9", .outOfRange),
        ("1e400", .outOfRange),
        ("123456789012345678901234567890123456789", .outOfRange),
        ("", .notANumber),
        ("-", .notANumber),
        (".5", .notANumber),
        ("1.", .notANumber),
        ("1e", .notANumber),
        ("NaN", .notANumber),
        ("Infinity", .notANumber),
        ("0x10", .notANumber),
        ("1 ", .notANumber),
        ("+1", .notANumber),
    ]

    @Test(arguments: invalid)
    func rejects(text: String, error: MoneyParseError) {
        #expect(throws: error) { try Money(parsing: text) }
    }

    @Test func sumsAreExact() {
        // 0.1 + 0.2 == 0.3 exactly, and large sums use Int128.
        #expect((money("0.1") + money("0.2")).description == "0.3")
        var sum = MoneySum.zero
        for _ in 0..<1_000 { sum += money("0.0000252") }
        #expect(sum.description == "0.0252")
        var big = MoneySum.zero
        for _ in 0..<100 { big += Money(units: Int64.max) }
        #expect(big.units == Int128(Int64.max) * 100)
        #expect(money("1").adding(Money(units: Int64.max)) == nil)
    }
}
