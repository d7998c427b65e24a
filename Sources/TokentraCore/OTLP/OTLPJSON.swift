/// Decodes the OTLP/JSON encoding of `ExportTraceServiceRequest` (the protobuf JSON mapping with
/// OTLP's exceptions): lowerCamelCase member names (the proto names such as `trace_id` are
/// accepted too), trace and span ids as hex (not base64), 64-bit integers as strings or numbers,
/// enums as numbers or names. Unknown members are ignored. A body that is not JSON, or whose
/// structure has the wrong types, throws ``OTLPDecodeError`` naming the member; a bad id or time
/// text rejects that span alone.
public enum OTLPJSON {
    public static func decodeRequest(_ bytes: UnsafeRawBufferPointer, keys: OTLPKeyTable) throws(OTLPDecodeError) -> OTLPTraces {
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes.bindMemory(to: UInt8.self))
        } catch {
            throw OTLPDecodeError(error.message)
        }
        guard case .object = root else { throw OTLPDecodeError("the body must be a JSON object (ExportTraceServiceRequest)") }
        var out = OTLPTraces()
        for (i, rs) in try array(root, "resourceSpans", "resource_spans", path: "").enumerated() {
            let path = "resourceSpans[\(i)]"
            guard case .object = rs else { throw OTLPDecodeError("\(path) must be an object") }
            let resourceIndex = out.resources.count
            var attributes = OTLPAttributes()
            var problem: String?
            if let resource = member(rs, "resource"), resource != .null {
                guard case .object = resource else { throw OTLPDecodeError("\(path).resource must be an object") }
                try decodeAttributes(resource, keys: keys, into: &attributes, problem: &problem, path: path + ".resource")
            }
            out.resources.append(attributes)
            out.resourceProblems.append(problem.map { "resource " + $0 })
            for (j, ss) in try array(rs, "scopeSpans", "scope_spans", path: path).enumerated() {
                let spath = "\(path).scopeSpans[\(j)]"
                guard case .object = ss else { throw OTLPDecodeError("\(spath) must be an object") }
                for (k, s) in try array(ss, "spans", path: spath).enumerated() {
                    var span = try decodeSpan(s, keys: keys, path: "\(spath).spans[\(k)]")
                    span.resource = resourceIndex
                    span.index = out.spans.count
                    out.spans.append(span)
                }
            }
        }
        return out
    }

    static func member(_ v: JSONValue, _ names: String...) -> JSONValue? {
        for n in names { if let m = v[n] { return m } }
        return nil
    }

    static func array(_ v: JSONValue, _ names: String..., path: String) throws(OTLPDecodeError) -> [JSONValue] {
        var found: JSONValue?
        for n in names where found == nil { found = v[n] }
        guard let found, found != .null else { return [] }
        guard case .array(let items) = found else {
            throw OTLPDecodeError("\(path.isEmpty ? "" : path + ".")\(names[0]) must be an array")
        }
        return items
    }

    static func decodeSpan(_ s: JSONValue, keys: OTLPKeyTable, path: String) throws(OTLPDecodeError) -> OTLPSpan {
        guard case .object = s else { throw OTLPDecodeError("\(path) must be an object") }
        var span = OTLPSpan()
        var problem: String?
        func note(_ p: String) { if problem == nil { problem = p } }
        if let t = member(s, "traceId", "trace_id"), t != .null {
            guard case .string(let hex) = t else { throw OTLPDecodeError("\(path).traceId must be a hex string") }
            if let words = hexWords(hex, count: 2) {
                span.traceIDLength = 16
                span.traceHigh = words[0]
                span.traceLow = words[1]
            } else if hex.isEmpty {
                span.traceIDLength = 0
            } else {
                span.traceIDLength = -1
                note("traceId \"\(hex.prefix(40))\" is not 32 hex digits")
            }
        }
        if let t = member(s, "spanId", "span_id"), t != .null {
            guard case .string(let hex) = t else { throw OTLPDecodeError("\(path).spanId must be a hex string") }
            if let words = hexWords(hex, count: 1) {
                span.spanIDLength = 8
                span.spanID = words[0]
            } else if hex.isEmpty {
                span.spanIDLength = 0
            } else {
                span.spanIDLength = -1
                note("spanId \"\(hex.prefix(40))\" is not 16 hex digits")
            }
        }
        for (names, isStart) in [(["startTimeUnixNano", "start_time_unix_nano"], true), (["endTimeUnixNano", "end_time_unix_nano"], false)] {
            var found: JSONValue?
            for n in names where found == nil { found = s[n] }
            guard let found, found != .null else { continue }
            let text: String
            switch found {
            case .string(let t), .number(let t): text = t
            default: throw OTLPDecodeError("\(path).\(names[0]) must be a string or number of nanoseconds")
            }
            if let ns = UInt64(text) {
                if isStart { span.startNs = ns } else { span.endNs = ns }
            } else {
                note("\(names[0]) \"\(text.prefix(40))\" is not an unsigned 64-bit integer")
            }
        }
        if let status = member(s, "status"), status != .null {
            guard case .object = status else { throw OTLPDecodeError("\(path).status must be an object") }
            if case .string(let m)? = status["message"], !m.isEmpty { span.statusMessage = m }
            switch status["code"] {
            case .number(let t)?: span.statusCode = Int64(t) ?? -1
            case .string(let name)?:
                switch name {
                case "STATUS_CODE_UNSET": span.statusCode = 0
                case "STATUS_CODE_OK": span.statusCode = 1
                case "STATUS_CODE_ERROR": span.statusCode = 2
                default: span.statusCode = Int64(name) ?? -1
                }
            case nil, .null?: break
            default: throw OTLPDecodeError("\(path).status.code must be a number or a StatusCode name")
            }
        }
        try decodeAttributes(s, keys: keys, into: &span.attributes, problem: &problem, path: path)
        span.problem = problem
        return span
    }

    static func decodeAttributes(
        _ owner: JSONValue, keys: OTLPKeyTable, into attributes: inout OTLPAttributes, problem: inout String?, path: String
    ) throws(OTLPDecodeError) {
        for (i, kv) in try array(owner, "attributes", path: path).enumerated() {
            guard case .object = kv else { throw OTLPDecodeError("\(path).attributes[\(i)] must be an object") }
            guard case .string(let key)? = kv["key"] else {
                throw OTLPDecodeError("\(path).attributes[\(i)].key must be a string")
            }
            guard let index = keys.index(of: key) else { continue }
            guard let value = kv["value"], value != .null else { continue }
            guard case .object(let members) = value else {
                throw OTLPDecodeError("\(path).attributes[\(i)].value must be an AnyValue object")
            }
            guard let (kind, v) = members.last else { continue }
            switch (kind, v) {
            case ("stringValue", .string(let s)), ("string_value", .string(let s)):
                attributes.set(index, .string(s))
            case ("boolValue", .bool(let b)), ("bool_value", .bool(let b)):
                attributes.set(index, .bool(b))
            case ("intValue", .string(let t)), ("intValue", .number(let t)), ("int_value", .string(let t)), ("int_value", .number(let t)):
                guard let n = Int64(t) else {
                    if problem == nil { problem = "attribute \(key): intValue \"\(t.prefix(40))\" is not a 64-bit integer" }
                    continue
                }
                attributes.set(index, .int(n))
            case ("doubleValue", .number(let t)), ("double_value", .number(let t)):
                attributes.set(index, .double(Double(t) ?? .nan))
            case ("doubleValue", .string(let t)), ("double_value", .string(let t)):
                switch t {
                case "NaN": attributes.set(index, .double(.nan))
                case "Infinity": attributes.set(index, .double(.infinity))
                case "-Infinity": attributes.set(index, .double(-.infinity))
                default:
                    if problem == nil { problem = "attribute \(key): doubleValue \"\(t.prefix(40))\" is not a number" }
                }
            case ("arrayValue", _), ("array_value", _): attributes.set(index, .other("array"))
            case ("kvlistValue", _), ("kvlist_value", _): attributes.set(index, .other("kvlist"))
            case ("bytesValue", _), ("bytes_value", _): attributes.set(index, .other("bytes"))
            default:
                throw OTLPDecodeError("\(path).attributes[\(i)].value: unknown or mistyped member \"\(kind)\"")
            }
        }
    }

    /// `count` big-endian words from exactly `16 × count` hex digits (either case), else `nil`.
    static func hexWords(_ hex: String, count: Int) -> [UInt64]? {
        let u = Array(hex.utf8)
        guard u.count == 16 * count else { return nil }
        var words: [UInt64] = []
        for w in 0..<count {
            var v: UInt64 = 0
            for c in u[(16 * w)..<(16 * w + 16)] {
                guard let d = RequestID.hexValue(c) else { return nil }
                v = v << 4 | d
            }
            words.append(v)
        }
        return words
    }
}
