/// A dictionary-encoded column of optional strings: each distinct value is stored once and every
/// row holds a code (0 = null, `i + 1` = ``values``[i]).
///
/// A column that has only seen nulls holds no codes at all (``codes`` stays empty), so the many
/// attributes that most events leave out cost nothing.
///
/// ```swift
/// var c = StringColumn()
/// c.append("chat", rowCount: 0)
/// c.append(nil, rowCount: 1)
/// c.value(at: 0)   // "chat"
/// ```
public struct StringColumn: Sendable {
    /// The distinct values, in order of first appearance.
    public private(set) var values: [String] = []
    /// One code per row, or empty while every row is null.
    public private(set) var codes: [UInt32] = []
    /// Open-addressing table of codes (0 = empty), indexed by a cheap hash of the UTF-8 bytes.
    var slots: [UInt32] = []
    /// The hash of each value (so probing and rehashing never hash or compare strings needlessly).
    var hashes: [UInt64] = []
    /// The code the last lookup returned (0 = none): runs of one value skip the hash.
    var lastCode: UInt32 = 0

    public init() {}

    /// True while every row is null.
    public var isAllNull: Bool { codes.isEmpty }

    /// The code of `value`, adding it to the dictionary when new.
    @inline(__always)
    public mutating func intern(_ value: String) -> UInt32 {
        if lastCode != 0, values[Int(lastCode) - 1] == value { return lastCode }
        let c = find(value)
        lastCode = c
        return c
    }

    /// FNV-1a over the UTF-8 bytes, 8 at a time (strings here are short; Swift's SipHash is the slow part).
    @inline(__always)
    static func hash(_ value: String) -> UInt64 {
        var v = value
        return v.withUTF8 { hash(bytes: $0) }
    }

