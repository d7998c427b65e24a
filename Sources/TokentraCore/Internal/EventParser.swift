/// The single-pass parser behind ``EventDecoder``: reads one event object's fields into typed
/// slots, then validates and normalizes them in ``finish(org:nowMs:priceTable:)``.
///
/// Error precedence: a JSON syntax error (`INVALID_JSON`) always wins, because nothing in a
/// malformed object can be trusted. Otherwise the first field-level problem in document order is
/// reported; parsing continues after it only to validate the JSON and to find `request_id` for
/// the error report. Then missing required fields (in the order request_id, timestamp, provider,
/// model), the organization, the time window and finally the costs are checked.
struct EventParser {
    var s: JSONScanner
    let config: EventDecoderConfiguration
    let table: EventKeyTable
    var objectStart = 0
    var objectEnd = 0

    var pending: EventError?
    var seenKeys: UInt128 = 0
    var scratch: [UInt8] = []
    /// Decoded copies of escaped strings, normalized providers and compacted metadata (``TextRef``s point here
    /// or into the input). Empty, so never allocated, for the usual event.
    var arena: [UInt8] = []
    var tokenTrackr = false
    var sawCost = false

    var requestIDToken: JSONStringToken?
    var requestID: RequestID?
    var timestampMs: Int64?
    var org: TextRef?
    var orgKey: Int = 0
    var orgValid = false
    var provider: TextRef?
    var model: TextRef?
    var inputTokens: Int64?
    var outputTokens: Int64?
    var cachedTokens: Int64?
    var totalTokens: Int64?
    var inputCost: Money?
    var outputCost: Money?
    var cachedCost: Money?
    var totalCost: Money?
    var latencyMs: Int64?
    var timeToFirstTokenMs: Int64?
    var feature: TextRef?
    var team: TextRef?
    var project: TextRef?
    var costCenter: TextRef?
    var userID: TextRef?
    var environment: TextRef?
    var metadata: TextRef?
    var wasCached: Bool?
    var cacheHitType: TextRef?
    var originalModel: TextRef?
    var routedByRule: TextRef?
    var isError: Bool?
    var errorCode: TextRef?
    var errorType: TextRef?
    var errorMessage: TextRef?
    var promptHash: TextRef?
    var sdkVersion: TextRef?
    var sdkLanguage: TextRef?
    /// `cost_source` from an operator export; kept only for ``OrgPolicy/fromEvent(default:)`` imports.
    var declaredCostSource: CostSource?
    var hostname: TextRef?
    var cloudProvider: TextRef?
    var instanceID: TextRef?
    var k8sPod: TextRef?
    var k8sNamespace: TextRef?
    var k8sNode: TextRef?

    init(base: UnsafePointer<UInt8>, count: Int, configuration: EventDecoderConfiguration) {
        self.config = configuration
        self.table = EventKeyTable.shared
        // Nested values start at level 2: the event object itself is level 1.
        self.s = JSONScanner(base: base, end: count, maxDepth: min(max(configuration.maxDepth, 2), 64) - 1)
    }

    // MARK: Helpers

    @inline(__always)
    mutating func fail(_ code: EventErrorCode, _ message: String, field: String?) {
        if pending == nil { pending = EventError(code, message, field: field) }
    }

    @inline(__always)
    func keyName(_ index: Int) -> String { table.names[index] }

    static func kindName(_ c: UInt8) -> String {
        switch c {
        case 0x22: return "string"
        case 0x7B: return "object"
        case 0x5B: return "array"
        case 0x74, 0x66: return "boolean"
        case 0x6E: return "null"
        default: return "number"
        }
    }

    func text(_ start: Int, _ end: Int, limit: Int = 64) -> String {
        let n = min(end - start, limit)
        var t = String(decoding: UnsafeBufferPointer(start: s.base + start, count: n), as: UTF8.self)
        if end - start > limit { t += "…" }
        return t
    }

    /// Merges a value into a slot; returns false when the slot already holds a different value.
    @inline(__always)
    static func merge<T: Equatable>(_ slot: inout T?, _ value: T) -> Bool {
        if let old = slot { return old == value }
        slot = value
        return true
    }

