import Foundation
import Logging
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex
@testable import SegmentStore

#if canImport(Glibc)
import Glibc
#endif

/// Start-up recovery on real damaged data directories: read-only reporting, repair, WAL damage
/// that must not be dropped, and quarantine of unreadable segments.
@Suite struct RecoveryTests {
    /// SQLite's shared-memory index of the WAL-mode index database: every reader of such a database
    /// updates its read marks there (it is not data; SQLite rebuilds it), so it is not compared.
    static let sqliteSharedMemory: Set<String> = ["index.sqlite-shm"]

    /// A data directory with 30 sealed events of day 1 and 20 unsealed of day 2, then an
    /// unregistered copy of the segment, an unfinished `.tmp` file and garbage after the last WAL record.
    struct Damaged {
        var sealed: [UsageEvent]
        var unsealed: [UsageEvent]
        var segment: String
        var copy: String
        var temporary: String
        var walFile: String
        var walSizeBefore: Int
        var garbage: Int
    }

    static func makeDamaged(_ dir: TemporaryDirectory) async throws -> Damaged {
        let sealed = Store.events(30, day: 1, seed: 1), unsealed = Store.events(20, day: 2, seed: 2)
        do {
            let store = try await Store.open(dir)
            #expect(try await store.ingest(sealed).stored == 30)
            try await store.flush()
            #expect(try await store.ingest(unsealed).stored == 20)
            await store.close()
        }
        let walDir = dir.path + "/wal"
        let sequences = WriteAheadLog.existingSequences(directory: walDir)
        let newest = try #require(sequences.last)
        #expect(sequences == [newest], "only the file holding the unsealed record is left")
        let walPath = WriteAheadLog.path(directory: walDir, sequence: newest)
        let walSize = try #require(FileIO.fileSize(walPath))
        let garbage: [UInt8] = [0x13, 0x00, 0x00, 0x00, 0xAB]
        try Store.append(garbage, to: walPath)

        let index = try IndexDatabase(readOnlyPath: dir.path + "/index.sqlite")
        let segment = try #require(try index.segments().first?.file)
        let copy = "segments/org_a/\(Store.day(1))-copy.tseg"
        try FileManager.default.copyItem(atPath: dir.path + "/" + segment, toPath: dir.path + "/" + copy)
        let temporary = "segments/org_a/\(Store.day(2))-unfinished.tseg.tmp"
        try Data([1, 2, 3, 4]).write(to: URL(fileURLWithPath: dir.path + "/" + temporary))
        return Damaged(sealed: sealed, unsealed: unsealed, segment: segment, copy: copy, temporary: temporary,
                       walFile: "wal/" + WriteAheadLog.fileName(newest), walSizeBefore: walSize, garbage: garbage.count)
    }

    // MARK: (a) read-only verify, then repair

    @Test func readOnlyOpenReportsDamageAndChangesNothing() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let damage = try await Self.makeDamaged(dir)
        let before = try Store.contents(under: dir.path, excluding: Self.sqliteSharedMemory)

        var readOnly = SegmentStore.Configuration(dataDirectory: dir.path)
        readOnly.readOnly = true
        let store = try await SegmentStore.open(configuration: readOnly, logger: Store.logger)
        let tail = SegmentStore.RecoveryReport.TornTail(file: damage.walFile, offset: damage.walSizeBefore, bytes: damage.garbage)
        var expected = SegmentStore.RecoveryReport()
        expected.temporaryFiles = [damage.temporary]
        expected.unregisteredFiles = [damage.copy]
        expected.tornTails = [tail]
        expected.replayedEvents = 20
        expected.repaired = false
        #expect(await store.recoveryReport == expected)

        let report = try await store.verify()
        #expect(!report.ok)
        #expect(report.problems.map(\.file) == [damage.temporary, damage.copy, damage.walFile])
        #expect(report.problems.count == 3)
        #expect(report.problems[0].message.contains("unfinished segment file"))
        #expect(report.problems[1].message.contains("not registered in the index"))
        #expect(report.problems[2].message.contains("torn tail of \(damage.garbage) bytes at byte \(damage.walSizeBefore)"))
        #expect(report.segments == 1)
        #expect(report.events == 30)
        #expect(report.unsealedEvents == 20)  // replayed into memory, not written anywhere
        #expect(report.quarantined.isEmpty)
        // Read-only: no ingest, no seal, no compaction.
        let ingestError = await #expect(throws: SegmentError.self) { try await store.ingest(Store.events(1, day: 3, seed: 3)) }
        #expect(ingestError?.code == .io)
        #expect(try await store.flush() == SegmentStore.FlushResult())
        #expect(try await store.compact(all: true) == SegmentStore.CompactionResult())
        #expect(try await Store.allEvents(store) == Store.sorted(damage.sealed + damage.unsealed))
        await store.close()

