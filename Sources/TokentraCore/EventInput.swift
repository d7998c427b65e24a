#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a byte buffer of events is framed.
public enum EventInputFormat: Sendable, Hashable {
    /// One JSON value per line: an event object, a batch object `{"events":[...]}`, or an array
    /// of events. Blank lines are skipped; a malformed line is reported and the next line is read.
    /// Works on any chunk of a file that starts at a line boundary.
    case ndjson
    /// One or more JSON values that may span lines (pretty-printed): a whole-file array of
    /// events, a batch object `{"events":[...]}`, or single event objects, separated by
    /// whitespace. This is the shape of Token Trackr fallback files
    /// (`~/.token-trackr/fallback/events_<timestamp>.json`). The buffer must hold whole values.
    /// After a syntax error the rest of the buffer cannot be re-synchronized and is reported once.
    case document
}

/// One framed item of an ``EventInput``: an event object's bytes, or a malformed line/value.
public struct EventInputItem {
    public enum Kind {
        /// The bytes of one JSON value to hand to ``EventDecoder`` (normally an object; the
        /// decoder reports anything else as `INVALID_JSON`).
        case object(UnsafeBufferPointer<UInt8>)
        /// A line (NDJSON) or the rest of a document that is not valid JSON; no event of that
        /// line is emitted, so a batch line is all-or-nothing at the JSON level.
        case malformed(EventError)
    }

    /// 1-based line number where the object (or the malformed line) starts.
    public var line: Int
    /// Index within the line's batch or array (NDJSON), or within the document's array or the
    /// sequence of top-level values (document); 0 for a single object.
    public var index: Int
    /// Offsets of the object (or malformed line) within the framed buffer.
    public var byteRange: Range<Int>
    public var kind: Kind

    /// The object's bytes, or `nil` for a malformed item.
    public var bytes: UnsafeBufferPointer<UInt8>? {
        if case .object(let b) = kind { return b }
        return nil
    }

    /// The error of a malformed item.
    public var error: EventError? {
        if case .malformed(let e) = kind { return e }
        return nil
    }
}

/// Splits a buffer of JSON events into event objects in a single pass without copying.
///
/// Accepted shapes: NDJSON (one event per line), lines that are batch objects
/// `{"events":[...]}` (the `"events"` key first; further keys after the array are validated and
/// ignored) or arrays `[...]`, a whole-file JSON array, and Token Trackr fallback files (an array
/// or a batch object, possibly pretty-printed). A leading UTF-8 byte order mark is skipped.
///
/// The buffer is borrowed: items point into it, so it must outlive the iteration. To process a
/// large NDJSON file, read or map it in chunks that end at a newline and pass `firstLine` so line
/// numbers stay global.
///
/// ```swift
/// data.withUnsafeBufferPointer { buffer in
///     for item in EventInput(buffer) {
///         switch item.kind {
///         case .object(let bytes): _ = decoder.decode(bytes, org: .fromEvent(default: "default"), nowMs: now)
///         case .malformed(let error): report(line: item.line, error)
///         }
///     }
/// }
/// ```
public struct EventInput: Sequence {
    public let buffer: UnsafeBufferPointer<UInt8>
    public let format: EventInputFormat
    public let firstLine: Int
    public let maxDepth: Int

    /// - Parameters:
    ///   - buffer: the bytes to frame.
    ///   - format: the framing; `nil` detects it with ``detectFormat(_:)``.
    ///   - firstLine: the line number of the buffer's first line (for chunked files).
    ///   - maxDepth: maximum nesting depth of one event (the event object is level 1), ≤ 64.
    public init(_ buffer: UnsafeBufferPointer<UInt8>, format: EventInputFormat? = nil, firstLine: Int = 1, maxDepth: Int = 64) {
        self.buffer = buffer
        self.format = format ?? Self.detectFormat(buffer)
        self.firstLine = firstLine
        self.maxDepth = Swift.min(Swift.max(maxDepth, 1), 64)
    }

