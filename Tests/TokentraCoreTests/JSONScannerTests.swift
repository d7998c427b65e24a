import Testing
import TokentraCore

@Suite struct JSONScannerTests {
    static func skip(_ text: String) -> Result<(end: Int, nonFinite: Bool, whitespace: Bool), JSONSyntaxError> {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { b in
            var s = JSONScanner(base: b.baseAddress!, end: b.count)
            do throws(JSONSyntaxError) {
                try s.skipValue()
                return .success((s.pos, s.sawNonFinite, s.sawInnerWhitespace))
            } catch {
                return .failure(error)
            }
        }
    }

    @Test(arguments: [
        "0", "-0", "1.5", "-1.5e-3", "1E+2", "true", "false", "null", #""""#, #""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#,
        "[]", "{}", "[1,[2,[3]],{\"a\":{\"b\":[]}}]", "{\"a\":1,\"b\":[true,false,null]}", "\"é中😀\"",
    ])
    func skipsValidValues(text: String) throws {
        let r = try Self.skip(text).get()
        #expect(r.end == text.utf8.count)
        #expect(!r.nonFinite)
    }

    @Test(arguments: [
        ("", JSONSyntaxError.Reason.unexpectedEnd), ("-", .unexpectedEnd), ("1.", .invalidNumber),
        ("1e", .invalidNumber), ("-a", .invalidNumber), ("tru", .invalidLiteral), ("nul", .invalidLiteral),
        ("\"a", .unexpectedEnd), ("\"\\q\"", .invalidEscape), ("\"\\u12zz\"", .invalidEscape), ("\"\\u12", .unexpectedEnd), ("\"\\ud800\"", .unpairedSurrogate),
        ("\"\\ud800\\u0041\"", .unpairedSurrogate), ("\"\\udc00\"", .unpairedSurrogate), ("\"\u{1}\"", .controlCharacterInString),
        ("[1,]", .expectedValue), ("[1 2]", .expectedCommaOrEnd), ("{\"a\" 1}", .expectedColon), ("{1:2}", .expectedKey),
        ("{\"a\":1,}", .expectedKey), ("[", .unexpectedEnd), ("}", .expectedValue),
    ])
    func rejectsInvalidValues(text: String, reason: JSONSyntaxError.Reason) {
        guard case .failure(let e) = Self.skip(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(e.reason == reason, "\(text)")
    }

    @Test func leadingZeroStopsTheNumber() throws {
        #expect(try Self.skip("01").get().end == 1)
    }

    @Test func nonFiniteLiteralsAreFlagged() throws {
        for text in ["NaN", "Infinity", "-Infinity", "[1,NaN]", "{\"a\":-Infinity}"] {
            let r = try Self.skip(text).get()
            #expect(r.nonFinite && r.end == text.utf8.count, "\(text)")
        }
        if case .success = Self.skip("-NaN") { Issue.record("-NaN accepted") }
        if case .success = Self.skip("Inf") { Issue.record("Inf accepted") }
    }

    @Test func whitespaceInsideIsFlaggedAndCompacted() throws {
        #expect(try !Self.skip(#"{"a":[1,2]}"#).get().whitespace)
        let text = "{ \"a b\" :\n [ 1 , \"x \\\" y\" ]\t}"
        #expect(try Self.skip(text).get().whitespace)
        var out: [UInt8] = []
        Array(text.utf8).withUnsafeBufferPointer { JSONScanner.appendCompact($0, to: &out) }
        #expect(String(decoding: out, as: UTF8.self) == #"{"a b":[1,"x \" y"]}"#)
    }

    @Test func numberTokens() throws {
        func number(_ text: String) throws -> JSONNumberToken {
            let bytes = Array(text.utf8)
            return try bytes.withUnsafeBufferPointer { b in
                var s = JSONScanner(base: b.baseAddress!, end: b.count)
                return try s.scanNumber()
            }
        }
        #expect(JSONScanner.integerMagnitude(try number("12.0")) == .value(12))
        #expect(JSONScanner.integerMagnitude(try number("1.2e3")) == .value(1200))
        #expect(JSONScanner.integerMagnitude(try number("12.5")) == .fractional)
        #expect(JSONScanner.integerMagnitude(try number("1e-1")) == .fractional)
        #expect(JSONScanner.integerMagnitude(try number("9223372036854775807")) == .value(Int64.max))
        #expect(JSONScanner.integerMagnitude(try number("9223372036854775808")) == .overflow)
        #expect(JSONScanner.integerMagnitude(try number("100000000000000000000000")) == .overflow)
        #expect(JSONScanner.integerMagnitude(try number("1.00000000000000000000000000001")) == .fractional)
        #expect(JSONScanner.integerMagnitude(try number("0.0000")) == .value(0))
        #expect(JSONScanner.roundedMagnitude(try number("2.5")) == 3)
        #expect(JSONScanner.roundedMagnitude(try number("2.4999999")) == 2)
        #expect(JSONScanner.roundedMagnitude(try number("0.5")) == 1)
        #expect(JSONScanner.roundedMagnitude(try number("1e-30")) == 0)
        #expect(JSONScanner.roundedMagnitude(try number("1e19")) == nil)
        #expect(try number("1e308").overflowsDouble == false)
        #expect(try number("1e309").overflowsDouble == true)
        #expect(try number("0.1e310").overflowsDouble == true)
        #expect(try number("-0.001e311").overflowsDouble == false)
    }

    @Test func jsonValueParsesDocuments() throws {
        let v = try JSONValue.parse(#" {"a": [1, 2.50, "x"], "b": {"c": null, "d": true}} "#)
        #expect(v["a"] == .array([.number("1"), .number("2.50"), .string("x")]))
        #expect(v["b"]?["d"] == .bool(true))
        #expect(v["b"]?["c"] == .null)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse("{} {}") }
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(String(repeating: "[", count: 100_000)) }
    }
}
