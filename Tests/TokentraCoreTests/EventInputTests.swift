import Testing
import TokentraCore

@Suite struct EventInputTests {
    struct Framed: Equatable, CustomStringConvertible {
        var line: Int
        var index: Int
        var text: String  // the object's text, or "!" + error message
        var description: String { "\(line):\(index) \(text)" }
    }

    static func frame(_ text: String, format: EventInputFormat? = nil, firstLine: Int = 1) -> [Framed] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            EventInput(buffer, format: format, firstLine: firstLine).map { item in
                switch item.kind {
                case .object(let b):
                    #expect(Array(b) == Array(bytes[item.byteRange]))
                    return Framed(line: item.line, index: item.index, text: String(decoding: b, as: UTF8.self))
                case .malformed(let e):
                    #expect(e.code == .invalidJSON)
                    return Framed(line: item.line, index: item.index, text: "!" + e.message)
                }
            }
        }
    }

    @Test func ndjsonLinesBlankLinesAndCRLF() {
        let text = "{\"a\":1}\n\n  {\"b\":2}  \r\n\t\n{\"c\":3}"
        #expect(
            Self.frame(text) == [
                Framed(line: 1, index: 0, text: #"{"a":1}"#),
                Framed(line: 3, index: 0, text: #"{"b":2}"#),
                Framed(line: 5, index: 0, text: #"{"c":3}"#),
            ])
    }

    @Test func malformedLinesAreReportedAndSkipped() {
        let text = """
            {"a":1}
            this is not json
            42
            {"events":[{"ok":1},{"bad":]}
            [{"x":1},
            {"b":2}
            """
        #expect(
            Self.frame(text) == [
                Framed(line: 1, index: 0, text: #"{"a":1}"#),
                Framed(line: 2, index: 0, text: "!invalid JSON: a line must be an event object, a batch object or an array"),
                Framed(line: 3, index: 0, text: "!invalid JSON: a line must be an event object, a batch object or an array"),
                Framed(line: 4, index: 0, text: "!invalid JSON at byte 27: expected a value"),
                Framed(line: 5, index: 0, text: "!invalid JSON at byte 9: unexpected end of input"),
                Framed(line: 6, index: 0, text: #"{"b":2}"#),
            ])
    }

    @Test func batchLinesAndArrayLines() {
        let text = """
            {"events":[{"a":1},{"b":[2]} , {"c":{"d":3}}]}
            { "events" : [ ] , "sdk" : {"v":1} }
            [{"e":5},{"f":6}]
            {"events":[{"g":7}],"batch_id":"x","n":[1,2]}
            {"events":[1,"x"]}
            """
        #expect(
            Self.frame(text) == [
                Framed(line: 1, index: 0, text: #"{"a":1}"#),
                Framed(line: 1, index: 1, text: #"{"b":[2]}"#),
                Framed(line: 1, index: 2, text: #"{"c":{"d":3}}"#),
                Framed(line: 3, index: 0, text: #"{"e":5}"#),
                Framed(line: 3, index: 1, text: #"{"f":6}"#),
                Framed(line: 4, index: 0, text: #"{"g":7}"#),
                Framed(line: 5, index: 0, text: "1"),
                Framed(line: 5, index: 1, text: #""x""#),
            ])
        // Non-object elements are left to the decoder, which rejects them.
        let f = EventDecoder().decode("1", org: .fixed("o"), nowMs: testNow)
        #expect((try? f.get()) == nil)
    }

    @Test func anEventThatMerelyContainsEventsIsAnEvent() {
        let text = #"{"request_id":"r","events":[{"a":1}]}"#
        #expect(Self.frame(text) == [Framed(line: 1, index: 0, text: text)])
        let f = failure(minimal(#","events":[{"a":1}]"#))
        #expect(f?.error.code == .invalidValue && f?.error.field == "events")
    }

    @Test func firstLineAndByteOrderMark() {
        let text = "\u{FEFF}{\"a\":1}\n{\"b\":2}\n"
        #expect(Self.frame(text, firstLine: 1001) == [
            Framed(line: 1001, index: 0, text: #"{"a":1}"#), Framed(line: 1002, index: 0, text: #"{"b":2}"#),
        ])
    }

    @Test func chunksGiveTheSameItemsAsTheWhole() {
        var text = ""
        for i in 0..<300 {
            switch i % 5 {
            case 0: text += "{\"events\":[{\"i\":\(i)},{\"j\":\(i)}]}\n"
            case 1: text += "not json \(i)\n"
            case 2: text += "\n"
            default: text += "{\"i\":\(i),\"s\":\"\(String(repeating: "x", count: i))\"}\n"
            }
        }
        let whole = Self.frame(text, format: .ndjson)
        // Split at arbitrary newlines, as a caller reading a big file in chunks would.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var chunked: [Framed] = []
        var start = 0
        var size = 1
        while start < lines.count {
            let end = min(start + size, lines.count)
            let chunk = lines[start..<end].joined(separator: "\n") + (end < lines.count ? "\n" : "")
            chunked += Self.frame(chunk, format: .ndjson, firstLine: start + 1)
            start = end
            size = size * 3 % 17 + 1
        }
        #expect(chunked == whole)
        #expect(whole.count == 60 * 2 + 60 + 120)
    }

    @Test func wholeFileArrayDocument() {
        let text = """
            [
              {"a": 1,
               "b": [1, 2]},
              {"c": "x"}
              ,{"d": {}}
            ]
            """
        #expect(EventInput.detectFormat(Array(text.utf8).withUnsafeBufferPointer { $0 }) == .document)
        #expect(
            Self.frame(text) == [
                Framed(line: 2, index: 0, text: "{\"a\": 1,\n   \"b\": [1, 2]}"),
                Framed(line: 4, index: 1, text: #"{"c": "x"}"#),
                Framed(line: 5, index: 2, text: #"{"d": {}}"#),
            ])
    }

    @Test func tokenTrackrFallbackFiles() throws {
        // json.dump({"events": [...]}, indent=2): the first line is "{" alone.
        let batch = """
            {
              "events": [
                {
                  "tenant_id": "tenant-1",
                  "provider": "bedrock",
                  "model": "anthropic.claude-3-sonnet-20240229-v1:0",
                  "prompt_tokens": 100,
                  "completion_tokens": 50,
                  "timestamp": "2026-11-19T12:00:00Z"
                },
                {
                  "tenant_id": "tenant-1",
                  "provider": "azure_openai",
                  "model": "gpt-4o",
                  "prompt_tokens": 10,
                  "completion_tokens": 5,
                  "timestamp": "2026-11-19T12:00:01Z"
                }
              ]
            }
            """
        let bytes = Array(batch.utf8)
        try bytes.withUnsafeBufferPointer { buffer in
            #expect(EventInput.detectFormat(buffer) == .document)
            let items = Array(EventInput(buffer))
            #expect(items.map(\.line) == [3, 11])
            #expect(items.map(\.index) == [0, 1])
            let decoder = EventDecoder()
            let events = try items.map { try decoder.decode(#require($0.bytes), org: .fromEvent(default: "d"), nowMs: testNow).get() }
            #expect(events.map(\.orgID) == ["tenant-1", "tenant-1"])
            #expect(events.map(\.provider) == ["aws", "azure"])
            #expect(events[0].requestID != events[1].requestID)
            #expect(events[0].totalCost.description == "0.00105")
        }
        // A plain array fallback file, and concatenated pretty-printed objects.
        #expect(Self.frame("[{\"a\":1},{\"b\":2}]").map(\.index) == [0, 1])
        let concatenated = "{\n \"a\": 1\n}\n{\n \"b\": 2\n}\n"
        #expect(
            Self.frame(concatenated) == [
                Framed(line: 1, index: 0, text: "{\n \"a\": 1\n}"), Framed(line: 4, index: 1, text: "{\n \"b\": 2\n}"),
            ])
    }

    @Test func documentSyntaxErrorIsReportedOnce() {
        let text = "[\n {\"a\":1},\n {\"b\":},\n {\"c\":3}\n]"
        #expect(Self.frame(text) == [Framed(line: 3, index: 0, text: "!invalid JSON at byte 18: expected a value")])
        #expect(Self.frame("[{\"a\":1}] x", format: .document).last?.text == "!invalid JSON at byte 10: expected an event object, a batch object or an array")
        #expect(Self.frame("", format: .document).isEmpty)
        #expect(Self.frame("  \n ", format: .ndjson).isEmpty)
        #expect(Self.frame("[[[[[[[[[[]]]]]]]]]]", format: .document).count == 1)
    }

    @Test func detectFormat() {
        func detect(_ s: String) -> EventInputFormat { Array(s.utf8).withUnsafeBufferPointer { EventInput.detectFormat($0) } }
        #expect(detect("{\"a\":1}\n{\"b\":2}\n") == .ndjson)
        #expect(detect("  [ {\"a\":1} ]") == .document)
        #expect(detect("{\n  \"events\": []\n}") == .document)
        #expect(detect("{\"events\":[{\"a\":1}]}\n") == .ndjson)
        #expect(detect("garbage\n{\"a\":1}") == .ndjson)
        #expect(detect("") == .ndjson)
    }

    @Test func deepNestingInFramingIsCapped() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let items = Self.frame("{\"events\":[\(deep)]}\n{\"ok\":1}\n")
        #expect(items.count == 2)
        #expect(items[0].text == "!invalid JSON at byte 75: nesting deeper than 64 levels")
        #expect(items[1] == Framed(line: 2, index: 0, text: #"{"ok":1}"#))
        #expect(Self.frame(deep, format: .document).count == 1)
    }

    @Test func batchBody() throws {
        func split(_ s: String, max: Int = 100) -> Result<[String], EventInput.BatchBodyError> {
            let bytes = Array(s.utf8)
            return bytes.withUnsafeBufferPointer { EventInput.batchBody($0, maxEvents: max) }.map { ranges in
                ranges.map { String(decoding: bytes[$0], as: UTF8.self) }
            }
        }
        #expect(try split(#" {"sdk":"py","events":[{"a":1}, {"b":2}],"x":null} "#).get() == [#"{"a":1}"#, #"{"b":2}"#])
        #expect(try split(#"{"events":[]}"#).get() == [])
        #expect(throws: EventInput.BatchBodyError.missingEvents) { try split(#"{"event":[]}"#).get() }
        #expect(throws: EventInput.BatchBodyError.missingEvents) { try split(#"{"events":{}}"#).get() }
        #expect(throws: EventInput.BatchBodyError.missingEvents) { try split(#"[{"a":1}]"#).get() }
        #expect(throws: EventInput.BatchBodyError.tooManyEvents(count: 3, limit: 2)) { try split(#"{"events":[1,2,3]}"#, max: 2).get() }
        #expect(throws: EventInput.BatchBodyError.invalidJSON("invalid JSON at byte 16: expected a value")) {
            try split(#"{"events":[{"a":}]}"#).get()
        }
        #expect(throws: EventInput.BatchBodyError.invalidJSON("invalid JSON at byte 14: unexpected data after the JSON value")) {
            try split(#"{"events":[]} {}"#).get()
        }
        #expect(throws: EventInput.BatchBodyError.invalidJSON(#"invalid JSON: duplicate key "events""#)) {
            try split(#"{"events":[],"events":[]}"#).get()
        }
        #expect(throws: EventInput.BatchBodyError.invalidJSON("invalid JSON: empty body")) { try split("").get() }
    }
}