    /// Detects the framing from the start of a file: ``EventInputFormat/document`` when the first
    /// value starts with `[` or its first line is not a complete JSON value (a pretty-printed
    /// object), else ``EventInputFormat/ndjson``.
    public static func detectFormat(_ buffer: UnsafeBufferPointer<UInt8>) -> EventInputFormat {
        guard let base = buffer.baseAddress else { return .ndjson }
        var s = JSONScanner(base: base, start: bomLength(buffer), end: buffer.count)
        s.skipWhitespace()
        guard !s.atEnd else { return .ndjson }
        if s.base[s.pos] == 0x5B { return .document }
        let lineEnd = findNewline(base, from: s.pos, end: buffer.count)
        var line = JSONScanner(base: base, start: s.pos, end: lineEnd)
        do throws(JSONSyntaxError) {
            try line.skipValue()
            return .ndjson
        } catch {
            return error.reason == .unexpectedEnd ? .document : .ndjson
        }
    }

    static func bomLength(_ b: UnsafeBufferPointer<UInt8>) -> Int {
        b.count >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF ? 3 : 0
    }

    /// The offset of the next `\n` at or after `from`, or `end` (libc `memchr`, vectorized).
    @inline(__always)
    static func findNewline(_ base: UnsafePointer<UInt8>, from: Int, end: Int) -> Int {
        guard from < end, let hit = memchr(base + from, 0x0A, end - from) else { return end }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    public func makeIterator() -> Iterator { Iterator(self) }

    /// Iterates the framed items of an ``EventInput``.
    public struct Iterator: IteratorProtocol {
        let base: UnsafePointer<UInt8>?
        let end: Int
        let format: EventInputFormat
        let maxDepth: Int
        var pos: Int
        var nextLine: Int
        /// Elements of the current batch line or document, emitted before reading on.
        var elements: [Range<Int>] = []
        var elementLines: [Int] = []
        var elementCursor = 0
        var elementLine = 0
        var documentIndex = 0
        var finished = false
        /// Document mode: newlines counted up to this offset.
        var countedTo = 0
        var countedLine: Int

        init(_ input: EventInput) {
            base = input.buffer.baseAddress
            end = input.buffer.count
            format = input.format
            maxDepth = input.maxDepth
            pos = EventInput.bomLength(input.buffer)
            nextLine = input.firstLine
            countedLine = input.firstLine
        }

        public mutating func next() -> EventInputItem? {
            guard let base else { return nil }
            if elementCursor < elements.count { return emitElement(base) }
            if finished { return nil }
            switch format {
            case .ndjson: return nextNDJSON(base)
            case .document: return nextDocument(base)
            }
        }

        mutating func emitElement(_ base: UnsafePointer<UInt8>) -> EventInputItem {
            let r = elements[elementCursor]
            let line = format == .ndjson ? elementLine : elementLines[elementCursor]
            let index = format == .ndjson ? elementCursor : documentIndex
            elementCursor += 1
            if format == .document { documentIndex += 1 }
            return EventInputItem(
                line: line, index: index, byteRange: r,
                kind: .object(UnsafeBufferPointer(start: base + r.lowerBound, count: r.count)))
        }

        // MARK: NDJSON

        mutating func nextNDJSON(_ base: UnsafePointer<UInt8>) -> EventInputItem? {
            while pos < end {
                let lineNumber = nextLine
                nextLine += 1
                let newline = EventInput.findNewline(base, from: pos, end: end)
                var a = pos
                var b = newline
                pos = newline + 1
                while a < b && JSONScanner.isWhitespace(base[a]) { a += 1 }
                while b > a && JSONScanner.isWhitespace(base[b - 1]) { b -= 1 }
                if a == b { continue }
                let c = base[a]
                if c == 0x7B && !Self.isBatchObject(base, a, b) {
                    return EventInputItem(
                        line: lineNumber, index: 0, byteRange: a..<b,
                        kind: .object(UnsafeBufferPointer(start: base + a, count: b - a)))
                }
                guard c == 0x7B || c == 0x5B else {
                    return malformed(lineNumber, a..<b, JSONSyntaxError(.notAnObject, at: 0))
                }
                elements.removeAll(keepingCapacity: true)
                elementCursor = 0
                elementLine = lineNumber
                var s = JSONScanner(base: base, start: a, end: b, maxDepth: maxDepth)
                do throws(JSONSyntaxError) {
                    try Self.scanContainer(&s, into: &elements)
                    s.skipWhitespace()
                    guard s.atEnd else { throw JSONSyntaxError(.trailingData, at: s.pos) }
                } catch {
                    elements.removeAll(keepingCapacity: true)
                    var e = error
                    e.offset -= a
                    return malformed(lineNumber, a..<b, e)
                }
                if !elements.isEmpty { return emitElement(base) }
            }
            finished = true
            return nil
        }

        func malformed(_ line: Int, _ range: Range<Int>, _ error: JSONSyntaxError) -> EventInputItem {
            var message = error.message
            if error.reason == .notAnObject { message = "invalid JSON: a line must be an event object, a batch object or an array" }
            return EventInputItem(line: line, index: 0, byteRange: range, kind: .malformed(EventError(.invalidJSON, message)))
        }

        /// Whether the object at `a` starts with the key `"events"` followed by an array.
        static func isBatchObject(_ base: UnsafePointer<UInt8>, _ a: Int, _ b: Int) -> Bool {
            var s = JSONScanner(base: base, start: a + 1, end: b)
            s.skipWhitespace()
            let key: [UInt8] = [0x22, 0x65, 0x76, 0x65, 0x6E, 0x74, 0x73, 0x22]  // "events"
            guard s.pos + key.count <= b else { return false }
            for i in 0..<key.count where base[s.pos + i] != key[i] { return false }
            s.pos += key.count
            s.skipWhitespace()
            guard s.peek == 0x3A else { return false }
            s.pos += 1
            s.skipWhitespace()
            return s.peek == 0x5B
        }

        /// Scans a batch object (`{"events":[...], ...}`) or an array at the scanner's position,
        /// appending each element's range; validates everything.
        static func scanContainer(_ s: inout JSONScanner, into elements: inout [Range<Int>]) throws(JSONSyntaxError) {
            if s.base[s.pos] == 0x5B {
                return try scanArray(&s, into: &elements)
            }
            // A batch object: "events" first (checked by the caller), then any other members.
            s.pos += 1
            s.skipWhitespace()
            _ = try s.scanString()
            s.skipWhitespace()
            try s.expect(0x3A, .expectedColon)
            s.skipWhitespace()
            try scanArray(&s, into: &elements)
            try skipRestOfObject(&s)
        }

        /// After a member value inside an object: skips further members up to and including `}`.
        static func skipRestOfObject(_ s: inout JSONScanner) throws(JSONSyntaxError) {
            while true {
                s.skipWhitespace()
                guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
                let c = s.base[s.pos]
                if c == 0x7D {
                    s.pos += 1
                    return
                }
                guard c == 0x2C else { throw JSONSyntaxError(.expectedCommaOrEnd, at: s.pos) }
                s.pos += 1
                s.skipWhitespace()
                guard s.peek == 0x22 else { throw JSONSyntaxError(s.atEnd ? .unexpectedEnd : .expectedKey, at: s.pos) }
                _ = try s.scanString()
                s.skipWhitespace()
                try s.expect(0x3A, .expectedColon)
                s.skipWhitespace()
                try s.skipValue()
            }
        }

        static func scanArray(_ s: inout JSONScanner, into elements: inout [Range<Int>]) throws(JSONSyntaxError) {
            try s.expect(0x5B, .unexpectedByte(s.peek))
            s.skipWhitespace()
            if s.peek == 0x5D {
                s.pos += 1
                return
            }
            while true {
                guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
                let start = s.pos
                try s.skipValue()
                elements.append(start..<s.pos)
                s.skipWhitespace()
                guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
                let c = s.base[s.pos]
                s.pos += 1
                if c == 0x5D { return }
                guard c == 0x2C else { throw JSONSyntaxError(.expectedCommaOrEnd, at: s.pos - 1) }
                s.skipWhitespace()
            }
        }

        // MARK: Document

        mutating func lineOf(_ base: UnsafePointer<UInt8>, _ offset: Int) -> Int {
            var p = countedTo
            while p < offset {
                let nl = EventInput.findNewline(base, from: p, end: offset)
                if nl >= offset { break }
                countedLine += 1
                p = nl + 1
            }
            countedTo = offset
            return countedLine
        }

        mutating func nextDocument(_ base: UnsafePointer<UInt8>) -> EventInputItem? {
            while true {
                if let item = nextDocumentValue(base) { return item }
                if finished { return nil }
            }
        }

        /// Frames the next top-level value; returns its first item, or nil if it had none.
        mutating func nextDocumentValue(_ base: UnsafePointer<UInt8>) -> EventInputItem? {
            var s = JSONScanner(base: base, start: pos, end: end, maxDepth: maxDepth)
            s.skipWhitespace()
            guard !s.atEnd else {
                finished = true
                return nil
            }
            let start = s.pos
            elements.removeAll(keepingCapacity: true)
            elementLines.removeAll(keepingCapacity: true)
            elementCursor = 0
            do throws(JSONSyntaxError) {
                let c = s.base[s.pos]
                if c == 0x5B || (c == 0x7B && Self.isBatchObject(base, s.pos, end)) {
                    try Self.scanContainer(&s, into: &elements)
                } else if c == 0x7B {
                    try s.skipValue()
                    elements.append(start..<s.pos)
                } else {
                    throw JSONSyntaxError(.notAnObject, at: s.pos)
                }
            } catch {
                finished = true
                elements.removeAll()
                let line = lineOf(base, error.offset)
                var message = error.message
                if error.reason == .notAnObject {
                    message = "invalid JSON at byte \(error.offset): expected an event object, a batch object or an array"
                }
                return EventInputItem(
                    line: line, index: documentIndex, byteRange: start..<end,
                    kind: .malformed(EventError(.invalidJSON, message)))
            }
            pos = s.pos
            for r in elements { elementLines.append(lineOf(base, r.lowerBound)) }
            return elements.isEmpty ? nil : emitElement(base)
        }
    }
}

extension EventInput {
    /// Why an HTTP batch body was rejected as a whole.
    public enum BatchBodyError: Error, Sendable, Equatable {
        /// The body is not valid JSON (message as for `INVALID_JSON`).
        case invalidJSON(String)
        /// The body is valid JSON but not an object with an `events` array.
        case missingEvents
        /// More events than allowed.
        case tooManyEvents(count: Int, limit: Int)
    }

