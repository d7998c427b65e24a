import Foundation
import Logging
import Testing
import TokentraCore
import TokentraTestSupport
@testable import SegmentStore

@Suite struct WriteAheadLogTests {
    let logger = Logger(label: "test")

    /// Writes three records of 3, 4 and 5 events and returns the file path and the events.
    func writeThreeRecords(_ dir: TemporaryDirectory) async throws -> (String, [[UsageEvent]]) {
        let wal = try WriteAheadLog(directory: dir.path, firstSequence: 1, logger: logger)
        let batches = [3, 4, 5].enumerated().map { i, n in EventFactory.events(n, seed: UInt64(i + 1)) }
        for b in batches { try await wal.append(WriteAheadLog.payload(for: b)) }
        wal.close()
        return (WriteAheadLog.path(directory: dir.path, sequence: 1), batches)
    }

    @Test func recoversEveryRecord() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (_, batches) = try await writeThreeRecords(dir)
        let r = try WriteAheadLog.recover(directory: dir.path, sequence: 1, repair: true)
        #expect(r.records == 3)
        #expect(r.events == batches.flatMap { $0 })
        #expect(r.truncatedBytes == 0)
    }

    @Test func concurrentAppendsShareFsyncs() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let wal = try WriteAheadLog(directory: dir.path, firstSequence: 1, logger: logger)
        let payload = WriteAheadLog.payload(for: EventFactory.events(2))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 { group.addTask { try await wal.append(payload) } }
            try await group.waitForAll()
        }
        let stats = wal.statistics
        wal.close()
        let r = try WriteAheadLog.recover(directory: dir.path, sequence: 1, repair: false)
        #expect(r.records == 200)
        #expect(stats.fsyncs < 200)
    }

    enum Damage: CaseIterable { case cutInLastRecord, cutInLastHeader, badCRCInLast, zeroFill }

    @Test(arguments: Damage.allCases)
    func tornTailIsCutAndEarlierRecordsSurvive(_ damage: Damage) async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (path, batches) = try await writeThreeRecords(dir)
        var bytes = try FileIO.readFile(path)
        let full = bytes.count
        switch damage {
        case .cutInLastRecord: bytes.removeLast(10)
        case .cutInLastHeader:
            // Keep records 1-2 plus 5 bytes of record 3's header.
            let r = try WriteAheadLog.recover(directory: dir.path, sequence: 1, repair: false)
            #expect(r.records == 3)
            var offset = WriteAheadLog.headerSize
            for _ in 0..<2 {
                var reader = ByteReader(bytes, offset: offset)
                offset += 9 + Int(try reader.u32())
            }
            bytes = Array(bytes[0..<(offset + 5)])
        case .badCRCInLast: bytes[full - 3] ^= 0xFF
        case .zeroFill: bytes.append(contentsOf: [UInt8](repeating: 0, count: 4096))
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let r = try WriteAheadLog.recover(directory: dir.path, sequence: 1, repair: true)
        let expected = damage == .zeroFill ? 3 : 2
        #expect(r.records == expected)
        #expect(r.events == Array(batches.prefix(expected).joined()))
        #expect(r.truncatedBytes > 0)
        // The repaired file now ends cleanly.
        let again = try WriteAheadLog.recover(directory: dir.path, sequence: 1, repair: false)
        #expect(again.truncatedBytes == 0)
        #expect(again.records == expected)
    }

    @Test func damageBeforeTheTailIsAnError() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (path, _) = try await writeThreeRecords(dir)
        var bytes = try FileIO.readFile(path)
        bytes[WriteAheadLog.headerSize + 20] ^= 0x01  // inside record 1
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: SegmentError.self) {
            try WriteAheadLog.recover(directory: dir.path, sequence: 1, repair: true)
        }
        #expect(error?.code == .walCorrupt)
        #expect(error?.message.contains("byte 8") == true)
        // Nothing was cut.
        #expect(try FileIO.readFile(path) == bytes)
    }

    @Test func rotationStartsANewFile() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let wal = try WriteAheadLog(directory: dir.path, firstSequence: 5, logger: logger)
        try await wal.append(WriteAheadLog.payload(for: EventFactory.events(1, seed: 1)))
        #expect(wal.rotate() == 5)
        let seq = try await wal.append(WriteAheadLog.payload(for: EventFactory.events(1, seed: 2)))
        #expect(seq == 6)
        wal.close()
        #expect(WriteAheadLog.existingSequences(directory: dir.path) == [5, 6])
        try wal.removeFiles(through: 5)
        #expect(WriteAheadLog.existingSequences(directory: dir.path) == [6])
    }
}
