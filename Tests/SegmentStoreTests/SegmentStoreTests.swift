import Foundation
import Logging
import Testing
import TokentraCore
import TokentraTestSupport
import UsageIndex
@testable import SegmentStore
import Rollups

@Suite struct SegmentStoreTests {
    let logger = Logger(label: "test")

    func open(_ dir: TemporaryDirectory) async throws -> SegmentStore {
        try await SegmentStore.open(configuration: .init(dataDirectory: dir.path), logger: logger)
    }

    func allEvents(_ store: SegmentStore, org: String? = nil) async throws -> [UsageEvent] {
        var out: [UsageEvent] = []
        try await store.forEachDay(orgID: org) { _, _, events in out.append(contentsOf: events) }
        return out
    }

    @Test func duplicatesAreReportedWithinAndAcrossCalls() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await open(dir)
        let events = EventFactory.events(10)
        let first = try await store.ingest(events + [events[3]])
        #expect(first.stored == 10)
        #expect(first.duplicateIndices == [10])
        let second = try await store.ingest([events[0], events[9]] + EventFactory.events(2, seed: 99))
        #expect(second.stored == 2)
        #expect(second.duplicateIndices == [0, 1])
        // The same request id in another org is a different event.
        var other = events[0]
        other.orgID = "org_b"
        #expect(try await store.ingest([other]).stored == 1)
        await store.close()
    }

    @Test func walReplayAfterReopenKeepsEventsAndDedup() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let events = EventFactory.events(300, days: 3)
        do {
            let store = try await open(dir)
            #expect(try await store.ingest(events).stored == 300)
            await store.close()  // no flush: the events live only in the WAL
        }
        let store = try await open(dir)
        #expect(await store.unsealedCount == 300)
        #expect(try await store.ingest(events).duplicateIndices.count == 300)
        let flushed = try await store.flush()
        #expect(flushed.events == 300)
        let days = Set(events.map { UTC.dayString($0.timestampMs) })
        #expect(days.count >= 3)
        #expect(flushed.segments == days.count)  // one per UTC day
        let stored = try await allEvents(store)
        #expect(stored == events.sorted(by: SegmentStore.rowOrder))
        await store.close()

        let reopened = try await open(dir)
        #expect(await reopened.unsealedCount == 0)
        #expect(try await reopened.ingest(events).stored == 0)
        #expect(await reopened.dedupEntries == 300)
        let report = try await reopened.verify()
        #expect(report.ok)
        #expect(report.events == 300)
        #expect(report.segments == days.count)
        #expect(WriteAheadLog.existingSequences(directory: dir.path + "/wal").count == 1)
        await reopened.close()
    }

    @Test func flushMarksDirtyHoursAndAdvancesCheckpoint() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await open(dir)
        let events = EventFactory.events(50)
        _ = try await store.ingest(events)
        try await store.flush()
        let dirty = try RollupStore(store.index).dirtyHours()
        let expected = Set(events.map { DirtyHour(orgID: $0.orgID, hourStart: UTC.hourStart($0.timestampMs)) })
        #expect(Set(dirty) == expected)
        #expect(try store.index.walSealedThrough() >= 1)
        await store.close()
    }

    @Test func secondProcessIsLockedOut() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await open(dir)
        // flock is per open file description, so a second open in this process is refused too.
        let error = await #expect(throws: SegmentError.self) { _ = try await open(dir) }
        #expect(error?.code == .locked)
        await store.close()
    }

    @Test func unregisteredAndTemporaryFilesAreRemovedOnOpen() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            let store = try await open(dir)
            _ = try await store.ingest(EventFactory.events(20))
            try await store.flush()
            await store.close()
        }
        let orgDir = dir.path + "/segments/org_a"
        let before = FileIO.listDirectory(orgDir)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: orgDir + "/2026-01-01-x.tseg.tmp"))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: orgDir + "/2026-01-01-x.tseg"))
        let store = try await open(dir)
        #expect(FileIO.listDirectory(orgDir) == before)
        #expect(try await store.verify().ok)
        await store.close()
    }

    @Test func verifyNamesDamagedFileAndColumn() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try await open(dir)
        _ = try await store.ingest(EventFactory.events(100))
        try await store.flush()
        let segment = try #require(try store.index.segments().first)
        let path = dir.path + "/" + segment.file
        var bytes = try FileIO.readFile(path)
        let reader = try SegmentReader(path: path)
        let column = try #require(reader.footer.columns.first { $0.id == SegmentFormat.Column.model.rawValue })
        bytes[Int(column.offset) + 1] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let report = try await store.verify()
        #expect(!report.ok)
        #expect(report.problems.first?.file == segment.file)
        #expect(report.problems.first?.message.contains("column model") == true)
        await store.close()
    }
}
