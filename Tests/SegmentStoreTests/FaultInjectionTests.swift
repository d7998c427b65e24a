import Foundation
import Logging
import Synchronization
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex
@testable import SegmentStore

#if canImport(Glibc)
import Glibc
#endif

/// Full disks, short writes and fsync failures on real files, through the ``FaultInjection`` seam.
/// Every rule matches only this test's temporary directory (the plan is process-wide), and the
/// suite is serialized and resets the plan around every test.
@Suite(.serialized, .faultIsolated) struct FaultInjectionTests {
    let logger = Logger(label: "test")

    init() { FaultInjection.reset() }

    /// Records the messages of ``WriteAheadLog/fatalHandler`` instead of exiting.
    final class FatalRecorder: Sendable {
        private let messages = Mutex<[String]>([])
        var all: [String] { messages.withLock { $0 } }
        func install() {
            WriteAheadLog.fatalHandler = { [self] message in messages.withLock { $0.append(message) } }
        }
    }

    static func payload(_ n: Int, seed: UInt64) -> ([UsageEvent], [UInt8]) {
        let events = EventFactory.events(n, seed: seed)
        return (events, WriteAheadLog.payload(for: events))
    }

    // MARK: (a) ENOSPC on a WAL write

    @Test(arguments: [ENOSPC, EDQUOT])
    func walWriteOnFullDiskIsRolledBackAndTheNextAppendIsDurable(_ err: Int32) async throws {
        defer { FaultInjection.reset() }
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = dir.file("wal")
        let path = WriteAheadLog.path(directory: walDir, sequence: 1)
        let wal = try WriteAheadLog(directory: walDir, firstSequence: 1, logger: logger)
        let (b1, p1) = Self.payload(3, seed: 1)
        let (_, p2) = Self.payload(4, seed: 2)
        let (b3, p3) = Self.payload(5, seed: 3)
        try await wal.append(p1)
        let before = try FileIO.readFile(path)
        #expect(before.count == WriteAheadLog.headerSize + WriteAheadLog.frame(p1).count)

        // Like a real full disk: the first write lands 7 bytes, the next one fails.
        let short = FaultInjection.install(.init(path: walDir + "/", .write, on: .nth(1), .shortWrite(7)))
        let full = FaultInjection.install(.init(path: walDir + "/", .write, on: .nth(2), .fail(err)))
        let error = await #expect(throws: SegmentError.self) { try await wal.append(p2) }
        #expect(error?.code == .storageFull)
        #expect(error?.message.contains(path) == true)
        #expect(FaultInjection.fired(short) == 1)
        #expect(FaultInjection.fired(full) == 1)
        // Rolled back to the end of the last durable record.
        #expect(FileIO.fileSize(path) == before.count)
        #expect(try FileIO.readFile(path) == before)
        #expect(wal.statistics.fsyncs == 1)

        FaultInjection.reset()
        try await wal.append(p3)
        #expect(wal.statistics.fsyncs == 2)
        wal.close()
        #expect(try FileIO.readFile(path) == before + WriteAheadLog.frame(p3))
        let r = try WriteAheadLog.recover(directory: walDir, sequence: 1, repair: false)
        #expect(r.records == 2)
        #expect(r.truncatedBytes == 0)
        #expect(r.events == b1 + b3)
        #expect(r.events.map(\.requestID.text) == (b1 + b3).map(\.requestID.text))
    }

    // MARK: (b) short writes

    @Test(arguments: [1, 3, 4096])
    func shortWritesStillWriteWholeRecords(_ limit: Int) async throws {
        defer { FaultInjection.reset() }
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = dir.file("wal")
        let path = WriteAheadLog.path(directory: walDir, sequence: 1)
        let wal = try WriteAheadLog(directory: walDir, firstSequence: 1, logger: logger)
        let rule = FaultInjection.install(.init(path: walDir + "/", .write, .shortWrite(limit)))
        let (b1, p1) = Self.payload(7, seed: 11)
        let (b2, p2) = Self.payload(2, seed: 12)
        try await wal.append(p1)
        try await wal.append(p2)
        wal.close()
        let f1 = WriteAheadLog.frame(p1), f2 = WriteAheadLog.frame(p2)
        // One write(2) per `limit` bytes of each group: the fault really applied to every call.
        let expectedCalls = (f1.count + limit - 1) / limit + (f2.count + limit - 1) / limit
        #expect(FaultInjection.fired(rule) == expectedCalls)
        #expect(try FileIO.readFile(path) == WriteAheadLog.magic + f1 + f2)
        let r = try WriteAheadLog.recover(directory: walDir, sequence: 1, repair: false)
        #expect(r.records == 2)
        #expect(r.truncatedBytes == 0)
        #expect(r.events == b1 + b2)
    }

