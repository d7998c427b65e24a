import Testing
import TokentraCore
import UsageIndex
@testable import SegmentStore

/// The size-tiered plan itself, on segment records (no files): which segments of a closed day merge.
@Suite struct CompactionPlanTests {
    static let now = Store.dayStart(20) + 3_600_000

    static func segment(_ n: Int, rows: Int, day: Int = 2, org: String = "org_a") -> SegmentRecord {
        SegmentRecord(id: Int64(n), orgID: org, day: Store.day(day), file: "segments/\(org)/\(Store.day(day))-\(n).tseg",
                      rows: rows, bytes: rows * 40, minTs: Store.dayStart(day), maxTs: Store.dayStart(day) + 1,
                      unpricedRows: 0, createdAt: 0, eventHours: 1, unrolledHours: 1)
    }

    static func plans(_ segments: [SegmentRecord], all: Bool = false) throws -> [[Int64]] {
        try SegmentStore.planCompaction(segments, now: now, maxRows: 250_000, all: all).map { $0.inputs.compactMap(\.id).sorted() }
    }

    @Test func lateEventsOfAClosedDayDoNotRewriteItsBigSegment() throws {
        // A bulk import: the day's 50,000 rows, then 200 events that arrived hours late.
        #expect(try Self.plans([Self.segment(1, rows: 50_000), Self.segment(2, rows: 200)]) == [])
        // Two late pieces merge with each other, still not with the big segment.
        #expect(try Self.plans([Self.segment(1, rows: 50_000), Self.segment(2, rows: 200), Self.segment(3, rows: 150)]) == [[2, 3]])
        // A piece within 16× of the next tier joins it (the day ends as one file).
        #expect(try Self.plans([Self.segment(1, rows: 50_000), Self.segment(2, rows: 4_000)]) == [[1, 2]])
        // Two halves of a day sealed in two parts merge.
        #expect(try Self.plans([Self.segment(1, rows: 30_000), Self.segment(2, rows: 20_000)]) == [[1, 2]])
        // `all` still merges every day whole.
        #expect(try Self.plans([Self.segment(1, rows: 50_000), Self.segment(2, rows: 200)], all: true) == [[1, 2]])
    }

    @Test func anOpenDayWaitsForFourOfATier() throws {
        let open = 19  // yesterday relative to `now`: still receiving events
        let three = (1...3).map { Self.segment($0, rows: 100, day: open) }
        #expect(try Self.plans(three) == [])
        #expect(try Self.plans(three + [Self.segment(4, rows: 120, day: open)]) == [[1, 2, 3, 4]])
    }
}