    /// Splits an HTTP ingest body `{"events":[...]}` into the byte ranges of its events.
    ///
    /// The whole body is validated first, so a malformed body is rejected before any event is
    /// processed. Other top-level keys are allowed and ignored; `events` may appear anywhere.
    /// - Parameters:
    ///   - body: the request body.
    ///   - maxEvents: the batch limit (default 100, like the seed's ingest route).
    /// - Returns: the range of each event within `body`, in order.
    public static func batchBody(_ body: UnsafeBufferPointer<UInt8>, maxEvents: Int = 100) -> Result<[Range<Int>], BatchBodyError> {
        guard let base = body.baseAddress, body.count > 0 else { return .failure(.invalidJSON("invalid JSON: empty body")) }
        var s = JSONScanner(base: base, start: bomLength(body), end: body.count)
        var ranges: [Range<Int>] = []
        var found = false
        do throws(JSONSyntaxError) {
            s.skipWhitespace()
            guard s.peek == 0x7B else {
                if s.atEnd { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
                try s.skipValue()
                s.skipWhitespace()
                guard s.atEnd else { throw JSONSyntaxError(.trailingData, at: s.pos) }
                return .failure(.missingEvents)
            }
            s.pos += 1
            s.skipWhitespace()
            if s.peek == 0x7D {
                s.pos += 1
            } else {
                while true {
                    guard s.peek == 0x22 else { throw JSONSyntaxError(s.atEnd ? .unexpectedEnd : .expectedKey, at: s.pos) }
                    let key = try s.scanString()
                    s.skipWhitespace()
                    try s.expect(0x3A, .expectedColon)
                    s.skipWhitespace()
                    let isEvents =
                        !key.hasEscapes && key.count == 6
                        && String(decoding: UnsafeBufferPointer(start: base + key.start, count: 6), as: UTF8.self) == "events"
                    if isEvents {
                        if found { return .failure(.invalidJSON("invalid JSON: duplicate key \"events\"")) }
                        guard s.peek == 0x5B else {
                            try s.skipValue()
                            return .failure(.missingEvents)
                        }
                        found = true
                        try Iterator.scanArray(&s, into: &ranges)
                    } else {
                        try s.skipValue()
                    }
                    s.skipWhitespace()
                    guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
                    let c = s.base[s.pos]
                    s.pos += 1
                    if c == 0x7D { break }
                    guard c == 0x2C else { throw JSONSyntaxError(.expectedCommaOrEnd, at: s.pos - 1) }
                    s.skipWhitespace()
                }
            }
            s.skipWhitespace()
            guard s.atEnd else { throw JSONSyntaxError(.trailingData, at: s.pos) }
        } catch {
            return .failure(.invalidJSON(error.message))
        }
        guard found else { return .failure(.missingEvents) }
        guard ranges.count <= maxEvents else { return .failure(.tooManyEvents(count: ranges.count, limit: maxEvents)) }
        return .success(ranges)
    }
}