    @Test func shortSegmentWritesSealTheSameEvents() async throws {
        defer { FaultInjection.reset() }
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        let events = EventFactory.events(40, seed: 5, days: 2)
        #expect(try await store.ingest(events).stored == 40)
        let rule = FaultInjection.install(.init(path: dir.path + "/segments/", .write, .shortWrite(5)))
        let result = try await store.flush()
        #expect(result.events == 40)
        #expect(result.segments == Self.days(events))
        #expect(FaultInjection.fired(rule) >= result.bytes / 5)
        FaultInjection.reset()
        var sealed: [UsageEvent] = []
        for s in try store.index.segments() {
            sealed += try SegmentReader(path: dir.path + "/" + s.file).events()
        }
        #expect(sealed.sorted(by: SegmentStore.rowOrder) == events.sorted(by: SegmentStore.rowOrder))
        await store.close()
    }

    // MARK: (c) EIO on the WAL fsync

    @Test func walFsyncFailureIsFatalAndNothingIsAcknowledged() async throws {
        defer { FaultInjection.reset() }
        let recorder = FatalRecorder()
        recorder.install()
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = dir.file("wal")
        let path = WriteAheadLog.path(directory: walDir, sequence: 1)
        let wal = try WriteAheadLog(directory: walDir, firstSequence: 1, logger: logger)
        let (b1, p1) = Self.payload(3, seed: 21)
        let (b2, p2) = Self.payload(4, seed: 22)
        try await wal.append(p1)
        #expect(recorder.all.isEmpty)

        let rule = FaultInjection.install(.init(path: walDir + "/", .fsync, on: .nth(1), .fail(EIO)))
        let error = await #expect(throws: SegmentError.self) { try await wal.append(p2) }
        #expect(error?.code == .io)
        #expect(FaultInjection.fired(rule) == 1)
        let messages = recorder.all
        try #require(messages.count == 1)
        #expect(messages[0].contains("fsync of \(path) failed"))
        #expect(messages[0].contains(String(cString: strerror(EIO))))

        // The writer stopped: later records and syncs fail too (the fault fired only once), in one
        // group or in several, and none of them is written.
        let tickets = (0..<5).map { i in wal.submit(Self.payload(2, seed: 30 + UInt64(i)).1) }
        for t in tickets { await #expect(throws: SegmentError.self) { try await t.wait() } }
        await #expect(throws: SegmentError.self) { try await wal.sync() }
        await #expect(throws: SegmentError.self) { try await wal.append(p1) }
        #expect(recorder.all.count == 1)
        #expect(wal.statistics.fsyncs == 1)
        wal.close()  // returns: the stopped writer thread ends

        // Record 1 was durable. Record 2 was written but its fsync failed: never acknowledged (in
        // production the process exits here and replays it on restart); nothing after it reached the file.
        #expect(try FileIO.readFile(path) == WriteAheadLog.magic + WriteAheadLog.frame(p1) + WriteAheadLog.frame(p2))
        let r = try WriteAheadLog.recover(directory: walDir, sequence: 1, repair: false)
        #expect(r.records == 2)
        #expect(r.truncatedBytes == 0)
        #expect(r.events == b1 + b2)
    }

    /// A full disk when the WAL rotates is not fatal: records meant for the new file are rejected
    /// (`storageFull`, nothing acknowledged), the file is created again for the next record.
    @Test func walFileCreationOnFullDiskRejectsThenRecovers() async throws {
        defer { FaultInjection.reset() }
        let recorder = FatalRecorder()
        recorder.install()
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = dir.file("wal")
        let wal = try WriteAheadLog(directory: walDir, firstSequence: 1, logger: logger)
        let (b1, p1) = Self.payload(3, seed: 41)
        let (b2, p2) = Self.payload(2, seed: 42)
        try await wal.append(p1)
        let rule = FaultInjection.install(.init(path: walDir + "/" + WriteAheadLog.fileName(2), .open, .fail(ENOSPC)))
        #expect(wal.rotate() == 1)
        let error = await #expect(throws: SegmentError.self) { try await wal.append(p2) }
        #expect(error?.code == .storageFull)
        #expect(FaultInjection.fired(rule) >= 1)
        #expect(recorder.all.isEmpty)
        FaultInjection.reset()
        #expect(try await wal.append(p2) == 2)
        wal.close()
        #expect(WriteAheadLog.existingSequences(directory: walDir) == [1, 2])
        #expect(try WriteAheadLog.recover(directory: walDir, sequence: 1, repair: false).events == b1)
        #expect(try WriteAheadLog.recover(directory: walDir, sequence: 2, repair: false).events == b2)
    }

    /// Any other failure to create the next WAL file (here EIO) is fatal.
    @Test func walFileCreationFailureOnRotationIsFatal() async throws {
        defer { FaultInjection.reset() }
        let recorder = FatalRecorder()
        recorder.install()
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = dir.file("wal")
        let wal = try WriteAheadLog(directory: walDir, firstSequence: 1, logger: logger)
        let (b1, p1) = Self.payload(3, seed: 41)
        try await wal.append(p1)
        let rule = FaultInjection.install(.init(path: walDir + "/" + WriteAheadLog.fileName(2), .open, .fail(EIO)))
        #expect(wal.rotate() == 1)
        await #expect(throws: SegmentError.self) { try await wal.append(p1) }
        #expect(FaultInjection.fired(rule) == 1)
        #expect(recorder.all.count == 1)
        #expect(recorder.all.first?.contains("cannot create WAL file \(WriteAheadLog.fileName(2))") == true)
        await #expect(throws: SegmentError.self) { try await wal.append(p1) }
        wal.close()
        #expect(WriteAheadLog.existingSequences(directory: walDir) == [1])
        let r = try WriteAheadLog.recover(directory: walDir, sequence: 1, repair: false)
        #expect(r.events == b1)
    }

    // MARK: (d) ENOSPC on a segment .tmp write during a seal

    @Test func flushOnFullDiskLeavesNoFileAndALaterFlushSealsEverythingOnce() async throws {
        defer { FaultInjection.reset() }
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let segmentsDir = dir.path + "/segments/"
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        let events = EventFactory.events(60, seed: 9, days: 3)
        #expect(try await store.ingest(Array(events[0..<30])).stored == 30)
        #expect(try await store.ingest(Array(events[30...])).stored == 30)

        let rule = FaultInjection.install(.init(path: segmentsDir, .write, .fail(ENOSPC)))
        let error = await #expect(throws: SegmentError.self) { try await store.flush() }
        #expect(error?.code == .storageFull)
        #expect(error?.message.contains(".tseg.tmp") == true)
        #expect(FaultInjection.fired(rule) >= 1)
        #expect(Self.filesUnder(segmentsDir).isEmpty, "left behind: \(Self.filesUnder(segmentsDir))")
        #expect(try store.index.segments().isEmpty)
        // Still unsealed and still readable, exactly once.
        let unsealed = try await store.unsealedEvents(orgID: "org_a", fromMs: 0, toMs: .max)
        #expect(unsealed.count == 60)
        #expect(Set(unsealed.map(\.requestID)) == Set(events.map(\.requestID)))
        #expect(try await store.ingest(events).stored == 0)  // still deduplicated

        FaultInjection.reset()
        let result = try await store.flush()
        #expect(result.events == 60)
        #expect(result.segments == Self.days(events))
        #expect(try await store.unsealedEvents(orgID: "org_a", fromMs: 0, toMs: .max).isEmpty)
        let files = Self.filesUnder(segmentsDir)
        #expect(files.count == Self.days(events))
        #expect(files.allSatisfy { $0.hasSuffix(".tseg") })
        #expect(try await Self.allEvents(store) == events.sorted(by: SegmentStore.rowOrder))
        #expect(try await store.flush().events == 0)
        await store.close()

        // After a restart: the same 60 events, once (the WAL holds nothing unsealed).
        let reopened = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        #expect(try await Self.allEvents(reopened) == events.sorted(by: SegmentStore.rowOrder))
        #expect(try await reopened.ingest(events).stored == 0)
        await reopened.close()
    }

    /// Only one of several segment writes fails (the disk fills up during a seal): the segments
    /// written concurrently by the other tasks must not stay behind either.
    @Test
    func flushWithOneFailedSegmentWriteLeavesNoFile() async throws {
        defer { FaultInjection.reset() }
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let segmentsDir = dir.path + "/segments/"
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
        let events = EventFactory.events(400, seed: 3, days: 6)
        #expect(try await store.ingest(events).stored == 400)
        FaultInjection.install(.init(path: segmentsDir, .write, on: .nth(1), .fail(ENOSPC)))
        let error = await #expect(throws: SegmentError.self) { try await store.flush() }
        #expect(error?.code == .storageFull)
        #expect(Self.filesUnder(segmentsDir).isEmpty, "left behind: \(Self.filesUnder(segmentsDir))")
        FaultInjection.reset()
        #expect(try await store.flush().events == 400)
        #expect(Self.filesUnder(segmentsDir).count == Self.days(events))
        await store.close()
    }

    /// The number of UTC days the events fall on (one segment each, one org).
    static func days(_ events: [UsageEvent]) -> Int {
        Set(events.map { formatTimestamp($0.timestampMs).prefix(10) }).count
    }

    static func allEvents(_ store: SegmentStore) async throws -> [UsageEvent] {
        var out: [UsageEvent] = []
        try await store.forEachDay { _, _, events in out.append(contentsOf: events) }
        return out
    }

    /// Every regular file below `root` (recursively), as paths relative to it.
    static func filesUnder(_ root: String) -> [String] {
        var out: [String] = []
        for name in FileIO.listDirectory(root) {
            let path = root + (root.hasSuffix("/") ? "" : "/") + name
            if FileIO.isDirectory(path) {
                out += filesUnder(path).map { name + "/" + $0 }
            } else {
                out.append(name)
            }
        }
        return out.sorted()
    }
}
