import Foundation
import Logging
import TokentraCore

#if canImport(Glibc)
import Glibc
#endif

/// The write-ahead log: numbered files of CRC32C-framed records, written by one writer thread that
/// shares each fsync among every caller whose records arrived while the previous fsync ran
/// (group commit). See schema/wal-format.md.
///
/// ```swift
/// let wal = try WriteAheadLog(directory: "data/wal", firstSequence: 1, logger: logger)
/// try await wal.append(payload)   // returns once the bytes are fsync'd
/// ```
///
/// An fsync failure is fatal: the process stops (never retried, never acknowledged). A write that
/// fails with ENOSPC is rolled back (the file is truncated to where it was) and reported to the
/// callers of that group as ``SegmentError/Code-swift.struct/storageFull``.
public final class WriteAheadLog: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is guarded by `condition`.
    /// 5 bytes name, 2 reserved, 1 version. Version 2 files hold column-batch records (type 2);
    /// version 1 files (type-1 row records) are still replayed. Older binaries refuse version 2 by its
    /// magic instead of skipping records they do not know.
    static let magic: [UInt8] = Array("TTWAL".utf8) + [0, 0, 2]
    static let readableMagics: [[UInt8]] = [Array("TTWAL".utf8) + [0, 0, 1], magic]
    static let headerSize = 8
    static let recordHeaderSize = 9  // u32 length, u32 crc, u8 type
    static let typeEvents: UInt8 = 1
    static let typeBatch: UInt8 = 2

    private struct Chunk {
        var sequence: UInt64
        var bytes: [UInt8]
        var waiters: [WALTicket]
    }

    private let directory: String
    private let logger: Logger
    private let condition = NSCondition()
    private var queue: [Chunk] = []
    private var currentSequence: UInt64
    private var closed = false
    private var thread: Thread?
    private var stats = Stats()

    /// Counters for metrics and tests.
    public struct Stats: Sendable {
        public var fsyncs: Int = 0
        public var bytesWritten: Int = 0
        public var fsyncNanoseconds: UInt64 = 0
        public var lastFsyncNanoseconds: UInt64 = 0
    }

    /// Opens a new log file numbered `firstSequence` in `directory` and starts the writer thread.
    public init(directory: String, firstSequence: UInt64, logger: Logger) throws {
        self.directory = directory
        self.logger = logger
        self.currentSequence = firstSequence
        try FileIO.makeDirectories(directory)
        let fd = try Self.createFile(directory: directory, sequence: firstSequence)
        let t = Thread { [unowned self] in self.writerLoop(fd: fd, sequence: firstSequence) }
        t.name = "tokentra-wal"
        thread = t
        t.start()
    }

    static func fileName(_ sequence: UInt64) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits + ".wal"
    }

    static func path(directory: String, sequence: UInt64) -> String { directory + "/" + fileName(sequence) }

    private static func createFile(directory: String, sequence: UInt64) throws -> Int32 {
        let path = path(directory: directory, sequence: sequence)
        let fd = try FileIO.open(path, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try FileIO.writeAll(fd, magic, path: path)
            try FileIO.fsync(fd, path: path)
            try FileIO.fsyncDirectory(directory)
        } catch {
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// Frames `payload` as one record of `type`.
    static func frame(_ payload: [UInt8], type: UInt8 = typeBatch) -> [UInt8] {
        var w = ByteWriter(capacity: payload.count + recordHeaderSize)
        w.u32(UInt32(payload.count))
        var body = [type]
        body.append(contentsOf: payload)
        w.u32(CRC32C.checksum(body))
        w.append(body)
        return w.bytes
    }

    /// Queues one record for the next group commit and returns at once; ``WALTicket/wait()`` returns
    /// when it is durable, together with everything queued before it.
    public func submit(_ payload: [UInt8]) -> WALTicket {
        submit(framed: Self.frame(payload))
    }

    /// Queues an already framed record (see ``record(for:)``).
    func submit(framed: [UInt8]) -> WALTicket {
        condition.lock()
        defer { condition.unlock() }
        let ticket = WALTicket(sequence: currentSequence)
        if closed {
            ticket.complete(SegmentError(.io, "write-ahead log is closed"))
            return ticket
        }
        if let last = queue.indices.last, queue[last].sequence == currentSequence {
            queue[last].bytes.append(contentsOf: framed)  // in place: no copy of the chunk
            queue[last].waiters.append(ticket)
        } else {
            queue.append(Chunk(sequence: currentSequence, bytes: framed, waiters: [ticket]))
        }
        condition.signal()
        return ticket
    }

    /// Appends one record and returns when it is durable.
    /// - Returns: the number of the log file the record went to.
    @discardableResult
    public func append(_ payload: [UInt8]) async throws -> UInt64 {
        let ticket = submit(payload)
        try await ticket.wait()
        return ticket.sequence
    }

    /// Starts a new log file: records appended after this call go to the new file.
    /// - Returns: the number of the file that was current (now closed to new records).
    public func rotate() -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        let old = currentSequence
        currentSequence += 1
        condition.signal()
        return old
    }

    /// Returns when everything appended before the call is durable.
    public func sync() async throws {
        try await syncTicket().wait()
    }

    private func syncTicket() -> WALTicket {
        condition.lock()
        let ticket = WALTicket(sequence: currentSequence)
        if let last = queue.indices.last {
            queue[last].waiters.append(ticket)
        } else {
            // The writer may be in the middle of a chunk; an empty chunk completes right after it.
            queue.append(Chunk(sequence: currentSequence, bytes: [], waiters: [ticket]))
        }
        condition.signal()
        condition.unlock()
        return ticket
    }

    /// Removes log files numbered `<= sequence` (their records are sealed in segments).
    public func removeFiles(through sequence: UInt64) throws {
        for seq in Self.existingSequences(directory: directory) where seq <= sequence {
            try FileIO.remove(Self.path(directory: directory, sequence: seq))
        }
    }

    /// The current counters.
    public var statistics: Stats {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    /// Stops the writer after it has written everything queued.
    public func close() {
        condition.lock()
        closed = true
        condition.signal()
        condition.unlock()
        while true {
            condition.lock()
            let done = thread == nil
            condition.unlock()
            if done { break }
            usleep(1000)
        }
    }

    private func writerLoop(fd initialFD: Int32, sequence initialSequence: UInt64) {
        var fd = initialFD
        var fileSequence = initialSequence
        var offset = off_t(Self.headerSize)
        /// After a fatal error whose handler returned (tests only; production exits in `fatal`):
        /// fails `waiters` and every later waiter, writes and acknowledges nothing, and keeps failing
        /// new records until ``close()``; then closes `openFD` (if still open) and ends the thread.
        func stopAfterFatal(_ message: String, failing waiters: [WALTicket], openFD: Int32?) {
            let error = SegmentError(.io, "write-ahead log stopped after a fatal error, nothing acknowledged: \(message)")
            for w in waiters { w.complete(error) }
            while true {
                condition.lock()
                while queue.isEmpty && !closed { condition.wait() }
                if queue.isEmpty {
                    thread = nil
                    condition.unlock()
                    if let openFD { Glibc.close(openFD) }
                    return
                }
                let failed = queue
                queue.removeAll()
                condition.unlock()
                for chunk in failed { for w in chunk.waiters { w.complete(error) } }
            }
        }
        while true {
            condition.lock()
            while queue.isEmpty && !closed && currentSequence == fileSequence { condition.wait() }
            if queue.isEmpty && closed {
                thread = nil
                condition.unlock()
                Glibc.close(fd)
                return
            }
            let chunk: Chunk? = queue.isEmpty ? nil : queue.removeFirst()
            let rotateTo = chunk?.sequence ?? currentSequence
            condition.unlock()

            if rotateTo != fileSequence {
                // Everything in the old file is already fsync'd (each chunk is synced before it completes).
                let newFD: Int32
                do {
                    newFD = try Self.createFile(directory: directory, sequence: rotateTo)
                } catch let error as SegmentError where error.code == .storageFull {
                    // A full disk is not fatal: the records meant for the new file are rejected (their
                    // callers answer 507) and the file is created again for the next record.
                    unlink(Self.path(directory: directory, sequence: rotateTo))
                    logger.error("cannot create a WAL file: disk full; batch rejected", metadata: [
                        "wal.sequence": "\(rotateTo)", "error": "\(error)",
                    ])
                    for w in chunk?.waiters ?? [] { w.complete(error) }
                    if chunk == nil { usleep(100_000) }
                    continue
                } catch {
                    let message = "cannot create WAL file \(Self.fileName(rotateTo)): \(error)"
                    fatal(message)
                    return stopAfterFatal(message, failing: chunk?.waiters ?? [], openFD: fd)
                }
                Glibc.close(fd)
                fd = newFD
                fileSequence = rotateTo
                offset = off_t(Self.headerSize)
            }
            guard let chunk else { continue }
            if chunk.bytes.isEmpty {
                for w in chunk.waiters { w.complete(nil) }
                continue
            }
            let path = Self.path(directory: directory, sequence: fileSequence)
            do {
                try FileIO.writeAll(fd, chunk.bytes, path: path)
            } catch {
                // Roll back the partial write so the file ends at the last durable record.
                if ftruncate(fd, offset) != 0 || lseek(fd, offset, SEEK_SET) < 0 {
                    let message = "cannot roll back a failed WAL write in \(path): \(String(cString: strerror(errno)))"
                    fatal(message)
                    return stopAfterFatal(message, failing: chunk.waiters, openFD: fd)
                }
                logger.error("WAL write failed; batch rejected", metadata: ["wal.file": "\(path)", "error": "\(error)"])
                for w in chunk.waiters { w.complete(error) }
                continue
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let fsyncError = FileIO.fsyncOnce(fd, path: path)
            if fsyncError != 0 {
                // fsyncgate: after a failed fsync the kernel may have dropped the dirty pages. Never retry.
                let message = "fsync of \(path) failed: \(String(cString: strerror(fsyncError))); stopping so that nothing unsynced is acknowledged"
                fatal(message)
                return stopAfterFatal(message, failing: chunk.waiters, openFD: fd)
            }
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            offset += off_t(chunk.bytes.count)
            condition.lock()
            stats.fsyncs += 1
            stats.bytesWritten += chunk.bytes.count
            stats.fsyncNanoseconds += elapsed
            stats.lastFsyncNanoseconds = elapsed
            condition.unlock()
            for w in chunk.waiters { w.complete(nil) }
        }
    }

    /// Logs `message` at `critical` and calls ``fatalHandler`` (production: stderr, `exit(70)`).
    /// Returns only if a test's handler returns: the caller then stops the writer (`stopAfterFatal`).
    private func fatal(_ message: String) {
        logger.critical("\(message)")
        Self.fatalHandler(message)
    }

    /// The numbers of the log files present in `directory`, ascending.
    public static func existingSequences(directory: String) -> [UInt64] {
        FileIO.listDirectory(directory).compactMap { name in
            guard name.hasSuffix(".wal") else { return nil }
            return UInt64(name.dropLast(4))
        }.sorted()
    }
}
