import Foundation
import Testing
import TokentraCore
import TokentraTestSupport
@testable import SegmentStore

@Suite struct SegmentCodecTests {
    static func sortedEvents(_ n: Int, seed: UInt64 = 7) -> [UsageEvent] {
        EventFactory.events(n, seed: seed).sorted(by: SegmentStore.rowOrder)
    }

    @Test func crc32cKnownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test(arguments: [Int64.min, -1, 0, 1, 63, 64, 127, 128, 300, Int64.max])
    func varintRoundTrip(_ v: Int64) throws {
        var w = ByteWriter()
        w.varint(v)
        w.uvarint(UInt64(bitPattern: v))
        var r = ByteReader(w.bytes)
        #expect(try r.varint() == v)
        #expect(try r.uvarint() == UInt64(bitPattern: v))
        #expect(r.isAtEnd)
    }

    @Test(arguments: [1, 2, 100, 5000])
    func segmentRoundTripsEveryField(_ n: Int) throws {
        let events = Self.sortedEvents(n)
        let bytes = SegmentWriter.encode(events: events, orgID: "org_a", day: "2026-10-26") { provider, _ in
            provider == "openai" ? SegmentFormat.Rates(inputPer1K: 50_000_000, outputPer1K: 150_000_000, cachedPer1K: 0) : nil
        }
        let reader = try SegmentReader(path: "mem", bytes: bytes)
        #expect(reader.footer.rowCount == n)
        #expect(reader.footer.orgID == "org_a")
        #expect(reader.footer.minTimestampMs == events.first!.timestampMs)
        let decoded = try reader.events()
        #expect(decoded == events)
        #expect(decoded.map(\.requestID.text) == events.map(\.requestID.text))
        #expect(try reader.verify() == n)
    }

    @Test func costPredictionIsExactWhateverTheRates() throws {
        // Odd rates that predict badly must still give back the exact costs.
        let events = Self.sortedEvents(500, seed: 3)
        let bytes = SegmentWriter.encode(events: events, orgID: "org_a", day: "2026-10-26") { _, _ in
            SegmentFormat.Rates(inputPer1K: 7_777_777, outputPer1K: -3, cachedPer1K: Int64.max / 1_000_000_000)
        }
        let decoded = try SegmentReader(path: "mem", bytes: bytes).events()
        #expect(decoded.map(\.totalCost) == events.map(\.totalCost))
        #expect(decoded.map(\.inputCost) == events.map(\.inputCost))
        #expect(decoded.map(\.cachedCost) == events.map(\.cachedCost))
    }

    @Test func predictRoundsHalfToEven() {
        #expect(SegmentFormat.predict(tokens: 1, ratePer1K: 500) == 0)    // 0.5 -> 0
        #expect(SegmentFormat.predict(tokens: 3, ratePer1K: 500) == 2)    // 1.5 -> 2
        #expect(SegmentFormat.predict(tokens: 168, ratePer1K: 1_500_000) == 252_000)
    }

    @Test func flippedColumnByteIsReportedWithColumnName() throws {
        let events = Self.sortedEvents(200)
        var bytes = SegmentWriter.encode(events: events, orgID: "org_a", day: "2026-10-26") { _, _ in nil }
        let reader = try SegmentReader(path: "seg", bytes: bytes)
        let latency = try #require(reader.footer.columns.first { $0.id == SegmentFormat.Column.latencyPlusOne.rawValue })
        bytes[Int(latency.offset) + 2] ^= 0x40
        let damaged = try SegmentReader(path: "seg", bytes: bytes)
        let error = #expect(throws: SegmentError.self) { try damaged.verify() }
        #expect(error?.message.contains("latency_ms") == true)
        #expect(error?.message.contains("checksum") == true)
    }

    @Test func flippedFooterByteIsRejected() throws {
        var bytes = SegmentWriter.encode(events: Self.sortedEvents(10), orgID: "org_a", day: "2026-10-26") { _, _ in nil }
        bytes[bytes.count - 20] ^= 1
        let error = #expect(throws: SegmentError.self) { try SegmentReader(path: "seg", bytes: bytes) }
        #expect(error?.message.contains("footer checksum") == true)
    }

    @Test func truncatedFileIsRejected() throws {
        let bytes = SegmentWriter.encode(events: Self.sortedEvents(10), orgID: "org_a", day: "2026-10-26") { _, _ in nil }
        for cut in [0, 7, 20, bytes.count / 2, bytes.count - 1] {
            #expect(throws: SegmentError.self) { try SegmentReader(path: "seg", bytes: Array(bytes[0..<cut])) }
        }
    }
}

@Suite struct RequestIDPackingTests {
    @Test(arguments: [1, 7, 8, 9, 1000])
    func v4IdsArePackedAndRestored(_ n: Int) throws {
        var rng = SeededRandom(seed: UInt64(n))
        var events = EventFactory.events(n, seed: 5)
        for i in events.indices {
            // Force the v4 shape: version nibble 4, variant bits 10.
            let high = (rng.next() & ~0xF000) | 0x4000
            let low = (rng.next() & ~(0b11 << 62)) | (0b10 << 62)
            events[i].requestID = RequestID(high: high, low: low)
        }
        events.sort(by: SegmentStore.rowOrder)
        let bytes = SegmentWriter.encode(events: events, orgID: "org_a", day: "2026-10-26") { _, _ in nil }
        let reader = try SegmentReader(path: "mem", bytes: bytes)
        let raw = try #require(try reader.rawColumn(.requestID))
        #expect(raw.first == 1)
        #expect(raw.count == 1 + n * 14 + (n * 10 + 7) / 8)
        #expect(try reader.requestIDs() == events.map(\.requestID))
        #expect(try reader.events() == events)
    }
}