    /// Skips one value with the remaining depth budget of nesting level `level` (1 = event).
    mutating func skipValue(level: Int = 1) throws(JSONSyntaxError) {
        if level <= 1 {
            try s.skipValue()
            return
        }
        var inner = JSONScanner(base: s.base, start: s.pos, end: s.end, maxDepth: max(s.maxDepth + 1 - level, 1))
        try inner.skipValue()
        s.pos = inner.pos
        s.sawNonFinite = s.sawNonFinite || inner.sawNonFinite
    }

    /// Skips a value of the wrong type and records UNKNOWN_FIELD_TYPE.
    mutating func wrongType(_ name: String, expected: String, level: Int = 1) throws(JSONSyntaxError) {
        let c = s.base[s.pos]
        fail(.unknownFieldType, "field \(name) must be \(expected), got \(Self.kindName(c))", field: name)
        try skipValue(level: level)
    }

    /// If a NaN/Infinity literal is at the current position, consumes it, records
    /// NON_FINITE_NUMBER for `name` and returns true.
    @inline(__always)
    mutating func nonFinite(_ name: String) -> Bool {
        let c = s.base[s.pos]
        guard c == 0x4E || c == 0x49 || (c == 0x2D && s.pos + 1 < s.end && s.base[s.pos + 1] == 0x49) else {
            return false
        }
        let start = s.pos
        guard s.scanNonFiniteLiteral() else { return false }  // not a literal: the caller reports the syntax error
        fail(.nonFiniteNumber, "field \(name) must be a finite number, got \(text(start, s.pos))", field: name)
        return true
    }

    /// Calls `body` with the decoded bytes of a string token.
    @inline(__always)
    mutating func withBytes<R>(_ token: JSONStringToken, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if !token.hasEscapes {
            return body(UnsafeBufferPointer(start: s.base + token.start, count: token.count))
        }
        scratch.removeAll(keepingCapacity: true)
        s.decodeString(token, into: &scratch)
        return scratch.withUnsafeBufferPointer(body)
    }

    /// The decoded text of a token, or nil (FIELD_TOO_LONG recorded) when longer than `limit` bytes:
    /// a reference to the input bytes, or (escaped strings) to their decoded copy in ``arena``.
    /// The field is named `path` if given, else by its key index.
    @inline(__always)
    mutating func string(_ token: JSONStringToken, key: Int, path: String? = nil, limit: Int) -> TextRef? {
        if !token.hasEscapes {
            guard token.count <= limit else {
                let n = path ?? keyName(key)
                fail(.fieldTooLong, "field \(n) is \(token.count) bytes long, the limit is \(limit)", field: n)
                return nil
            }
            return TextRef(start: token.start, count: token.count, inArena: false)
        }
        let start = arena.count
        s.decodeString(token, into: &arena)
        let count = arena.count - start
        guard count <= limit else {
            arena.removeLast(count)
            let n = path ?? keyName(key)
            fail(.fieldTooLong, "field \(n) is \(count) bytes long, the limit is \(limit)", field: n)
            return nil
        }
        return TextRef(start: start, count: count, inArena: true)
    }

    /// Copies `bytes` into ``arena`` and returns their reference.
    mutating func arenaText(_ bytes: some Collection<UInt8>) -> TextRef {
        let start = arena.count
        arena.append(contentsOf: bytes)
        return TextRef(start: start, count: arena.count - start, inArena: true)
    }

