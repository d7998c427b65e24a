import Foundation
import Testing
import TokentraCore
import TokentraTestSupport
@testable import SegmentStore

/// Files written by the format version 1 release binary (`Fixtures/v1`), so that a format change
/// cannot silently break data already on disk:
///
/// - `segment-v1.tseg`: a segment of 20 hand-made events of org `acme` on 2026-11-10, written by
///   `tokentra ingest --now 2026-11-20T00:00:00Z --max-age-days 0 input.ndjson`;
///   `segment-v1.export.ndjson` is `tokentra export --format ndjson` of that data directory.
/// - `wal/0000000000000003.wal`: the WAL of a daemon killed with `kill -9` after acknowledging two
///   `POST /api/v1/sdk/ingest` batches (2 + 3 events, org `acme`, `wal-input.json`), never sealed;
///   `wal.export.ndjson` is `tokentra export` of a copy of that data directory (replayed WAL).
///
/// Never regenerate these files with a newer writer: they are what old installations hold.
@Suite struct GoldenFileTests {
    static func fixture(_ relative: String) throws -> String {
        let root = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures missing from the test bundle")
        let path = root.appendingPathComponent("v1/" + relative).path
        #expect(FileManager.default.fileExists(atPath: path), "missing fixture \(path)")
        return path
    }

    /// Decodes an export (NDJSON, one event per line, `cost_source` honoured) with the project's decoder.
    static func decodeExport(_ path: String) throws -> [UsageEvent] {
        let bytes = try FileIO.readFile(path)
        var configuration = EventDecoderConfiguration()
        configuration.maxAgeMs = nil
        let decoder = EventDecoder(configuration: configuration, priceTable: .builtIn)
        let now: Int64 = 4_102_444_800_000  // 2100-01-01: every fixture timestamp is in the past
        var events: [UsageEvent] = []
        var problems: [String] = []
        bytes.withUnsafeBufferPointer { buffer in
            for item in EventInput(buffer, format: .ndjson) {
                switch item.kind {
                case .object(let object):
                    switch decoder.decode(object, org: .fromEvent(default: "default"), nowMs: now) {
                    case .success(let e): events.append(e)
                    case .failure(let f): problems.append("line \(item.line): \(f)")
                    }
                case .malformed(let error):
                    problems.append("line \(item.line): \(error)")
                }
            }
        }
        #expect(problems.isEmpty, "\(path): \(problems)")
        return events
    }