        let after = try Store.contents(under: dir.path, excluding: Self.sqliteSharedMemory)
        #expect(after.keys.sorted() == before.keys.sorted())
        for (file, bytes) in before { #expect(after[file] == bytes, "\(file) changed") }
        #expect(FileIO.fileSize(dir.path + "/" + damage.walFile) == damage.walSizeBefore + damage.garbage)

        // A normal open repairs exactly that.
        let repaired = try await Store.open(dir)
        var fixed = expected
        fixed.repaired = true
        #expect(await repaired.recoveryReport == fixed)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/" + damage.copy))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/" + damage.temporary))
        #expect(FileIO.fileSize(dir.path + "/" + damage.walFile) == damage.walSizeBefore)
        #expect(try FileIO.readFile(dir.path + "/" + damage.walFile) == Array(before[damage.walFile]!.prefix(damage.walSizeBefore)))
        #expect(try FileIO.readFile(dir.path + "/" + damage.segment) == before[damage.segment])
        let verified = try await repaired.verify()
        #expect(verified.ok, "\(verified.problems)")
        #expect(verified.events == 30)
        #expect(verified.unsealedEvents == 20)
        #expect(try await repaired.ingest(damage.sealed + damage.unsealed).stored == 0)
        #expect(try await repaired.flush().events == 20)
        #expect(try await Store.allEvents(repaired) == Store.sorted(damage.sealed + damage.unsealed))
        await repaired.close()

        let clean = try await Store.open(dir)
        #expect(await clean.recoveryReport.isClean)
        #expect(await clean.recoveryReport.replayedEvents == 0)
        await clean.close()
    }

    /// A retention run killed between its index commit and its unlinks (the state the SIGKILL of
    /// `RetentionTests.horizonsDryRunRollupsAndCrash` sometimes produces): the deleted days' files
    /// are unregistered leftovers. Read-only verify reports them (it repairs nothing), a normal
    /// open (or `tokentra repair`) removes them, and the day stays deleted.
    @Test func retentionInterruptedAfterItsCommitLeavesFilesThatVerifyReportsAndOpenRemoves() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let now = Store.dayStart(10)
        let kept = Store.events(10, day: 8, seed: 2)
        let files: [String]
        do {
            let store = try await Store.open(dir)
            #expect(try await store.ingest(Store.events(10, day: 1, seed: 1) + kept).stored == 20)
            try await store.flush()
            try Store.markRolledUp(store)
            try store.index.setRetentionPolicy(RetentionPolicy(rawDays: 5, hourlyDays: 90, dailyDays: 365), orgID: "org_a", now: now)
            // What Retention.run does first, in one transaction; the "crash" comes before the unlinks.
            let outcome = try #require(try Retention(store: store).plan(now: now, orgID: "org_a").first)
            files = try store.index.deleteRetained([outcome.deletion])
            #expect(outcome.segmentDays == [Store.day(1)])
            #expect(files.count == 1)
            await store.close()
        }
        #expect(FileManager.default.fileExists(atPath: dir.path + "/" + files[0]))
        var readOnly = SegmentStore.Configuration(dataDirectory: dir.path)
        readOnly.readOnly = true
        let verifier = try await SegmentStore.open(configuration: readOnly, logger: Store.logger)
        #expect(await verifier.recoveryReport.unregisteredFiles == files)
        let report = try await verifier.verify()
        #expect(report.problems.map(\.file) == files)
        #expect(!report.ok)
        await verifier.close()
        #expect(FileManager.default.fileExists(atPath: dir.path + "/" + files[0]))

