#if canImport(Glibc)
import Glibc
#endif

/// The value of one OTLP attribute (`AnyValue`), as far as the GenAI mapping reads it.
public enum OTLPValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    /// An array, key-value list or bytes value (not used by the mapping; kept so a mapped key
    /// with such a value is reported by type).
    case other(String)

    var typeName: String {
        switch self {
        case .string: return "string"
        case .int: return "int"
        case .double: return "double"
        case .bool: return "bool"
        case .other(let kind): return kind
        }
    }
}

/// The attributes of a span or resource whose keys the mapping reads (the others are validated
/// and dropped while decoding), by index into the ``OTLPKeyTable``. A repeated key: the last wins.
public struct OTLPAttributes: Sendable {
    var entries: [(key: Int32, value: OTLPValue)] = []

    public init() {}

    init(capacity: Int) { entries.reserveCapacity(capacity) }

    mutating func set(_ key: Int, _ value: OTLPValue) { entries.append((Int32(key), value)) }

    func value(_ key: Int) -> OTLPValue? {
        var i = entries.count - 1
        while i >= 0 {
            if entries[i].key == Int32(key) { return entries[i].value }
            i -= 1
        }
        return nil
    }
}

/// One decoded span: ids, times, status and the attributes the mapping reads.
public struct OTLPSpan: Sendable {
    /// The 16-byte trace id as two big-endian words; ``traceIDLength`` is the length received.
    public var traceHigh: UInt64 = 0
    public var traceLow: UInt64 = 0
    public var traceIDLength = 0
    /// The 8-byte span id, big-endian; ``spanIDLength`` is the length received.
    public var spanID: UInt64 = 0
    public var spanIDLength = 0
    public var startNs: UInt64 = 0
    public var endNs: UInt64 = 0
    /// `Status.code`: 0 unset, 1 ok, 2 error.
    public var statusCode: Int64 = 0
    public var statusMessage: String?
    public var attributes = OTLPAttributes(capacity: 16)
    /// Index into ``OTLPTraces/resources``.
    public var resource = 0
    /// A problem that rejects this span alone (invalid UTF-8, bad id text), found while decoding.
    public var problem: String?
    /// The position of the span in the request (0-based, across all resources and scopes).
    public var index = 0

    public init() {}

    /// Lowercase hex of the trace id and span id (`<32 hex>-<16 hex>`), for messages and request ids.
    public var idText: String {
        let digits: StaticString = "0123456789abcdef"
        let (a, b, c) = (traceHigh, traceLow, spanID)
        return String(unsafeUninitializedCapacity: 49) { out in
            digits.withUTF8Buffer { hex in
                for d in 0..<16 {
                    let shift = UInt64(60 - 4 * d)
                    out[d] = hex[Int((a >> shift) & 0xF)]
                    out[16 + d] = hex[Int((b >> shift) & 0xF)]
                    out[33 + d] = hex[Int((c >> shift) & 0xF)]
                }
            }
            out[32] = 0x2D
            return 49
        }
    }
}

/// A decoded `ExportTraceServiceRequest`: every span, flattened, with its resource's attributes.
public struct OTLPTraces: Sendable {
    public var resources: [OTLPAttributes] = []
    /// Per resource: a problem (invalid UTF-8 in a resource attribute) that rejects its spans.
    public var resourceProblems: [String?] = []
    public var spans: [OTLPSpan] = []

    public init() {}
}

/// The attribute keys the mapping reads, looked up by their UTF-8 bytes without building a
/// `String` (an open-addressing table keyed by FNV-1a).
public struct OTLPKeyTable: Sendable {
    public let names: [String]
    /// Every key's bytes, back to back; key `i` is `pool[offsets[i]..<offsets[i + 1]]`.
    let pool: [UInt8]
    let offsets: [Int]
    let slots: [Int32]
    let mask: Int

    public init(_ names: [String]) {
        var unique: [String] = []
        for n in names where !unique.contains(n) { unique.append(n) }
        self.names = unique
        var pool: [UInt8] = []
        var offsets = [0]
        for n in unique {
            pool += Array(n.utf8)
            offsets.append(pool.count)
        }
        self.pool = pool
        self.offsets = offsets
        var size = 16
        while size < unique.count * 4 { size <<= 1 }
        var slots = [Int32](repeating: -1, count: size)
        for i in 0..<unique.count {
            var s = pool.withUnsafeBufferPointer { p in
                Int(Self.hash(UnsafeBufferPointer(rebasing: p[offsets[i]..<offsets[i + 1]])) & UInt64(size - 1))
            }
            while slots[s] >= 0 { s = (s + 1) & (size - 1) }
            slots[s] = Int32(i)
        }
        self.slots = slots
        self.mask = size - 1
    }

