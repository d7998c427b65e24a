import TokentraCore

/// `MANIFEST.sha256`, the last file a backup writes: what the backup holds and the SHA-256 of
/// every file in it. A directory without it is an unfinished backup; ``parse(_:)`` refuses a
/// manifest whose own checksum (its last line) does not match.
///
/// The file lines are in `sha256sum` format, so `sha256sum -c MANIFEST.sha256` inside the backup
/// also checks it (comment lines starting with `#` are ignored by `sha256sum`):
///
/// ```
/// # tokentra backup 1
/// # created_at 2026-12-01T19:30:00.000Z
/// # tokentra 0.1.0 (commit 3960323…)
/// # source /var/lib/tokentra
/// # mode online
/// # wal_sealed_through 41
/// # wal_end 0000000000000042.wal 18034
/// # segments 12 events 120000 wal_events 340
/// 5d41402abc4b2a76b9719d911017c592…  index.sqlite
/// 9f86d081884c7d659a2feaa0c55ad015…  segments/acme/2026-11-30-000001a2.tseg
/// 2c26b46b68ffc68ff99b453c1d304134…  wal/0000000000000042.wal
/// # manifest_sha256 <SHA-256 of every byte above this line>
/// ```
public struct BackupManifest: Sendable, Equatable {
    public static let fileName = "MANIFEST.sha256"
    public static let formatVersion = 1

    public struct Entry: Sendable, Equatable {
        /// Path relative to the backup directory (`index.sqlite`, `segments/<org>/<file>`, `wal/<file>`).
        public var path: String
        /// Lower-case hex SHA-256 of the file's bytes.
        public var sha256: String
        public init(path: String, sha256: String) {
            self.path = path
            self.sha256 = sha256
        }
    }

    /// When the backup finished (Unix ms).
    public var createdAtMs: Int64 = 0
    /// `tokentra --version` of the binary that wrote it.
    public var tokentraVersion = ""
    /// The data directory it was taken from.
    public var source = ""
    /// `online` (taken while another process held the directory) or `offline` (under the directory lock).
    public var mode = "offline"
    /// The index's WAL checkpoint in the snapshot: WAL files up to this number are sealed.
    public var walSealedThrough: UInt64 = 0
    /// The newest WAL file in the backup and its length (the recorded WAL position), if any.
    public var walEnd: (file: String, bytes: Int)?
    /// Segments the snapshot's index lists, their rows, and events in the backed-up WAL files.
    public var segments = 0
    public var events = 0
    public var walEvents = 0
    public var entries: [Entry] = []

    public init() {}

    public static func == (a: BackupManifest, b: BackupManifest) -> Bool {
        a.text == b.text
    }

    /// The manifest as written, its checksum line included.
    public var text: String {
        var body = "# tokentra backup \(Self.formatVersion)\n"
        body += "# created_at \(UTCTimestamp.format(createdAtMs))\n"
        body += "# tokentra \(tokentraVersion)\n"
        body += "# source \(source)\n"
        body += "# mode \(mode)\n"
        body += "# wal_sealed_through \(walSealedThrough)\n"
        if let walEnd { body += "# wal_end \(walEnd.file) \(walEnd.bytes)\n" }
        body += "# segments \(segments) events \(events) wal_events \(walEvents)\n"
        for e in entries { body += "\(e.sha256)  \(e.path)\n" }
        return body + "# manifest_sha256 \(Self.hex(SHA256.hash(Array(body.utf8))))\n"
    }

