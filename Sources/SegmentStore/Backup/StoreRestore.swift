import Foundation
import Logging
import TokentraCore
import UsageIndex

#if canImport(Glibc)
import Glibc
#endif

extension StoreBackup {
    public struct RestoreReport: Sendable {
        public var manifest: BackupManifest
        public var files = 0
        public var bytes = 0
        /// What the read-only open of the restored copy found.
        public var segments = 0
        public var events = 0
        public var walEvents = 0
    }

    /// Checks a backup without restoring it: the manifest (present, its checksum, its version), no
    /// file missing or extra, and every file's SHA-256.
    /// - Throws: ``SegmentError`` naming the first problem.
    public static func check(backup: String, maxBytesPerSecond: Int? = nil) throws -> BackupManifest {
        let manifest = try readManifest(backup)
        var files = BackupFiles(maxBytesPerSecond: maxBytesPerSecond)
        for e in manifest.entries {
            let actual = try files.hash(backup + "/" + e.path)
            guard actual == e.sha256 else { throw damaged(backup, e, actual) }
        }
        return manifest
    }

    /// Restores `backup` into `dataDirectory` (which must not exist, or be an empty directory).
    ///
    /// Files are copied into `<dataDirectory>.restore-XXXXXX` beside it, each one's SHA-256
    /// computed from the bytes copied and compared with the manifest; the copy is then opened
    /// read-only and every segment verified (checksums, rows, the index against the files), its
    /// counts compared with the manifest; only then is it renamed to `dataDirectory`. On any
    /// failure the temporary directory is removed and `dataDirectory` is not created.
    public static func restore(from backup: String, to dataDirectory: String, logger: Logger) async throws -> RestoreReport {
        let manifest = try readManifest(backup)
        let target = dataDirectory.hasSuffix("/") && dataDirectory.count > 1 ? String(dataDirectory.dropLast()) : dataDirectory
        if FileIO.exists(target) {
            guard FileIO.isDirectory(target), FileIO.listDirectory(target).isEmpty else {
                throw SegmentError(.invalidArgument, "\(target) already exists and is not an empty directory; restore into a new directory (move the old one away first)")
            }
        }
        let parent = FileIO.parent(of: target)
        guard FileIO.isDirectory(parent) else { throw SegmentError(.invalidArgument, "the parent directory \(parent) does not exist") }
        let staging = target + ".restore-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileIO.makeDirectories(staging)
        do {
            var report = RestoreReport(manifest: manifest)
            var files = BackupFiles(maxBytesPerSecond: nil)
            try FileIO.makeDirectories(staging + "/wal")
            try FileIO.makeDirectories(staging + "/segments")
            for e in manifest.entries {
                try FileIO.makeDirectories(FileIO.parent(of: staging + "/" + e.path))
                let actual = try files.copy(backup + "/" + e.path, to: staging + "/" + e.path)
                guard actual == e.sha256 else { throw damaged(backup, e, actual) }
                report.files += 1
                report.bytes += FileIO.fileSize(staging + "/" + e.path) ?? 0
            }
            _ = FileManager.default.createFile(atPath: staging + "/LOCK", contents: nil)
            // The copy must open and verify as a data directory, with the counts the backup recorded.
            var configuration = SegmentStore.Configuration(dataDirectory: staging)
            configuration.readOnly = true
            let store = try await SegmentStore.open(configuration: configuration, logger: logger)
            let verify: SegmentStore.VerifyReport
            do {
                verify = try await store.verify()
            } catch {
                await store.close()
                throw error
            }
            await store.close()
            guard verify.ok else {
                let first = verify.problems.first.map { "\($0.file): \($0.message)" } ?? "?"
                throw SegmentError(.corrupt, "the restored copy does not verify (\(verify.problems.count) problems, first: \(first)); \(backup) is damaged")
            }
            // WAL records hold whole batches, retried duplicates included; replay stores each event once.
            guard verify.segments == manifest.segments, verify.events == manifest.events, verify.unsealedEvents <= manifest.walEvents else {
                throw SegmentError(.corrupt, "the restored copy holds \(verify.segments) segments, \(verify.events) events and \(verify.unsealedEvents) WAL events; the manifest of \(backup) says \(manifest.segments), \(manifest.events) and at most \(manifest.walEvents)")
            }
            (report.segments, report.events, report.walEvents) = (verify.segments, verify.events, verify.unsealedEvents)
            try FileIO.syncFilesystem(staging)
            for dir in BackupFiles.listDirectories(staging) { try FileIO.fsyncDirectory(dir) }
            if FileIO.exists(target) && rmdir(target) != 0 { throw FileIO.errnoError("rmdir", target) }
            try FileIO.rename(staging, target)
            try FileIO.fsyncDirectory(parent)
            logger.info("restore finished", metadata: ["from": "\(backup)", "to": "\(target)", "files": "\(report.files)"])
            return report
        } catch {
            BackupFiles.removeTree(staging)
            throw error
        }
    }

    /// Reads and checks the manifest, and that the backup holds exactly the files it lists.
    static func readManifest(_ backup: String) throws -> BackupManifest {
        guard FileIO.isDirectory(backup) else { throw SegmentError(.invalidArgument, "\(backup) is not a directory") }
        let path = backup + "/" + BackupManifest.fileName
        guard FileIO.exists(path) else {
            throw SegmentError(.corrupt, "\(backup) has no \(BackupManifest.fileName): the backup did not finish (interrupted or still running); it cannot be restored — take a new backup")
        }
        let manifest = try BackupManifest.parse(String(decoding: try FileIO.readFile(path), as: UTF8.self), name: path)
        let listed = Set(manifest.entries.map(\.path))
        let present = Set(BackupFiles.listFiles(backup)).subtracting([BackupManifest.fileName])
        if let missing = listed.subtracting(present).sorted().first {
            throw SegmentError(.corrupt, "\(backup) is incomplete: \(missing) is listed in the manifest but missing")
        }
        if let extra = present.subtracting(listed).sorted().first {
            throw SegmentError(.corrupt, "\(backup) holds \(extra), which its manifest does not list; refusing a backup that was changed after it was written")
        }
        guard listed.contains("index.sqlite") else { throw SegmentError(.corrupt, "\(path) lists no index.sqlite") }
        return manifest
    }

    static func damaged(_ backup: String, _ e: BackupManifest.Entry, _ actual: String) -> SegmentError {
        SegmentError(.corrupt, "\(backup)/\(e.path) is damaged: SHA-256 \(actual), the manifest says \(e.sha256)")
    }
}