    /// Calls `body` with the bytes `ref` names.
    @inline(__always)
    func withText<R>(_ ref: TextRef, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if !ref.inArena { return body(UnsafeBufferPointer(start: s.base + ref.start, count: ref.count)) }
        return arena.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[ref.start..<(ref.start + ref.count)])) }
    }

    /// The text `ref` names, as a `String` (for messages and the rare fields kept as text).
    func string(_ ref: TextRef) -> String { withText(ref) { String(decoding: $0, as: UTF8.self) } }

    /// Whether two references name the same bytes.
    func sameText(_ a: TextRef, _ b: TextRef) -> Bool {
        a.count == b.count && withText(a) { x in withText(b) { y in bytesEqual(x, y) } }
    }

    /// Merges a text into a slot; returns false when the slot already holds a different text.
    @inline(__always)
    func merge(_ slot: inout TextRef?, _ value: TextRef) -> Bool {
        if let old = slot { return sameText(old, value) }
        slot = value
        return true
    }

    /// Reads a string-or-null value: the token, or nil for null and for a wrong type (recorded).
    @inline(__always)
    mutating func stringToken(_ key: Int, path: String? = nil, level: Int = 1) throws(JSONSyntaxError) -> JSONStringToken? {
        let c = s.base[s.pos]
        if c == 0x22 { return try s.scanString() }
        if c == 0x6E {
            _ = try s.scanLiteral()
            return nil
        }
        let n = path ?? keyName(key)
        if nonFinite(n) { return nil }
        try wrongType(n, expected: "a string", level: level)
        return nil
    }

    /// Reads an optional string field: `null` and `""` are absent.
    @inline(__always)
    mutating func optionalString(_ key: Int, limit: Int) throws(JSONSyntaxError) -> TextRef? {
        guard let token = try stringToken(key), token.count > 0 else { return nil }
        return string(token, key: key, limit: limit)
    }

    // MARK: Object

    mutating func parseObject() throws(JSONSyntaxError) {
        s.skipWhitespace()
        guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
        guard s.base[s.pos] == 0x7B else { throw JSONSyntaxError(.notAnObject, at: s.pos) }
        objectStart = s.pos
        s.pos += 1
        s.skipWhitespace()
        var hint = 0
        if s.peek == 0x7D {
            s.pos += 1
        } else {
            while true {
                guard s.peek == 0x22 else { throw JSONSyntaxError(s.atEnd ? .unexpectedEnd : .expectedKey, at: s.pos) }
                var index: Int?
                var key = JSONStringToken(start: s.pos + 1, end: s.pos + 1, hasEscapes: false)
                if let hit = table.matchHint(s.base + s.pos + 1, readable: s.end - s.pos - 1, hint: hint) {
                    index = hit
                    s.pos += table.length(hit) + 2
                } else {
                    key = try s.scanString()
                    if !key.hasEscapes {
                        index = table.lookup(s.base + key.start, count: key.count, readable: s.end - key.start)
                    } else {
                        scratch.removeAll(keepingCapacity: true)
                        s.decodeString(key, into: &scratch)
                        index = scratch.withUnsafeBufferPointer { table.lookup($0.baseAddress!, count: $0.count, readable: $0.count) }
                    }
                }
                s.skipWhitespace()
                try s.expect(0x3A, .expectedColon)
                s.skipWhitespace()
                guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
                if let index {
                    hint = index + 1
                    try parseField(index)
                } else {
                    try skipUnknown(key)
                }
                s.skipWhitespace()
                guard !s.atEnd else { throw JSONSyntaxError(.unexpectedEnd, at: s.pos) }
                let c = s.base[s.pos]
                if c == 0x2C {
                    s.pos += 1
                    s.skipWhitespace()
                } else if c == 0x7D {
                    s.pos += 1
                    break
                } else {
                    throw JSONSyntaxError(.expectedCommaOrEnd, at: s.pos)
                }
            }
        }
        objectEnd = s.pos
        s.skipWhitespace()
        guard s.atEnd else { throw JSONSyntaxError(.trailingData, at: s.pos) }
    }

    mutating func skipUnknown(_ key: JSONStringToken) throws(JSONSyntaxError) {
        s.sawNonFinite = false
        try s.skipValue()
        if s.sawNonFinite {
            let name = withBytes(key) { String(decoding: $0, as: UTF8.self) }
            fail(.nonFiniteNumber, "field \(name) contains NaN or Infinity, which JSON does not allow", field: name)
        }
    }

    // MARK: Fields

    mutating func parseField(_ key: Int) throws(JSONSyntaxError) {
        let bit: UInt128 = 1 << UInt128(key)
        if seenKeys & bit != 0 {
            fail(.invalidValue, "duplicate field \(keyName(key))", field: keyName(key))
            return try skipUnknown(JSONStringToken(start: 0, end: 0, hasEscapes: false))
        }
        seenKeys |= bit
        if table.tokenTrackr[key] { tokenTrackr = true }
        let field = table.fields[key]
        switch field {
        case .requestID: try parseRequestID(key)
        case .timestamp: try parseTimestamp(key)
        case .org:
            guard let token = try stringToken(key), token.count > 0 else { return }  // "" is absent
            guard let value = string(token, key: key, limit: config.maxStringLength) else { return }
            orgValid = withText(value) { OrgID.isValid(bytes: $0) }
            if !merge(&org, value) {
                fail(.invalidValue, "field \(keyName(key)) conflicts with \(keyName(orgKey))", field: keyName(key))
            } else {
                orgKey = key
            }
        case .provider: try parseProvider(key)
        case .model:
            guard let token = try stringToken(key) else { return }
            guard token.count > 0 else { return fail(.invalidValue, "field model must not be empty", field: "model") }
            model = string(token, key: key, limit: config.maxStringLength)
        case .inputTokens:
            if let v = try tokens(key), !Self.merge(&inputTokens, v) { tokenConflict(key) }
        case .outputTokens:
            if let v = try tokens(key), !Self.merge(&outputTokens, v) { tokenConflict(key) }
        case .cachedTokens: cachedTokens = try tokens(key)
        case .totalTokens: totalTokens = try tokens(key)
        case .inputCost: inputCost = try money(key)
        case .outputCost: outputCost = try money(key)
        case .cachedCost: cachedCost = try money(key)
        case .totalCost: totalCost = try money(key)
        case .latencyMs: latencyMs = try millis(key)
        case .timeToFirstTokenMs: timeToFirstTokenMs = try millis(key)
        case .feature: feature = try optionalString(key, limit: config.maxStringLength)
        case .team: team = try optionalString(key, limit: config.maxStringLength)
        case .project: project = try optionalString(key, limit: config.maxStringLength)
        case .costCenter: costCenter = try optionalString(key, limit: config.maxStringLength)
        case .userID: userID = try optionalString(key, limit: config.maxStringLength)
        case .environment: environment = try optionalString(key, limit: config.maxStringLength)
        case .metadata: try parseMetadata(key)
        case .wasCached: wasCached = try bool(key)
        case .cacheHitType: cacheHitType = try optionalString(key, limit: config.maxStringLength)
        case .originalModel: originalModel = try optionalString(key, limit: config.maxStringLength)
        case .routedByRule: routedByRule = try optionalString(key, limit: config.maxStringLength)
        case .isError: isError = try bool(key)
        case .errorCode: try parseErrorCode(key)
        case .errorType: errorType = try optionalString(key, limit: config.maxStringLength)
        case .errorMessage: errorMessage = try optionalString(key, limit: config.maxErrorMessageLength)
        case .promptHash: promptHash = try optionalString(key, limit: config.maxStringLength)
        case .sdkVersion: sdkVersion = try optionalString(key, limit: config.maxStringLength)
        case .sdkLanguage: sdkLanguage = try optionalString(key, limit: config.maxStringLength)
        case .costSource:
            let ref = try optionalString(key, limit: config.maxStringLength)
            if let ref {
                let text = string(ref)
                guard let source = CostSource(text: text) else {
                    return fail(.invalidValue, "field cost_source must be client, unpriced or price_table@<version>, got \"\(text)\"",
                                field: "cost_source")
                }
                declaredCostSource = source
            }
        case .hostname, .cloudProvider, .instanceID, .k8sPod, .k8sNamespace, .k8sNode:
            guard let token = try stringToken(key), token.count > 0,
                let value = string(token, key: key, limit: config.maxStringLength)
            else { return }
            mergeHost(field, value, name: keyName(key))
        case .host: try parseHost(key)
        case .events:
            if s.base[s.pos] == 0x5B {
                fail(
                    .invalidValue,
                    "field events: a batch object must start with \"events\" ({\"events\":[...]}), and an event cannot contain events",
                    field: "events")
            }
            try skipUnknown(JSONStringToken(start: 0, end: 0, hasEscapes: false))
        }
    }

    mutating func tokenConflict(_ key: Int) {
        let pair = table.fields[key] == .inputTokens ? "input_tokens and prompt_tokens" : "output_tokens and completion_tokens"
        fail(.invalidValue, "fields \(pair) disagree", field: keyName(key))
    }

    mutating func mergeHost(_ field: EventField, _ value: TextRef, name: String) {
        let ok: Bool
        switch field {
        case .hostname: ok = merge(&hostname, value)
        case .cloudProvider: ok = merge(&cloudProvider, value)
        case .instanceID: ok = merge(&instanceID, value)
        case .k8sPod: ok = merge(&k8sPod, value)
        case .k8sNamespace: ok = merge(&k8sNamespace, value)
        default: ok = merge(&k8sNode, value)
        }
        if !ok { fail(.invalidValue, "field \(name) conflicts with another spelling of the same host field", field: name) }
    }

    mutating func parseRequestID(_ key: Int) throws(JSONSyntaxError) {
        guard let token = try stringToken(key) else { return }
        let limit = config.maxRequestIDLength
        let parsed: RequestID?? = withBytes(token) { bytes -> RequestID?? in
            if bytes.count > limit { return .some(nil) }
            if bytes.count == 0 { return nil }
            if bytes.count == 36, let uuid = RequestID.parseUUID(bytes) { return uuid }
            let digest = SHA256.digest128(UnsafeRawBufferPointer(bytes))
            return RequestID(high: digest.high, low: digest.low, text: String(decoding: bytes, as: UTF8.self))
        }
        switch parsed {
        case .none:
            fail(.invalidValue, "field request_id must not be empty", field: "request_id")
        case .some(.none):
            fail(.fieldTooLong, "field request_id is longer than \(limit) bytes", field: "request_id")
        case .some(.some(let id)):
            requestIDToken = token
            requestID = id
        }
    }

    mutating func parseTimestamp(_ key: Int) throws(JSONSyntaxError) {
        guard let token = try stringToken(key) else { return }
        let result = withBytes(token) { UTCTimestamp.parse($0) }
        switch result {
        case .success(let ms): timestampMs = ms
        case .failure(let why):
            fail(.invalidTimestamp, "field timestamp \"\(text(token.start, token.end))\" is invalid: \(why)", field: "timestamp")
        }
    }

    mutating func parseProvider(_ key: Int) throws(JSONSyntaxError) {
        guard let token = try stringToken(key) else { return }
        if token.count > config.maxStringLength {
            return fail(.fieldTooLong, "field provider is \(token.count) bytes long, the limit is \(config.maxStringLength)", field: "provider")
        }
        var normalized: [UInt8] = []  // only filled for a provider that is not already its canonical spelling
        let valid = withBytes(token) { ProviderName.normalize(bytes: $0, into: &normalized) }
        if valid {
            provider = normalized.isEmpty ? string(token, key: key, limit: config.maxStringLength) : arenaText(normalized)
        } else if token.count == 0 {
            fail(.invalidValue, "field provider must not be empty", field: "provider")
        } else {
            fail(
                .invalidValue,
                "field provider must be a slug of letters, digits, '_', '.' or '-' (at most 64), got \"\(text(token.start, token.end))\"",
                field: "provider")
        }
    }

    mutating func parseErrorCode(_ key: Int) throws(JSONSyntaxError) {
        let c = s.base[s.pos]
        if c == 0x2D || (c >= 0x30 && c <= 0x39) {  // HTTP status sent as a number: keep its text
            let n = try s.scanNumber()
            if n.end - n.start <= config.maxStringLength {
                errorCode = TextRef(start: n.start, count: n.end - n.start, inArena: false)
            } else {
                errorCode = arenaText(text(n.start, n.end, limit: config.maxStringLength).utf8)
            }
            return
        }
        errorCode = try optionalString(key, limit: config.maxStringLength)
    }
}

/// Where a parsed string lives: `count` bytes at `start` of the input (`inArena` false) or of the
/// parser's ``EventParser/arena``. Offsets, not pointers, so the arena may grow while parsing.
struct TextRef {
    var start: Int
    var count: Int
    var inArena: Bool
}