        let store = try await Store.open(dir)
        #expect(await store.recoveryReport.unregisteredFiles == files)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/" + files[0]))
        let verified = try await store.verify()
        #expect(verified.ok)
        #expect(try await Store.allEvents(store) == Store.sorted(kept))
        await store.close()
    }

    // MARK: (b) a torn record in an older WAL file

    @Test func tornRecordInAnOlderWALFileIsRefusedWithFileAndOffset() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = dir.path + "/wal"
        let first = WriteAheadLog.path(directory: walDir, sequence: 1)
        let sizeAfterFirstRecord: Int
        let sizeAfterSecondRecord: Int
        do {
            let store = try await Store.open(dir)
            #expect(try await store.ingest(Store.events(10, day: 1, seed: 1)).stored == 10)
            sizeAfterFirstRecord = try #require(FileIO.fileSize(first))
            #expect(try await store.ingest(Store.events(10, day: 1, seed: 2)).stored == 10)
            sizeAfterSecondRecord = try #require(FileIO.fileSize(first))
            await store.close()
        }
        do {
            // Replays file 1, writes file 2: file 1 is no longer the newest.
            let store = try await Store.open(dir)
            #expect(await store.recoveryReport.replayedEvents == 20)
            #expect(try await store.ingest(Store.events(10, day: 1, seed: 3)).stored == 10)
            await store.close()
        }
        #expect(WriteAheadLog.existingSequences(directory: walDir) == [1, 2])
        // Cut file 1 in the middle of its second record, as if that write had been torn.
        let fd = open(first, O_WRONLY)
        try #require(fd >= 0)
        try #require(ftruncate(fd, off_t(sizeAfterSecondRecord - 4)) == 0)
        close(fd)
        let damaged = try Store.contents(under: walDir)

        for readOnly in [false, true] {
            var configuration = SegmentStore.Configuration(dataDirectory: dir.path)
            configuration.readOnly = readOnly
            let error = await #expect(throws: SegmentError.self) {
                _ = try await SegmentStore.open(configuration: configuration, logger: Store.logger)
            }
            #expect(error?.code == .walCorrupt, "read-only \(readOnly)")
            #expect(error?.message.contains(first) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("byte \(sizeAfterFirstRecord)") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("not the newest") == true)
        }
        // Nothing was cut or removed, and the lock was released (a second attempt fails the same way, not `.locked`).
        #expect(try Store.contents(under: walDir) == damaged)
        let again = await #expect(throws: SegmentError.self) { _ = try await Store.open(dir) }
        #expect(again?.code == .walCorrupt)
    }

    /// The same tear in the newest file is a torn tail: cut, and the records before it replayed.
    @Test func tornRecordInTheNewestWALFileIsCut() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = dir.path + "/wal"
        let first = WriteAheadLog.path(directory: walDir, sequence: 1)
        let kept = Store.events(10, day: 1, seed: 1)
        let sizeAfterFirstRecord: Int
        let sizeAfterSecondRecord: Int
        do {
            let store = try await Store.open(dir)
            #expect(try await store.ingest(kept).stored == 10)
            sizeAfterFirstRecord = try #require(FileIO.fileSize(first))
            #expect(try await store.ingest(Store.events(10, day: 1, seed: 2)).stored == 10)
            sizeAfterSecondRecord = try #require(FileIO.fileSize(first))
            await store.close()
        }
        let fd = open(first, O_WRONLY)
        try #require(fd >= 0)
        try #require(ftruncate(fd, off_t(sizeAfterSecondRecord - 4)) == 0)
        close(fd)
        let store = try await Store.open(dir)
        let report = await store.recoveryReport
        #expect(report.tornTails == [.init(file: "wal/" + WriteAheadLog.fileName(1), offset: sizeAfterFirstRecord,
                                           bytes: sizeAfterSecondRecord - 4 - sizeAfterFirstRecord)])
        #expect(report.replayedEvents == 10)
        #expect(FileIO.fileSize(first) == sizeAfterFirstRecord)
        #expect(try await Store.allEvents(store) == Store.sorted(kept))
        await store.close()
    }

    // MARK: (c) quarantine

    /// Flips a byte inside `column`'s data (not the footer) of the segment at `path`.
    static func corrupt(_ column: SegmentFormat.Column, of path: String) throws {
        var bytes = try FileIO.readFile(path)
        let reader = try SegmentReader(path: path)
        let entry = try #require(reader.footer.columns.first { $0.id == column.rawValue })
        try #require(entry.compressedLength > 2)
        bytes[Int(entry.offset) + 1] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func dedupColdLoadQuarantinesACorruptSegment() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let bad = Store.events(30, day: 1, seed: 1), good = Store.events(20, day: 1, seed: 2, offsetMs: 5_000)
        let other = Store.events(15, day: 2, seed: 3)
        let badSegment: SegmentRecord
        do {
            let store = try await Store.open(dir)
            #expect(try await store.ingest(bad).stored == 30)
            try await store.flush()
            badSegment = try #require(try store.index.segments().first)
            #expect(try await store.ingest(good + other).stored == 35)
            try await store.flush()
            await store.close()
        }
        #expect(badSegment.rows == 30)
        try Self.corrupt(.requestID, of: dir.path + "/" + badSegment.file)
        let name = String(badSegment.file.split(separator: "/").last!)
        let quarantined = "quarantine/org_a/" + name

        // Reopened, the dedup state is empty: the first event of day 1 reads the day's segments.
        let store = try await Store.open(dir)
        let fresh = Store.events(1, day: 1, seed: 4, offsetMs: 40_000_000)
        let result = try await store.ingest([bad[0], good[0], fresh[0]])
        // The unreadable segment's events are no longer stored anywhere: bad[0] is new again.
        #expect(result == SegmentStore.IngestResult(stored: 2, duplicateIndices: [1]))

        #expect(!FileManager.default.fileExists(atPath: dir.path + "/" + badSegment.file))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/" + quarantined))
        #expect(Store.files(under: dir.path + "/quarantine") == ["org_a/" + name])
        #expect(try store.index.segments().map(\.file).contains(badSegment.file) == false)
        #expect(try store.index.segments().count == 2)
        let records = try store.index.quarantinedSegments()
        try #require(records.count == 1)
        #expect(records[0].orgID == "org_a")
        #expect(records[0].day == Store.day(1))
        #expect(records[0].file == badSegment.file)
        #expect(records[0].quarantinedFile == quarantined)
        #expect(records[0].rows == 30)
        #expect(records[0].reason.contains("column request_id checksum"), "\(records[0].reason)")
        #expect(try store.quarantinedSegments() == records)

        let report = try await store.verify()
        #expect(!report.ok)
        #expect(report.quarantined == records)
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.file == quarantined)
        #expect(report.problems.first?.message.contains("quarantined segment (was \(badSegment.file), 30 rows)") == true)
        #expect(report.segments == 2)
        #expect(report.events == 35)

        // The other segments still read, and the store keeps working: seal, WAL cleanup, dedup.
        #expect(try await Store.allEvents(store) == Store.sorted(good + other + [bad[0], fresh[0]]))
        let sealed = try await store.flush()
        #expect(sealed.events == 2)
        #expect(sealed.segments == 1)
        let checkpoint = try store.index.walSealedThrough()
        let walFiles = WriteAheadLog.existingSequences(directory: dir.path + "/wal")
        #expect(walFiles.allSatisfy { $0 > checkpoint }, "sealed WAL files left: \(walFiles), sealed through \(checkpoint)")
        #expect(try await store.ingest([bad[0], bad[1], good[1]]) == SegmentStore.IngestResult(stored: 1, duplicateIndices: [0, 2]))
        try await store.flush()
        let final = try await store.verify()
        #expect(final.problems.map(\.file) == [quarantined])
        #expect(final.events == 38)
        await store.close()

        let reopened = try await Store.open(dir)
        #expect(await reopened.recoveryReport.isClean)
        #expect(try await Store.allEvents(reopened).count == 38)
        #expect(try reopened.index.quarantinedSegments() == records)
        await reopened.close()
    }

    /// Compaction meets a segment whose column does not match its checksum: the segment is moved
    /// aside, the merge of that day given up, the other inputs stay registered and readable.
    @Test func compactionQuarantinesACorruptInput() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await Store.open(dir)
        var events: [UsageEvent] = []
        for r in 0..<3 {
            let batch = Store.events(10, day: 1, seed: 10 + UInt64(r), offsetMs: Int64(r) * 1_000)
            #expect(try await store.ingest(batch).stored == 10)
            try await store.flush()
            events.append(contentsOf: batch)
        }
        let segments = try store.index.segments()
        try #require(segments.count == 3)
        // The merge reads its inputs smallest first, then by file name: corrupt the second one.
        let victim = segments.sorted { $0.file < $1.file }[1]
        try Self.corrupt(.model, of: dir.path + "/" + victim.file)
        let result = try await store.compact(now: Store.dayStart(30))
        #expect(result == SegmentStore.CompactionResult(written: 0, merged: 0, rows: 0, abandoned: 1))
        let records = try store.index.quarantinedSegments()
        #expect(records.map(\.file) == [victim.file])
        #expect(records.first?.reason.contains("column model") == true, "\(records.first?.reason ?? "")")
        #expect(try store.index.segments().map(\.file) == segments.map(\.file).filter { $0 != victim.file })
        let victimIDs = Set(try SegmentReader(path: dir.path + "/quarantine/org_a/" + String(victim.file.split(separator: "/").last!)).requestIDs())
        #expect(victimIDs.count == 10)
        let remaining = try await Store.allEvents(store)
        #expect(remaining == Store.sorted(events.filter { !victimIDs.contains($0.requestID) }))
        // The next pass merges what is left.
        #expect(try await store.compact(now: Store.dayStart(30)) == SegmentStore.CompactionResult(written: 1, merged: 2, rows: 20, abandoned: 0))
        #expect(try await Store.allEvents(store) == remaining)
        #expect(try await store.verify().problems.count == 1)
        await store.close()
    }
}