    @inline(__always)
    static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for c in b { h = (h ^ UInt64(c)) &* 0x100_0000_01b3 }
        return h
    }

    /// The index of the key with these bytes, or `nil`.
    func lookup(_ key: UnsafeBufferPointer<UInt8>) -> Int? {
        pool.withUnsafeBufferPointer { p -> Int? in
            slots.withUnsafeBufferPointer { slots -> Int? in
                offsets.withUnsafeBufferPointer { offsets -> Int? in
                    var s = Int(Self.hash(key) & UInt64(mask))
                    while true {
                        let i = Int(slots[s])
                        if i < 0 { return nil }
                        let start = offsets[i], n = offsets[i + 1] - start
                        if n == key.count && (n == 0 || memcmp(p.baseAddress! + start, key.baseAddress!, n) == 0) { return i }
                        s = (s + 1) & mask
                    }
                }
            }
        }
    }

    public func index(of name: String) -> Int? {
        var u = Array(name.utf8)
        return u.withUnsafeMutableBufferPointer { lookup(UnsafeBufferPointer($0)) }
    }
}

/// Decodes the OTLP protobuf encoding of `ExportTraceServiceRequest`
/// (opentelemetry-proto `collector/trace/v1`): resource spans → resource attributes and scope
/// spans → spans. Unknown fields are skipped (newer senders stay readable); structural problems
/// (truncation, bad varints, wrong wire types, lengths past the end) throw ``OTLPDecodeError``;
/// invalid UTF-8 in a span's or resource's strings marks that span (or resource) as rejected.
public enum OTLPProtobuf {
    /// Nesting limit for `AnyValue` arrays and key-value lists.
    static let maxValueDepth = 16

    public static func decodeRequest(_ bytes: UnsafeRawBufferPointer, keys: OTLPKeyTable) throws(OTLPDecodeError) -> OTLPTraces {
        var out = OTLPTraces()
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else { return out }
        var r = ProtobufReader(base: base, start: 0, end: bytes.count)
        while let (field, wire) = try r.tag() {
            if field == 1 {
                try r.expect(wire, .lengthDelimited, field: "resource_spans", in: "ExportTraceServiceRequest")
                var m = try r.message()
                try decodeResourceSpans(&m, keys: keys, into: &out)
            } else {
                try r.skip(wire)
            }
        }
        return out
    }

    static func decodeResourceSpans(_ r: inout ProtobufReader, keys: OTLPKeyTable, into out: inout OTLPTraces) throws(OTLPDecodeError) {
        let resourceIndex = out.resources.count
        out.resources.append(OTLPAttributes())
        out.resourceProblems.append(nil)
        while let (field, wire) = try r.tag() {
            switch field {
            case 1:
                try r.expect(wire, .lengthDelimited, field: "resource", in: "ResourceSpans")
                var m = try r.message()
                var attributes = OTLPAttributes()
                var problem: String?
                while let (f, w) = try m.tag() {
                    if f == 1 {
                        try m.expect(w, .lengthDelimited, field: "attributes", in: "Resource")
                        var kv = try m.message()
                        try decodeKeyValue(&kv, keys: keys, into: &attributes, problem: &problem, depth: 0)
                    } else {
                        try m.skip(w)
                    }
                }
                out.resources[resourceIndex] = attributes
                if let problem { out.resourceProblems[resourceIndex] = "resource " + problem }
            case 2:
                try r.expect(wire, .lengthDelimited, field: "scope_spans", in: "ResourceSpans")
                var m = try r.message()
                while let (f, w) = try m.tag() {
                    if f == 2 {
                        try m.expect(w, .lengthDelimited, field: "spans", in: "ScopeSpans")
                        var s = try m.message()
                        var span = try decodeSpan(&s, keys: keys)
                        span.resource = resourceIndex
                        span.index = out.spans.count
                        out.spans.append(span)
                    } else {
                        try m.skip(w)  // scope (name, version) and schema_url are not mapped
                    }
                }
            default:
                try r.skip(wire)
            }
        }
    }