    @inline(__always)
    static func hash(bytes u: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(u.count)
        var i = 0
        let raw = UnsafeRawBufferPointer(u)
        while i + 8 <= u.count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
            i += 8
        }
        while i < u.count {
            h = (h ^ UInt64(u[i])) &* 0x0000_0100_0000_01B3
            i += 1
        }
        return h ^ (h >> 32)
    }

    /// The code of the UTF-8 text `bytes`, adding it to the dictionary when new. A `String` is made
    /// only for a new value: the decoder interns straight from the request bytes.
    @inline(__always)
    public mutating func intern(bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        if lastCode != 0, bytesEqual(bytes, values[Int(lastCode) - 1]) { return lastCode }
        let h = Self.hash(bytes: bytes)
        let (found, slot) = probe(h) { bytesEqual(bytes, $0) }
        let code = found ?? add(String(decoding: bytes, as: UTF8.self), hash: h, slot: slot)
        lastCode = code
        return code
    }

    /// Appends one row holding the UTF-8 text `bytes` (see ``append(_:rowCount:)``).
    @inline(__always)
    public mutating func append(bytes: UnsafeBufferPointer<UInt8>, rowCount: Int) {
        appendCode(intern(bytes: bytes), rowCount: rowCount)
    }

    mutating func find(_ value: String) -> UInt32 {
        let h = Self.hash(value)
        let (found, slot) = probe(h) { $0 == value }
        return found ?? add(value, hash: h, slot: slot)
    }

    /// Looks `h` up: the code of the value `same` accepts, or nil and the empty slot where it goes.
    @inline(__always)
    mutating func probe(_ h: UInt64, _ same: (String) -> Bool) -> (UInt32?, Int) {
        if slots.isEmpty { slots = [UInt32](repeating: 0, count: 16) }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        let found: UInt32? = slots.withUnsafeBufferPointer { slots in
            hashes.withUnsafeBufferPointer { hashes in
                while true {
                    let c = slots[i]
                    if c == 0 { return nil }
                    if hashes[Int(c) - 1] == h && same(values[Int(c) - 1]) { return c }
                    i = (i + 1) & mask
                }
            }
        }
        return (found, i)
    }

    /// Adds a new value at the empty `slot` ``probe(_:_:)`` found; returns its code.
    mutating func add(_ value: String, hash h: UInt64, slot: Int) -> UInt32 {
        values.append(value)
        hashes.append(h)
        let code = UInt32(values.count)
        slots[slot] = code
        if values.count * 2 > slots.count { rehash(slots.count * 2) }
        return code
    }

    mutating func rehash(_ size: Int) {
        if hashes.count != values.count { hashes = values.map(Self.hash) }
        slots = [UInt32](repeating: 0, count: size)
        let mask = size - 1
        for k in 0..<values.count {
            var i = Int(truncatingIfNeeded: hashes[k]) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = UInt32(k + 1)
        }
    }

    /// Appends one row; `rowCount` is the number of rows before this one (so an all-null column
    /// can materialize its zero codes when it sees its first value).
    @inline(__always)
    public mutating func append(_ value: String?, rowCount: Int) {
        guard let value else {
            if !codes.isEmpty { codes.append(0) }
            return
        }
        appendCode(intern(value), rowCount: rowCount)
    }

    /// Appends one row by code (0 = null); the code must come from this column's dictionary.
    @inline(__always)
    public mutating func appendCode(_ code: UInt32, rowCount: Int) {
        if codes.isEmpty {
            if code == 0 { return }
            codes.reserveCapacity(Swift.max(rowCount + 1, 16))
            codes.append(contentsOf: repeatElement(0, count: rowCount))
        }
        codes.append(code)
    }

    /// Drops the last row's code (``EventBatch/removeLast()``).
    mutating func removeLastRow() {
        if !codes.isEmpty { codes.removeLast() }
    }

    /// The code of row `i` (0 = null).
    @inline(__always)
    public func code(at i: Int) -> UInt32 { codes.isEmpty ? 0 : codes[i] }

    /// The value of row `i`.
    @inline(__always)
    public func value(at i: Int) -> String? {
        let c = code(at: i)
        return c == 0 ? nil : values[Int(c) - 1]
    }

    /// Appends the codes of `rows` of `other` (remapped into this column); `rowCount` rows precede them.
    /// Only the values these rows use are interned (a day's rows of a large parsed batch use few of
    /// its user ids).
    public mutating func append(rows: [Int], of other: StringColumn, rowCount: Int) {
        if other.isAllNull {
            if !codes.isEmpty { codes.append(contentsOf: repeatElement(0, count: rows.count)) }
            return
        }
        let unmapped = UInt32.max
        var map = [UInt32](repeating: unmapped, count: other.values.count + 1)
        map[0] = 0
        var mapped = [UInt32]()
        mapped.reserveCapacity(rows.count)
        var anyValue = false
        other.codes.withUnsafeBufferPointer { src in
            for r in rows {
                let c = Int(src[r])
                var m = map[c]
                if m == unmapped {
                    m = intern(other.values[c - 1])
                    map[c] = m
                }
                if m != 0 { anyValue = true }
                mapped.append(m)
            }
        }
        guard anyValue || !codes.isEmpty else { return }
        if codes.isEmpty {
            codes.reserveCapacity(rowCount + rows.count)
            codes.append(contentsOf: repeatElement(0, count: rowCount))
        }
        codes.append(contentsOf: mapped)
    }

    /// Rebuilds a column from stored parts (values and codes as written by ``values`` / ``codes``).
    /// - Returns: `nil` when a code is out of range.
    public init?(values: [String], codes: [UInt32]) {
        for c in codes where c > UInt32(values.count) { return nil }
        self.values = values
        self.codes = codes.contains(where: { $0 != 0 }) ? codes : []
        // Stored dictionaries hold each value once; build the table lazily on first intern.
        if !values.isEmpty {
            var size = 16
            while size < values.count * 2 + 2 { size *= 2 }
            rehash(size)
        }
    }

    /// Bytes this column holds in memory (an estimate: codes plus dictionary text).
    public var memoryBytes: Int {
        codes.capacity * 4 + values.reduce(0) { $0 + 48 + ($1.utf8.count > 15 ? $1.utf8.count : 0) }
    }
}

/// Whether two byte buffers hold the same bytes (8 at a time; the strings compared here are short).
@inline(__always)
func bytesEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    let n = a.count
    guard n == b.count else { return false }
    guard n > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return true }
    let ra = UnsafeRawPointer(pa), rb = UnsafeRawPointer(pb)
    var i = 0
    while i + 8 <= n {
        if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < n {
        if pa[i] != pb[i] { return false }
        i += 1
    }
    return true
}

/// Whether `a` holds the UTF-8 bytes of `s`.
@inline(__always)
func bytesEqual(_ a: UnsafeBufferPointer<UInt8>, _ s: String) -> Bool {
    if let same = s.utf8.withContiguousStorageIfAvailable({ bytesEqual(a, $0) }) { return same }
    return a.elementsEqual(s.utf8)
}