    /// Parses and checks a manifest.
    /// - Throws: ``SegmentError`` (`.corrupt`) naming what is wrong: a bad or missing checksum
    ///   line, an unknown format version, a malformed line.
    public static func parse(_ text: String, name: String = fileName) throws -> BackupManifest {
        let bytes = Array(text.utf8)
        guard bytes.last == UInt8(ascii: "\n") else {
            throw SegmentError(.corrupt, "\(name) does not end with a newline: it was cut short")
        }
        // The checksum line is the last line.
        var start = bytes.count - 1
        while start > 0 && bytes[start - 1] != UInt8(ascii: "\n") { start -= 1 }
        let last = String(decoding: bytes[start..<(bytes.count - 1)], as: UTF8.self)
        let prefix = "# manifest_sha256 "
        guard last.hasPrefix(prefix) else {
            throw SegmentError(.corrupt, "\(name) has no final '# manifest_sha256' line: it was cut short or edited")
        }
        let expected = String(last.dropFirst(prefix.count))
        let actual = hex(SHA256.hash(bytes[0..<start]))
        guard expected == actual else {
            throw SegmentError(.corrupt, "\(name) is damaged: its checksum is \(actual), its last line says \(expected)")
        }
        var m = BackupManifest()
        var sawHeader = false
        var seen = Set<String>()
        for (number, line) in String(decoding: bytes[0..<start], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty { continue }
            let where_ = "\(name) line \(number + 1)"
            if line.hasPrefix("# ") {
                let words = line.dropFirst(2).split(separator: " ", maxSplits: 1).map(String.init)
                let key = words[0], value = words.count > 1 ? words[1] : ""
                if number == 0 {
                    guard key == "tokentra", value.hasPrefix("backup ") else {
                        throw SegmentError(.corrupt, "\(where_): not a tokentra backup manifest")
                    }
                    guard value == "backup \(formatVersion)" else {
                        throw SegmentError(.unsupportedVersion, "\(name): \(value) is not supported by this tokentra (it reads backup \(formatVersion)); use a newer tokentra")
                    }
                    sawHeader = true
                    continue
                }
                switch key {
                case "created_at": m.createdAtMs = parseTimestamp(value) ?? 0
                case "tokentra": m.tokentraVersion = value
                case "source": m.source = value
                case "mode": m.mode = value
                case "wal_sealed_through":
                    guard let v = UInt64(value) else { throw SegmentError(.corrupt, "\(where_): bad wal_sealed_through '\(value)'") }
                    m.walSealedThrough = v
                case "wal_end":
                    let parts = value.split(separator: " ")
                    guard parts.count == 2, let n = Int(parts[1]) else { throw SegmentError(.corrupt, "\(where_): bad wal_end '\(value)'") }
                    m.walEnd = (String(parts[0]), n)
                case "segments":
                    let parts = value.split(separator: " ")
                    guard parts.count == 5, let s = Int(parts[0]), parts[1] == "events", let e = Int(parts[2]),
                        parts[3] == "wal_events", let w = Int(parts[4])
                    else { throw SegmentError(.corrupt, "\(where_): bad counts '\(value)'") }
                    (m.segments, m.events, m.walEvents) = (s, e, w)
                default: break  // a later minor addition: ignored
                }
                continue
            }
            guard sawHeader else { throw SegmentError(.corrupt, "\(name): not a tokentra backup manifest") }
            let hexPart = line.prefix(64)
            guard hexPart.count == 64, hexPart.allSatisfy({ $0.isHexDigit && !$0.isUppercase }),
                line.dropFirst(64).hasPrefix("  "), line.count > 66
            else { throw SegmentError(.corrupt, "\(where_): expected '<sha256>  <path>', got '\(line.prefix(120))'") }
            let path = String(line.dropFirst(66))
            guard isSafeRelativePath(path) else { throw SegmentError(.corrupt, "\(where_): unsafe path '\(path)'") }
            guard seen.insert(path).inserted else { throw SegmentError(.corrupt, "\(where_): \(path) is listed twice") }
            m.entries.append(Entry(path: path, sha256: String(hexPart)))
        }
        guard sawHeader else { throw SegmentError(.corrupt, "\(name): not a tokentra backup manifest") }
        return m
    }

    /// A relative path inside the backup: no `..`, no absolute path, no empty component, no
    /// newline or backslash (which `sha256sum` would escape).
    static func isSafeRelativePath(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\n"), !path.contains("\\") else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