    static func decodeSpan(_ r: inout ProtobufReader, keys: OTLPKeyTable) throws(OTLPDecodeError) -> OTLPSpan {
        var span = OTLPSpan()
        var problem: String?
        while let (field, wire) = try r.tag() {
            switch field {
            case 1:
                try r.expect(wire, .lengthDelimited, field: "trace_id", in: "Span")
                let b = r.bytes(try r.lengthDelimited())
                span.traceIDLength = b.count
                if b.count == 16 {
                    span.traceHigh = bigEndian(b, 0)
                    span.traceLow = bigEndian(b, 8)
                }
            case 2:
                try r.expect(wire, .lengthDelimited, field: "span_id", in: "Span")
                let b = r.bytes(try r.lengthDelimited())
                span.spanIDLength = b.count
                if b.count == 8 { span.spanID = bigEndian(b, 0) }
            case 5:
                try r.expect(wire, .lengthDelimited, field: "name", in: "Span")
                if !UTF8Check.isValid(r.bytes(try r.lengthDelimited())) { problem = problem ?? "name is not valid UTF-8" }
            case 7:
                try r.expect(wire, .fixed64, field: "start_time_unix_nano", in: "Span")
                span.startNs = try r.fixed64()
            case 8:
                try r.expect(wire, .fixed64, field: "end_time_unix_nano", in: "Span")
                span.endNs = try r.fixed64()
            case 9:
                try r.expect(wire, .lengthDelimited, field: "attributes", in: "Span")
                var kv = try r.message()
                try decodeKeyValue(&kv, keys: keys, into: &span.attributes, problem: &problem, depth: 0)
            case 15:
                try r.expect(wire, .lengthDelimited, field: "status", in: "Span")
                var m = try r.message()
                while let (f, w) = try m.tag() {
                    switch f {
                    case 2:
                        try m.expect(w, .lengthDelimited, field: "message", in: "Status")
                        let b = m.bytes(try m.lengthDelimited())
                        if UTF8Check.isValid(b) {
                            span.statusMessage = b.isEmpty ? nil : String(decoding: b, as: UTF8.self)
                        } else {
                            problem = problem ?? "status.message is not valid UTF-8"
                        }
                    case 3:
                        try m.expect(w, .varint, field: "code", in: "Status")
                        span.statusCode = Int64(bitPattern: try m.varint())
                    default:
                        try m.skip(w)
                    }
                }
            default:
                try r.skip(wire)  // trace_state, parent_span_id, kind, events, links, flags, counts
            }
        }
        span.problem = problem
        return span
    }

