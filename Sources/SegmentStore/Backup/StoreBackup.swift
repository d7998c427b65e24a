import Foundation
import Logging
import TokentraCore
import UsageIndex

#if canImport(Glibc)
import Glibc
#endif

/// Backup and restore of a data directory (`tokentra backup` / `tokentra restore`).
///
/// **Backup** works on a stopped directory (it then holds the directory lock, so nothing changes
/// while it runs) and beside a running daemon (another process holds the lock; the backup only
/// reads). It never writes to the source. The order makes the snapshot consistent without the
/// daemon's help:
///
/// 1. **WAL**: the files listed in `wal/` are copied. Every file but the newest is complete (the
///    writer finishes and fsyncs a file before it creates the next); the newest is copied as it
///    is and cut at its last whole record: the recorded WAL position (`wal_end`).
/// 2. **Segments**: every `.tseg` file is hard-linked (or copied) into the backup.
/// 3. **Index**: SQLite's online backup copies `index.sqlite` in one read transaction, a
///    consistent snapshot S of the catalog and the WAL checkpoint C.
/// 4. Segments S lists that step 2 did not see (sealed meanwhile) are linked now; if one is gone
///    already (compacted or retired after S), steps 2–4 run again. Linked files S does not list
///    are dropped, and so are WAL copies numbered ≤ C (their events are in S's segments).
/// 5. Every file is hashed; `MANIFEST.sha256` is written last (temp file, fsync, rename).
///
/// Why nothing is lost or doubled: an event acknowledged before step 1 is in a WAL file then.
/// If that file is numbered > C, it is in the WAL copy and in no segment of S (a seal registers
/// its segments and advances C in one transaction). If it is ≤ C, the seal that covered it
/// registered its events before S, so they are in S's segments (compaction replaces segments
/// in one transaction too). Events acknowledged during the backup may or may not be included.
///
/// **Restore** checks the manifest's own checksum and every file's SHA-256 while copying into a
/// temporary sibling of the target, opens the copy read-only and verifies every segment's
/// checksums and row counts against the manifest, and only then renames it into place.
public enum StoreBackup {
    public struct Options: Sendable {
        /// Copy segment files even where a hard link is possible.
        public var copySegments = false
        /// Limit on the bytes per second the backup reads (`nil`: none).
        public var maxBytesPerSecond: Int?
        /// How often steps 2–4 may run before the backup gives up on a directory that changes faster.
        public var attempts = 8
        /// The time the manifest records as `created_at`.
        public var wallClock: WallClock = SystemClock.wallClock
        public init() {}
    }

    public struct Report: Sendable {
        public var manifest: BackupManifest
        public var linkedSegments = 0
        public var copiedSegments = 0
        public var bytes = 0
        public var attempts = 0
    }

