import ArgumentParser
import Foundation
import SegmentStore
import TokentraCore

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent, checksummed copy of a data directory, while the daemon runs or not.",
        discussion: """
            DIR must not exist or be empty. Segment files are hard-linked when DIR is on the same \
            filesystem (they never change; --copy copies them), the WAL is copied up to its last whole \
            record, the SQLite index is copied with SQLite's online backup, and MANIFEST.sha256 (the \
            SHA-256 of every file, `sha256sum -c` compatible) is written last: a directory without it is \
            an unfinished backup and `tokentra restore` refuses it. Only reads the data directory.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("to"), help: "The backup directory to create.") var to: String
    @Flag(help: "Copy segment files instead of hard-linking them.") var copy = false
    @Option(name: .customLong("max-rate"), help: "Read at most this many bytes per second (suffixes K, M, G), to spare the daemon's disk.")
    var maxRate: String?

    func run() async throws {
        let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
        var options = StoreBackup.Options()
        options.copySegments = copy
        if let maxRate {
            guard let rate = parseByteCount(maxRate), rate > 0 else {
                throw ValidationError("--max-rate must be a positive byte count such as 50M, got '\(maxRate)'")
            }
            options.maxBytesPerSecond = rate
        }
        let report: StoreBackup.Report
        do {
            report = try StoreBackup.backup(dataDirectory: global.resolvedDataDir, to: to, options: options, logger: makeLogger("tokentra"))
        } catch let e as SegmentError {
            throw ToolError("backup failed: \(e.message)")
        }
        let m = report.manifest
        if format == "json" {
            var w = JSONWriter()
            w.object { o in
                o.field("backup", to)
                o.field("source", m.source)
                o.field("mode", m.mode)
                o.field("created_at", UTCTimestamp.format(m.createdAtMs))
                o.field("segments", m.segments)
                o.field("events", m.events)
                o.field("wal_files", m.entries.filter { $0.path.hasPrefix("wal/") }.count)
                o.field("wal_events", m.walEvents)
                o.field("wal_sealed_through", UInt64(m.walSealedThrough))
                o.field("wal_end", object: { e in
                    e.field("file", m.walEnd?.file)
                    e.field("bytes", m.walEnd?.bytes)
                })
                o.field("files", m.entries.count)
                o.field("bytes", report.bytes)
                o.field("linked_segments", report.linkedSegments)
                o.field("copied_segments", report.copiedSegments)
                o.field("attempts", report.attempts)
            }
            print(w.text)
        } else {
            print("backup     \(to) (\(m.mode), from \(m.source))")
            print("segments   \(m.segments) (\(m.events) events; \(report.linkedSegments) linked, \(report.copiedSegments) copied)")
            print("wal        \(m.walEvents) events after checkpoint \(m.walSealedThrough)\(m.walEnd.map { ", up to \($0.file) byte \($0.bytes)" } ?? "")")
            print("files      \(m.entries.count), \(report.bytes) bytes, manifest \(BackupManifest.fileName)")
        }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a backup and make it a data directory.",
        discussion: """
            Refuses a backup without MANIFEST.sha256 (unfinished), with a damaged manifest, a missing, \
            extra or changed file. Files are copied into a temporary directory beside --data-dir, every \
            SHA-256 and every segment's checksums verified, and only then is it renamed to --data-dir, \
            which must not exist or be empty. --check only verifies the backup.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("from"), help: "The backup directory (written by `tokentra backup`).") var from: String
    @Flag(help: "Only verify the backup (manifest and every checksum); restore nothing.") var check = false

    func run() async throws {
        let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
        let target = global.resolvedDataDir
        do {
            if check {
                let m = try StoreBackup.check(backup: from)
                if format == "json" {
                    var w = JSONWriter()
                    w.object { o in
                        o.field("ok", true)
                        o.field("backup", from)
                        o.field("files", m.entries.count)
                        o.field("segments", m.segments)
                        o.field("events", m.events)
                    }
                    print(w.text)
                } else {
                    print("ok: \(from) holds \(m.entries.count) files, \(m.segments) segments, \(m.events) events; every checksum matches")
                }
                return
            }
            guard global.dataDir != nil || ProcessInfo.processInfo.environment["TOKENTRA_DATA_DIR"] != nil else {
                throw ValidationError("restore needs --data-dir: the new data directory to create")
            }
            let r = try await StoreBackup.restore(from: from, to: target, logger: makeLogger("tokentra"))
            if format == "json" {
                var w = JSONWriter()
                w.object { o in
                    o.field("restored", target)
                    o.field("from", from)
                    o.field("files", r.files)
                    o.field("bytes", r.bytes)
                    o.field("segments", r.segments)
                    o.field("events", r.events)
                    o.field("wal_events", r.walEvents)
                    o.field("backup_created_at", UTCTimestamp.format(r.manifest.createdAtMs))
                }
                print(w.text)
            } else {
                print("restored \(target) from \(from): \(r.files) files, \(r.segments) segments, \(r.events) events + \(r.walEvents) in the WAL")
            }
        } catch let e as SegmentError {
            throw ToolError("restore refused: \(e.message)")
        }
    }
}

/// `123`, `50K`, `50M`, `2G` (powers of 1024).
func parseByteCount(_ text: String) -> Int? {
    let t = text.uppercased()
    let multipliers: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
    if let last = t.last, let m = multipliers[last] {
        return Int(t.dropLast()).map { $0 * m }
    }
    return Int(t)
}
