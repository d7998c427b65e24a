import CSystemShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin, error-checked POSIX file helpers. Every failure names the path and errno.
///
/// `open`, each `write`, `fsync`/`syncfs` and `rename` first consult ``FaultInjection`` (tests only;
/// one atomic load when no fault is installed).
enum FileIO {
    static func errnoError(_ what: String, _ path: String, _ err: Int32 = errno) -> SegmentError {
        let text = String(cString: strerror(err))
        if err == ENOSPC || err == EDQUOT {
            return SegmentError(.storageFull, "\(what) \(path): \(text)")
        }
        return SegmentError(.io, "\(what) \(path): \(text) (errno \(err))")
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws -> Int32 {
        if case .fail(let err) = FaultInjection.check(.open, path) { throw errnoError("open", path, err) }
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        if fd < 0 { throw errnoError("open", path) }
        return fd
    }

    /// Writes all bytes at the current offset, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            var request = bytes.count - done
            switch FaultInjection.check(.write, path) {
            case nil: break
            case .fail(let err): throw errnoError("write", path, err)
            case .shortWrite(let limit): request = min(request, limit)
            case .delay, .hold: break  // already waited for inside `check`
            }
            let n = Glibc.write(fd, bytes.baseAddress! + done, request)
            if n < 0 {
                if errno == EINTR { continue }
                throw errnoError("write", path)
            }
            done += n
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    static func fsync(_ fd: Int32, path: String) throws {
        if case .fail(let err) = FaultInjection.check(.fsync, path) { throw errnoError("fsync", path, err) }
        while Glibc.fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw errnoError("fsync", path)
        }
    }

    /// One `fsync(2)`, never retried (not even on EINTR): after a failed fsync the kernel may have
    /// dropped the dirty pages, so the caller must treat any failure as fatal (the WAL writer).
    /// - Returns: 0 on success, else the errno.
    static func fsyncOnce(_ fd: Int32, path: String) -> Int32 {
        if case .fail(let err) = FaultInjection.check(.fsync, path) { return err }
        return Glibc.fsync(fd) == 0 ? 0 : errno
    }

    static func fsyncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { Glibc.close(fd) }
        try fsync(fd, path: path)
    }

    /// Writes `bytes` to `path` atomically: temp file, fsync, rename, directory fsync.
    static func writeFileAtomically(_ path: String, _ bytes: [UInt8]) throws {
        let tmp = path + ".tmp"
        let fd = try open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try writeAll(fd, bytes, path: tmp)
            try fsync(fd, path: tmp)
            Glibc.close(fd)
        } catch {
            Glibc.close(fd)
            unlink(tmp)
            throw error
        }
        do {
            try rename(tmp, path)
        } catch {
            unlink(tmp)
            throw error
        }
        try fsyncDirectory(parent(of: path))
    }

    /// Writes `bytes` to a new file at `path`, fsyncing it when `sync` is true. On failure the
    /// partial file is removed, so a full disk leaves nothing behind.
    static func writeFile(_ path: String, _ bytes: [UInt8], sync: Bool) throws {
        let fd = try open(path, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try writeAll(fd, bytes, path: path)
            if sync { try fsync(fd, path: path) }
        } catch {
            Glibc.close(fd)
            unlink(path)
            throw error
        }
        Glibc.close(fd)
    }

    /// Flushes every dirty page of the filesystem holding `path` (one call instead of an fsync per
    /// file); reports writeback errors like fsync does (Linux ≥ 5.8).
    static func syncFilesystem(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { Glibc.close(fd) }
        if case .fail(let err) = FaultInjection.check(.fsync, path) { throw errnoError("syncfs", path, err) }
        if tokentra_syncfs(fd) != 0 { throw errnoError("syncfs", path) }
    }

    static func rename(_ from: String, _ to: String) throws {
        if case .fail(let err) = FaultInjection.check(.rename, from, to) { throw errnoError("rename", from, err) }
        if Glibc.rename(from, to) != 0 { throw errnoError("rename", from) }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { Glibc.close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw errnoError("stat", path) }
        let size = Int(st.st_size)
        var out = [UInt8](repeating: 0, count: size)
        var done = 0
        try out.withUnsafeMutableBytes { buf in
            while done < size {
                let n = pread(fd, buf.baseAddress! + done, size - done, off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw errnoError("read", path)
                }
                if n == 0 { break }
                done += n
            }
        }
        if done < size { out.removeSubrange(done...) }
        return out
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func fileSize(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// `mkdir -p`.
    static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw errnoError("mkdir", current) }
        }
    }

    static func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw errnoError("unlink", path) }
    }

    /// Free bytes available to unprivileged users on the filesystem holding `path`.
    static func freeBytes(_ path: String) -> Int64? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }
}