    /// Compares two events field by field (every stored property, request id text included), so
    /// that a failure names the field.
    static func expectSameFields(_ actual: UsageEvent, _ expected: UsageEvent, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.requestID.description == expected.requestID.description, sourceLocation: sourceLocation)
        #expect(actual.requestID.text == expected.requestID.text, sourceLocation: sourceLocation)
        let a = Mirror(reflecting: actual).children, e = Mirror(reflecting: expected).children
        #expect(a.count == e.count, sourceLocation: sourceLocation)
        for (x, y) in zip(a, e) {
            let name = x.label ?? "?"
            #expect(x.label == y.label, sourceLocation: sourceLocation)
            #expect(String(reflecting: x.value) == String(reflecting: y.value),
                    "field \(name) of \(expected.requestID)", sourceLocation: sourceLocation)
        }
        #expect(actual == expected, sourceLocation: sourceLocation)
    }

    // MARK: Segment

    @Test func v1SegmentDecodesExactlyAsExported() throws {
        let reader = try SegmentReader(path: try Self.fixture("segment-v1.tseg"))
        let events = try reader.events()
        let expected = try Self.decodeExport(try Self.fixture("segment-v1.export.ndjson"))
        try #require(events.count == 20)
        try #require(expected.count == 20)
        for (a, e) in zip(events, expected) { Self.expectSameFields(a, e) }
        #expect(try reader.verify() == 20)
    }

    @Test func v1SegmentFooterAndHardCodedValues() throws {
        let reader = try SegmentReader(path: try Self.fixture("segment-v1.tseg"))
        #expect(reader.footer.rowCount == 20)
        #expect(reader.footer.orgID == "acme")
        #expect(reader.footer.day == "2026-11-10")
        #expect(reader.footer.minTimestampMs == 1_794_268_800_000)  // 2026-11-10T00:00:00.000Z
        #expect(reader.footer.maxTimestampMs == 1_794_355_199_999)  // 2026-11-10T23:59:59.999Z
        let events = try reader.events()
        try #require(events.count == 20)
        #expect(Set(events.map(\.orgID)) == ["acme"])
        #expect(events.reduce(0) { $0 + $1.totalCost.units } == 393_825_888)  // 0.0393825888 USD
        #expect(events.reduce(0) { $0 + $1.inputTokens } == 9030)
        #expect(events.reduce(0) { $0 + $1.outputTokens } == 2490)
        #expect(events.reduce(0) { $0 + $1.cachedTokens } == 819)
        #expect(events.reduce(0) { $0 + $1.totalTokens } == 12339)
        #expect(events.reduce(0) { $0 + ($1.latencyMs ?? 0) } == 10890)
        #expect(events.filter { $0.costSource == .priceTable(version: 1) }.count == 4)
        #expect(events.filter { $0.costSource == .client }.count == 16)
        // Rows sorted by (timestamp, request id): the two midnight rows tie on the timestamp.
        #expect(events[0].requestID.description == "14efd5b8-0d10-4f30-bb69-2d87ef2e42d9")
        #expect(events[1].requestID.description == "90f95193-2c91-4a42-a506-930d4c964c45")
        #expect(events[0].timestampMs == events[1].timestampMs)

        func event(_ id: String) throws -> UsageEvent {
            try #require(events.first { $0.requestID.description == id }, "no event \(id)")
        }
        // Non-UUID request ids keep their text.
        for text in ["req-abc-1", "req-abc-2", "Req_ÄÖ-ünïcode-17"] {
            #expect(try event(text).requestID.text == text)
        }
        #expect(events.filter { $0.requestID.text != nil }.count == 3)

        let abc1 = try event("req-abc-1")
        #expect(abc1.model == "gpt-4o-mini")
        #expect(abc1.inputTokens == 211 && abc1.outputTokens == 53 && abc1.cachedTokens == 39 && abc1.totalTokens == 303)
        #expect(abc1.inputCost.units == 10_810_494)
        #expect(abc1.outputCost.units == 1_234_570)
        #expect(abc1.cachedCost.units == 3)
        #expect(abc1.totalCost.units == 12_045_067)
        #expect(abc1.costSource == .client)
        #expect(abc1.timeToFirstTokenMs == nil)

        // More than 10 decimals were rounded half to even on ingest.
        let rounded = try event("23f6fdc4-8882-4b65-a70e-7a1a8b9c9761")
        #expect(rounded.outputCost.units == 1_234_572)  // 0.00012345715
        #expect(rounded.totalCost.units == 13_940_748)  // 0.00139407484999
        #expect(rounded.timeToFirstTokenMs == 44)

        // Priced from the table (no costs sent): gemini-2.0-flash at 0.0001 / 0.0004 per 1K.
        let priced = try event("Req_ÄÖ-ünïcode-17")
        #expect(priced.costSource == .priceTable(version: 1))
        #expect(priced.inputCost.units == 729_000)
        #expect(priced.outputCost.units == 828_000)
        #expect(priced.totalCost.units == 1_557_000)

        let error = try event("2cb36fb5-390b-4163-ba8d-e06fd001b115")
        #expect(error.isError)
        #expect(error.errorCode == "429")  // sent as a JSON number
        #expect(error.errorType == "rate_limit_error")
        #expect(error.errorMessage == "Rate limited, \"slow down\"\nretry in 2s")
        #expect(error.hostname == "web-1")
        #expect(events.filter(\.isError).count == 2)

        let host = try event("8aa34c5f-7f33-4fdc-af40-7357909102cb")
        #expect(host.hostname == "node-6.internal")
        #expect(host.cloudProvider == "aws")
        #expect(host.instanceID == "i-0abc6")
        #expect(host.k8sPod == "api-7f9")
        #expect(host.k8sNamespace == "prod")
        #expect(host.k8sNode == "ip-10-0-0-6")
        #expect(host.costCenter == "CC-1000-eng")

        #expect(try event("22f3ef3d-4dc9-4b04-bf09-722ace584524").promptHash == "NOT-A-HEX-HASH-14")
        #expect(try event("78a2d30d-b964-4965-b7c1-cadcd6c6c5c0").promptHash
                == "f7b7474c53c335798f4642982e15973151b3b7755f85f016a9464de6ba35c042")
        #expect(events.filter { $0.promptHash != nil }.count == 8)  // 7 hex + 1 text

        let first = try event("90f95193-2c91-4a42-a506-930d4c964c45")
        #expect(first.metadata == #"{"route":"/api/chat","n":1.50,"nested":{"k":[1,2,"x"]},"u":"café"}"#)
        #expect(first.hostname == "web-0")
        #expect(first.feature == "chat" && first.team == "growth" && first.project == nil)
        #expect(first.userID == "user_0" && first.environment == "production")
        #expect(first.sdkVersion == "2.1.0" && first.sdkLanguage == "python")
        #expect(events.filter { $0.metadata != nil }.count == 5)

        let cached = try #require(events.first { $0.wasCached })
        #expect(cached.cacheHitType == "exact")
        #expect(events.filter(\.wasCached).count == 1)
        let routed = try #require(events.first { $0.routedByRule != nil })
        #expect(routed.routedByRule == "cost-saver" && routed.originalModel == "gpt-4")
    }

    /// A segment whose version byte says 99 (a future format) must be refused, not misread.
    static func futureVersionSegment() throws -> (TemporaryDirectory, String) {
        var bytes = try FileIO.readFile(try fixture("segment-v1.tseg"))
        #expect(Array(bytes[0..<8]) == Array("TTSEG".utf8) + [0, 0, 1])
        #expect(Array(bytes[(bytes.count - 8)...]) == Array("TTSEG".utf8) + [0, 0, 1])
        bytes[7] = 99  // header version
        bytes[bytes.count - 1] = 99  // trailer magic's version
        let dir = TemporaryDirectory()
        let path = dir.file("future.tseg")
        try FileIO.writeFile(path, bytes, sync: false)
        return (dir, path)
    }

    @Test func futureVersionIsRefusedNamingTheFile() throws {
        let (dir, path) = try Self.futureVersionSegment()
        defer { dir.remove() }
        let error = try #require(throws: SegmentError.self) { _ = try SegmentReader(path: path).events() }
        #expect(error.message.contains(path))
    }

    @Test
    func futureVersionIsRefusedNamingTheVersion() throws {
        let (dir, path) = try Self.futureVersionSegment()
        defer { dir.remove() }
        let error = try #require(throws: SegmentError.self) { _ = try SegmentReader(path: path).events() }
        #expect(error.message.contains(path))
        #expect(error.message.contains("version 99"))
    }

    // MARK: WAL

    /// Copies the fixture WAL into a fresh `wal` directory (recovery may repair files in place).
    static func walCopy() throws -> (TemporaryDirectory, String) {
        let dir = TemporaryDirectory()
        let wal = dir.file("wal")
        try FileIO.makeDirectories(wal)
        let name = WriteAheadLog.fileName(3)
        try FileIO.writeFile(wal + "/" + name, try FileIO.readFile(try fixture("wal/" + name)), sync: false)
        return (dir, wal)
    }

    @Test func v1WALRecoversEveryAcknowledgedRecord() throws {
        let (dir, wal) = try Self.walCopy()
        defer { dir.remove() }
        #expect(WriteAheadLog.existingSequences(directory: wal) == [3])
        let before = try FileIO.readFile(wal + "/" + WriteAheadLog.fileName(3))
        #expect(before.count == 791)
        let r = try WriteAheadLog.recover(directory: wal, sequence: 3, repair: false)
        #expect(r.sequence == 3)
        #expect(r.records == 2)
        #expect(r.truncatedBytes == 0)
        try #require(r.events.count == 5)

        // WAL order is the order of acknowledgement: batch 1 (2 events), then batch 2 (3 events).
        #expect(r.events.map(\.requestID.description) == [
            "6513270e-269e-4d37-b2a7-4de452e6b438", "req-wal-1",
            "d23f0824-128b-4f33-8c5c-7fd0a6a3a450", "9531985d-5d9d-49f8-9818-e811892f902b", "req-wal-2",
        ])
        #expect(r.events.map(\.requestID.text) == [nil, "req-wal-1", nil, nil, "req-wal-2"])
        #expect(Set(r.events.map(\.orgID)) == ["acme"])
        #expect(r.events.map(\.inputTokens) == [1200, 800, 10, 0, 77])
        #expect(r.events.map(\.outputTokens) == [345, 200, 5, 0, 33])
        #expect(r.events.map(\.cachedTokens) == [0, 1000, 0, 500, 0])
        #expect(r.events.map(\.totalTokens) == [1545, 2000, 15, 500, 110])
        #expect(r.events.map(\.totalCost.units) == [111_750_010, 91_500_000, 33, 0, 313_500])
        #expect(r.events.map(\.inputCost.units) == [60_000_001, 24_000_000, 12, 0, 115_500])
        #expect(r.events.map(\.cachedCost.units) == [0, 37_500_000, 0, 0, 0])
        #expect(r.events.map(\.costSource) == [.client, .priceTable(version: 1), .client, .priceTable(version: 1), .client])
        #expect(r.events.reduce(0) { $0 + $1.totalCost.units } == 203_563_543)
        #expect(r.events[0].metadata == #"{"route":"/v1/chat","retry":0}"#)
        #expect(r.events[0].promptHash == String(repeating: "a", count: 64))
        #expect(r.events[0].timeToFirstTokenMs == 95)
        #expect(r.events[2].isError && r.events[2].errorCode == "500")
        #expect(r.events[2].errorMessage == "upstream said \"no\" — ünïcode")
        #expect(r.events[3].wasCached && r.events[3].cacheHitType == "semantic" && r.events[3].promptHash == "not-hex")
        #expect(r.events[4].userID == "u-ß" && r.events[4].sdkLanguage == "go")

        // Field by field against the v1 export of the replayed data directory (sorted by time there).
        let expected = try Self.decodeExport(try Self.fixture("wal.export.ndjson"))
        try #require(expected.count == 5)
        for e in r.events {
            let x = try #require(expected.first { $0.requestID.description == e.requestID.description })
            Self.expectSameFields(e, x)
        }

        // Nothing to repair: a repairing recovery leaves the file byte for byte as it was.
        let repaired = try WriteAheadLog.recover(directory: wal, sequence: 3, repair: true)
        #expect(repaired.records == 2 && repaired.truncatedBytes == 0)
        #expect(try FileIO.readFile(wal + "/" + WriteAheadLog.fileName(3)) == before)
    }

    @Test func v1WALEventsAreTheOnesSent() throws {
        // wal-input.json holds the two request bodies as sent; every event must be in the WAL.
        let data = try Data(contentsOf: URL(fileURLWithPath: try Self.fixture("wal-input.json")))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let batches = try #require(json["batches"] as? [[String: Any]])
        let sent = try batches.map { b in try #require(b["events"] as? [[String: Any]]).map { $0["request_id"] as? String } }
        #expect(sent.map(\.count) == [2, 3])
        let (dir, wal) = try Self.walCopy()
        defer { dir.remove() }
        let r = try WriteAheadLog.recover(directory: wal, sequence: 3, repair: false)
        #expect(r.events.map(\.requestID.description) == sent.flatMap { $0 }.map { $0 ?? "?" })
    }
}