    @inline(__always)
    static func bigEndian(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt64 {
        UInt64(bigEndian: UnsafeRawPointer(b.baseAddress! + at).loadUnaligned(as: UInt64.self))
    }

    /// Decodes one `KeyValue`; keeps it when its key is in `keys`, else only validates it.
    static func decodeKeyValue(
        _ r: inout ProtobufReader, keys: OTLPKeyTable, into attributes: inout OTLPAttributes, problem: inout String?, depth: Int
    ) throws(OTLPDecodeError) {
        var key: UnsafeBufferPointer<UInt8>?
        var valueRange: Range<Int>?
        while let (field, wire) = try r.tag() {
            switch field {
            case 1:
                try r.expect(wire, .lengthDelimited, field: "key", in: "KeyValue")
                key = r.bytes(try r.lengthDelimited())
            case 2:
                try r.expect(wire, .lengthDelimited, field: "value", in: "KeyValue")
                valueRange = try r.lengthDelimited()
            default:
                try r.skip(wire)
            }
        }
        let keyBytes = key ?? UnsafeBufferPointer(start: nil, count: 0)
        guard UTF8Check.isValid(keyBytes) else {
            if problem == nil { problem = "attribute key is not valid UTF-8" }
            if let valueRange { try validateValue(r, valueRange, depth: depth + 1) }
            return
        }
        let index = keyBytes.isEmpty ? nil : keys.lookup(keyBytes)
        func name() -> String { String(decoding: keyBytes, as: UTF8.self) }
        guard let valueRange else { return }  // an empty AnyValue: no value
        if let index {
            var m = ProtobufReader(base: r.base, start: valueRange.lowerBound, end: valueRange.upperBound)
            switch try decodeValue(&m) {
            case .some(.success(let v)): attributes.set(index, v)
            case .some(.failure):
                if problem == nil { problem = "attribute \(name()) is not valid UTF-8" }
            case .none: break
            }
        } else if try !validateValue(r, valueRange, depth: depth + 1) {
            if problem == nil { problem = "attribute \(name()) is not valid UTF-8" }
        }
    }

    struct InvalidUTF8: Error {}

    /// Decodes an `AnyValue` of a mapped key: scalars fully, arrays/lists/bytes validated only.
    static func decodeValue(_ r: inout ProtobufReader) throws(OTLPDecodeError) -> Result<OTLPValue, InvalidUTF8>? {
        var value: Result<OTLPValue, InvalidUTF8>?
        while let (field, wire) = try r.tag() {
            switch field {
            case 1:
                try r.expect(wire, .lengthDelimited, field: "string_value", in: "AnyValue")
                let b = r.bytes(try r.lengthDelimited())
                value = UTF8Check.isValid(b) ? .success(.string(String(decoding: b, as: UTF8.self))) : .failure(InvalidUTF8())
            case 2:
                try r.expect(wire, .varint, field: "bool_value", in: "AnyValue")
                value = .success(.bool(try r.varint() != 0))
            case 3:
                try r.expect(wire, .varint, field: "int_value", in: "AnyValue")
                value = .success(.int(Int64(bitPattern: try r.varint())))
            case 4:
                try r.expect(wire, .fixed64, field: "double_value", in: "AnyValue")
                value = .success(.double(Double(bitPattern: try r.fixed64())))
            case 5, 6, 7:
                try r.expect(wire, .lengthDelimited, field: field == 5 ? "array_value" : field == 6 ? "kvlist_value" : "bytes_value", in: "AnyValue")
                let range = try r.lengthDelimited()
                if field == 7 {
                    value = .success(.other("bytes"))
                } else {
                    let ok = try validateValue(r, range, depth: 1, container: field == 5 ? .array : .kvlist)
                    value = ok ? .success(.other(field == 5 ? "array" : "kvlist")) : .failure(InvalidUTF8())
                }
            default:
                try r.skip(wire)
            }
        }
        return value
    }

    enum Container { case value, array, kvlist }

    /// Validates the structure and UTF-8 of an `AnyValue` (or an `ArrayValue`/`KeyValueList`)
    /// without keeping it. - Returns: false when a string in it is not valid UTF-8.
    @discardableResult
    static func validateValue(_ parent: ProtobufReader, _ range: Range<Int>, depth: Int, container: Container = .value) throws(OTLPDecodeError) -> Bool {
        guard depth <= maxValueDepth else { throw OTLPDecodeError("attribute value nested deeper than \(maxValueDepth) levels (at byte \(range.lowerBound))") }
        var r = ProtobufReader(base: parent.base, start: range.lowerBound, end: range.upperBound)
        var ok = true
        while let (field, wire) = try r.tag() {
            switch (container, field) {
            case (.value, 1):
                try r.expect(wire, .lengthDelimited, field: "string_value", in: "AnyValue")
                if !UTF8Check.isValid(r.bytes(try r.lengthDelimited())) { ok = false }
            case (.value, 5):
                try r.expect(wire, .lengthDelimited, field: "array_value", in: "AnyValue")
                if try !validateValue(r, try r.lengthDelimited(), depth: depth + 1, container: .array) { ok = false }
            case (.value, 6):
                try r.expect(wire, .lengthDelimited, field: "kvlist_value", in: "AnyValue")
                if try !validateValue(r, try r.lengthDelimited(), depth: depth + 1, container: .kvlist) { ok = false }
            case (.array, 1):
                try r.expect(wire, .lengthDelimited, field: "values", in: "ArrayValue")
                if try !validateValue(r, try r.lengthDelimited(), depth: depth + 1, container: .value) { ok = false }
            case (.kvlist, 1):
                try r.expect(wire, .lengthDelimited, field: "values", in: "KeyValueList")
                var kv = try r.message()
                while let (f, w) = try kv.tag() {
                    if f == 1 {
                        try kv.expect(w, .lengthDelimited, field: "key", in: "KeyValue")
                        if !UTF8Check.isValid(kv.bytes(try kv.lengthDelimited())) { ok = false }
                    } else if f == 2 {
                        try kv.expect(w, .lengthDelimited, field: "value", in: "KeyValue")
                        if try !validateValue(kv, try kv.lengthDelimited(), depth: depth + 1, container: .value) { ok = false }
                    } else {
                        try kv.skip(w)
                    }
                }
            case (.value, 2), (.value, 3):
                try r.expect(wire, .varint, field: field == 2 ? "bool_value" : "int_value", in: "AnyValue")
                _ = try r.varint()
            case (.value, 4):
                try r.expect(wire, .fixed64, field: "double_value", in: "AnyValue")
                _ = try r.fixed64()
            default:
                try r.skip(wire)
            }
        }
        return ok
    }
}