    /// Takes a backup of `dataDirectory` into `destination` (which must not exist, or be empty).
    /// - Throws: ``SegmentError`` naming what failed; the partial destination is left without a
    ///   manifest (so restore refuses it).
    public static func backup(dataDirectory source: String, to destination: String, options: Options = Options(), logger: Logger) throws -> Report {
        guard FileIO.exists(source + "/index.sqlite") else {
            throw SegmentError(.invalidArgument, "\(source) is not a tokentra data directory (no index.sqlite)")
        }
        try prepareEmptyDirectory(destination, what: "backup destination")
        if let s = BackupFiles.realPath(source), let d = BackupFiles.realPath(destination), d == s || d.hasPrefix(s + "/") {
            throw SegmentError(.invalidArgument, "backup destination \(destination) is inside the data directory \(source)")
        }
        // Offline when we get the lock (then nothing changes while we copy), online otherwise.
        let lockFD = Glibc.open(source + "/LOCK", O_RDONLY | O_CLOEXEC)
        let offline = lockFD < 0 || flock(lockFD, LOCK_SH | LOCK_NB) == 0
        defer { if lockFD >= 0 { Glibc.close(lockFD) } }
        var files = BackupFiles(maxBytesPerSecond: options.maxBytesPerSecond)
        var manifest = BackupManifest()
        manifest.source = BackupFiles.realPath(source) ?? source
        manifest.mode = offline ? "offline" : "online"
        logger.info("backup started", metadata: ["source": "\(source)", "destination": "\(destination)", "mode": "\(manifest.mode)"])
        try FileIO.makeDirectories(destination + "/wal")
        try FileIO.makeDirectories(destination + "/segments")

        // 1. WAL.
        var walCopies: [UInt64: Int] = [:]  // sequence → events
        let sequences = WriteAheadLog.existingSequences(directory: source + "/wal")
        for seq in sequences {
            let name = WriteAheadLog.fileName(seq)
            do {
                _ = try files.copy(source + "/wal/" + name, to: destination + "/wal/" + name)
            } catch where BackupFiles.missing(error) {
                continue  // sealed and removed since the listing: its events are in segments
            }
            let isNewest = seq == sequences.last
            // The newest file is cut at its last whole record; an older one must be whole.
            let recovered = try WriteAheadLog.recover(directory: destination + "/wal", sequence: seq, repair: isNewest, isLast: isNewest)
            if FileIO.exists(destination + "/wal/" + name) { walCopies[seq] = recovered.eventCount }
        }

        // 2–4. Segments and the index snapshot.
        var report = Report(manifest: manifest)
        var linked = Set<String>()
        var registered: [SegmentRecord] = []
        var attempt = 0
        while true {
            attempt += 1
            for relative in segmentFiles(source) where !linked.contains(relative) {
                if try linkSegment(relative, source: source, destination: destination, options: options, files: &files, report: &report) {
                    linked.insert(relative)
                }
            }
            try? FileIO.remove(destination + "/index.sqlite")
            do {
                if offline {
                    // Nobody has it open: copy the files and consolidate the copy (never opening the source).
                    _ = try files.copy(source + "/index.sqlite", to: destination + "/index.sqlite")
                    if (FileIO.fileSize(source + "/index.sqlite-wal") ?? 0) > 0 {
                        _ = try files.copy(source + "/index.sqlite-wal", to: destination + "/index.sqlite-wal")
                    }
                    try IndexDatabase.consolidateCopy(atPath: destination + "/index.sqlite")
                } else {
                    try IndexDatabase(readOnlyPath: source + "/index.sqlite").backup(toPath: destination + "/index.sqlite")
                }
            } catch let e as SegmentError {
                throw e
            } catch {
                throw SegmentError(.io, "cannot copy the index \(source)/index.sqlite: \(error)")
            }
            for leftover in ["-wal", "-shm"] { try? FileIO.remove(destination + "/index.sqlite" + leftover) }
            let snapshot = try IndexDatabase(readOnlyPath: destination + "/index.sqlite")
            registered = try snapshot.segments()
            manifest.walSealedThrough = try snapshot.walSealedThrough()
            var complete = true
            for s in registered where !linked.contains(s.file) {
                if try linkSegment(s.file, source: source, destination: destination, options: options, files: &files, report: &report) {
                    linked.insert(s.file)
                } else {
                    complete = false
                }
            }
            if complete { break }
            guard attempt < options.attempts else {
                throw SegmentError(.io, "segments of \(source) were replaced faster than they could be linked (\(attempt) attempts); try again, or stop the daemon")
            }
            logger.info("segments changed during the backup; taking the index snapshot again", metadata: ["attempt": "\(attempt)"])
        }
        report.attempts = attempt
        let wanted = Set(registered.map(\.file))
        for relative in linked.subtracting(wanted) { try FileIO.remove(destination + "/" + relative) }
        for seq in walCopies.keys where seq <= manifest.walSealedThrough {
            try FileIO.remove(destination + "/wal/" + WriteAheadLog.fileName(seq))
            walCopies[seq] = nil
        }
        if FileIO.exists(source + "/prices.json") {
            _ = try files.copy(source + "/prices.json", to: destination + "/prices.json")
        }
        manifest.segments = registered.count
        manifest.events = registered.reduce(0) { $0 + $1.rows }
        manifest.walEvents = walCopies.values.reduce(0, +)
        if let newest = walCopies.keys.max() {
            let name = WriteAheadLog.fileName(newest)
            manifest.walEnd = (name, FileIO.fileSize(destination + "/wal/" + name) ?? 0)
        }

        // 5. Hashes, durability, the manifest last.
        for relative in BackupFiles.listFiles(destination) {
            manifest.entries.append(.init(path: relative, sha256: try files.hash(destination + "/" + relative)))
            report.bytes += FileIO.fileSize(destination + "/" + relative) ?? 0
        }
        try FileIO.syncFilesystem(destination)
        for dir in BackupFiles.listDirectories(destination) { try FileIO.fsyncDirectory(dir) }
        manifest.createdAtMs = options.wallClock()
        manifest.tokentraVersion = BuildInfo.description
        try FileIO.writeFileAtomically(destination + "/" + BackupManifest.fileName, Array(manifest.text.utf8))
        report.manifest = manifest
        logger.info("backup finished", metadata: ["files": "\(manifest.entries.count)", "bytes": "\(report.bytes)"])
        return report
    }

    /// The `.tseg` files under `segments/`, relative to the data directory.
    static func segmentFiles(_ dataDirectory: String) -> [String] {
        let root = dataDirectory + "/segments"
        var out: [String] = []
        for org in FileIO.listDirectory(root) where FileIO.isDirectory(root + "/" + org) {
            for name in FileIO.listDirectory(root + "/" + org) where name.hasSuffix(".tseg") {
                out.append("segments/\(org)/\(name)")
            }
        }
        return out
    }

    /// Links (or copies) one segment into the backup; false when the source file is gone.
    private static func linkSegment(
        _ relative: String, source: String, destination: String, options: Options, files: inout BackupFiles, report: inout Report
    ) throws -> Bool {
        try FileIO.makeDirectories(FileIO.parent(of: destination + "/" + relative))
        let target = destination + "/" + relative
        try? FileIO.remove(target)
        do {
            if try files.linkOrCopy(source + "/" + relative, to: target, copy: options.copySegments) {
                report.linkedSegments += 1
            } else {
                report.copiedSegments += 1
            }
            return true
        } catch where BackupFiles.missing(error) {
            return false
        }
    }

    /// Creates `path` or accepts it when it is an empty directory.
    static func prepareEmptyDirectory(_ path: String, what: String) throws {
        if FileIO.exists(path) {
            guard FileIO.isDirectory(path) else { throw SegmentError(.invalidArgument, "\(what) \(path) exists and is not a directory") }
            let entries = FileIO.listDirectory(path)
            guard entries.isEmpty else {
                throw SegmentError(.invalidArgument, "\(what) \(path) is not empty (\(entries.prefix(3).joined(separator: ", "))\(entries.count > 3 ? ", …" : "")); give a new directory")
            }
        } else {
            try FileIO.makeDirectories(path)
        }
    }
}
