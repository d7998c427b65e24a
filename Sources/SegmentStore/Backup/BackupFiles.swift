import Foundation
import TokentraCore

#if canImport(Glibc)
import Glibc
#endif

/// File operations of backup and restore: streamed copies and hashes (1 MiB at a time, never a
/// whole file in memory), hard links, and an optional bandwidth limit so a live backup does not
/// starve the daemon's disk.
struct BackupFiles {
    /// Bytes per second the backup may read (copies and hashes together); `nil`: no limit.
    var maxBytesPerSecond: Int?
    private var started = ContinuousClock.now
    private var bytesDone = 0

    init(maxBytesPerSecond: Int?) {
        self.maxBytesPerSecond = maxBytesPerSecond
    }

    /// Waits as long as needed to keep the average rate under the limit.
    private mutating func account(_ n: Int) {
        bytesDone += n
        guard let limit = maxBytesPerSecond, limit > 0 else { return }
        let due = Double(bytesDone) / Double(limit)
        let elapsed = ContinuousClock.now - started
        let ahead = due - (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        if ahead > 0 { usleep(useconds_t(min(ahead, 10) * 1_000_000)) }
    }

    /// Whether `path` exists (errno ENOENT is the only "no").
    static func missing(_ error: any Error) -> Bool {
        (error as? SegmentError)?.message.contains("(errno \(ENOENT))") == true
    }

    /// Copies `from` to a new file `to` (fsynced), returning the SHA-256 of the bytes copied.
    /// `limit` copies only the first `limit` bytes.
    /// - Throws: ``SegmentError``; ENOENT on `from` is reported as such (see ``missing(_:)``).
    mutating func copy(_ from: String, to: String, limit: Int? = nil) throws -> String {
        let src = try FileIO.open(from, O_RDONLY)
        defer { close(src) }
        let dst = try FileIO.open(to, O_WRONLY | O_CREAT | O_TRUNC)
        var hash = SHA256()
        do {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var remaining = limit ?? Int.max
            while remaining > 0 {
                let want = min(buffer.count, remaining)
                let n = buffer.withUnsafeMutableBytes { read(src, $0.baseAddress, want) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileIO.errnoError("read", from)
                }
                if n == 0 { break }
                try buffer.withUnsafeBytes { b in
                    let chunk = UnsafeRawBufferPointer(rebasing: b[0..<n])
                    hash.update(chunk)
                    try FileIO.writeAll(dst, chunk, path: to)
                }
                remaining -= n
                account(n)
            }
            try FileIO.fsync(dst, path: to)
            close(dst)
        } catch {
            close(dst)
            unlink(to)
            throw error
        }
        return BackupManifest.hex(hash.finalize())
    }

    /// Hard-links `from` at `to`, or copies it when `copy` is set or the two are on different
    /// filesystems (EXDEV) or the filesystem has no hard links (EPERM).
    /// - Returns: true when linked.
    mutating func linkOrCopy(_ from: String, to: String, copy force: Bool) throws -> Bool {
        if !force {
            if link(from, to) == 0 { return true }
            let err = errno
            if err != EXDEV && err != EPERM && err != EMLINK { throw FileIO.errnoError("link", from, err) }
        }
        _ = try copy(from, to: to)
        return false
    }

    /// The SHA-256 of a file's bytes.
    mutating func hash(_ path: String) throws -> String {
        let fd = try FileIO.open(path, O_RDONLY)
        defer { close(fd) }
        var hash = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIO.errnoError("read", path)
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            account(n)
        }
        return BackupManifest.hex(hash.finalize())
    }

    /// Every regular file under `root`, as paths relative to it, sorted.
    static func listFiles(_ root: String, prefix: String = "") -> [String] {
        var out: [String] = []
        for name in FileIO.listDirectory(root + (prefix.isEmpty ? "" : "/" + prefix)).sorted() {
            let relative = prefix.isEmpty ? name : prefix + "/" + name
            if FileIO.isDirectory(root + "/" + relative) {
                out += listFiles(root, prefix: relative)
            } else {
                out.append(relative)
            }
        }
        return out
    }

    /// Every directory under `root` (deepest first), `root` last.
    static func listDirectories(_ root: String) -> [String] {
        var out: [String] = []
        for name in FileIO.listDirectory(root) where FileIO.isDirectory(root + "/" + name) {
            out += listDirectories(root + "/" + name)
        }
        return out + [root]
    }

    /// Removes a directory tree (backup staging and failed restores only).
    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The absolute, symlink-free form of an existing path.
    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
