import Testing
import TokentraCore
import TokentraTestSupport

@Suite struct JSONWriterTests {
    @Test func numbersAreRFC8259() throws {
        let cases: [(Double, String)] = [
            (613, "613"), (0, "0"), (-0.0, "0"), (0.5, "0.5"), (1.0 / 3, "0.333"), (2.0 / 3, "0.667"),
            (-1.25, "-1.25"), (-0.0004, "0"), (0.0005, "0.001"), (612.9996, "613"), (1234.5678, "1234.568"),
            (99_999_999_999_999.5, "99999999999999.5"), (1e15, "1000000000000000"), (1e16, "1e+16"), (-2.5e20, "-2.5e+20"), (1e-9, "0"),
        ]
        for (x, expected) in cases {
            #expect(JSONNumber.format(x) == expected, "\(x)")
            _ = try StrictJSON.parse(JSONNumber.format(x)!)
        }
        #expect(JSONNumber.format(.nan) == nil)
        #expect(JSONNumber.format(.infinity) == nil)
        #expect(JSONNumber.format(-.infinity) == nil)
        #expect(JSONNumber.format(2.0 / 3, fractionDigits: 6) == "0.666667")
        #expect(JSONNumber.format(1.5, fractionDigits: 0) == "2")
    }

    @Test func writerPlacesSeparatorsAndEscapes() throws {
        var w = JSONWriter()
        w.object {
            $0.field("s", "a\"b\\c\n\u{1}é😀")
            $0.field("i", 42)
            $0.field("d", 613.0)
            $0.field("nan", Double.nan)
            $0.field("money", money: Int128(-12_345_678_901))
            $0.field("huge", money: Int128(170_141_183_460_469_231_731_687_303_715_884_105_727))
            $0.field("none", nil as String?)
            $0.field("b", true)
            $0.field("list", strings: ["x", "y"])
            $0.field("empty", array: { _ in })
            $0.field("nested", object: { o in
                o.key("arr")
                o.array { a in
                    a.int(1); a.double(0.25); a.null(); a.object { $0.field("k", "v") }
                }
            })
        }
        let text = w.text
        #expect(text == #"{"s":"a\"b\\c\n\u0001é😀","i":42,"d":613,"nan":null,"money":-1.2345678901,"huge":17014118346046923173168730371.5884105727,"none":null,"b":true,"list":["x","y"],"empty":[],"nested":{"arr":[1,0.25,null,{"k":"v"}]}}"#)
        let parsed = try StrictJSON.parse(text)
        #expect(parsed["s"]?.stringValue == "a\"b\\c\n\u{1}é😀")
        #expect(parsed["money"]?.numberText == "-1.2345678901")
    }

    @Test func strictParserRejectsWhatJSONForbids() {
        for bad in ["{\"a\":613.}", "[1,]", "{\"a\":1,}", "NaN", "[Infinity]", "01", "[-]", "\"\u{1}\"", "{\"a\":1}x",
                    "{\"a\":1,\"a\":2}", "\"\\ud800\"", "[1e]", "{a:1}", "'x'", ""] {
            #expect(throws: StrictJSON.Failure.self, "\(bad)") { try StrictJSON.parse(bad) }
        }
    }
}
