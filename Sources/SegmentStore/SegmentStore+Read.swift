import Foundation
import TokentraCore
import UsageIndex

extension SegmentStore {
    /// A consistent view of an org's raw events: the registered segments and the acknowledged but
    /// unsealed events, taken together on the store's actor (an event is in exactly one of them),
    /// with a pin that keeps the listed files readable until the snapshot is released.
    public struct ReadSnapshot: Sendable {
        public var segments: [SegmentRecord]
        /// Unsealed events in the requested range.
        public var unsealed: EventBatch
        public let pin: SegmentPins.Pin

        /// Lets the files go (also when the snapshot is dropped).
        public func release() { pin.release() }
    }

    /// Takes a ``ReadSnapshot`` of `orgID` (all orgs when `nil`) for `[fromMs, toMs)`.
    public func readSnapshot(orgID: String?, fromMs: Int64? = nil, toMs: Int64? = nil) throws -> ReadSnapshot {
        let pin = pins.pin()
        let fromDay = fromMs.map(UTC.dayString)
        let toDay = toMs.map { UTC.dayString($0 - 1) }
        let segments = try index.segments(orgID: orgID, fromDay: fromDay, toDay: toDay)
        var unsealed = EventBatch()
        for table in [sealing, memtable] {
            for (key, buffer) in table.sorted(by: { $0.key < $1.key }) {
                if let orgID, key.orgID != orgID { continue }
                if let fromMs, key.dayStart + UTC.msPerDay <= fromMs { continue }
                if let toMs, key.dayStart >= toMs { continue }
                for part in buffer.parts {
                    let batch = part.batch
                    var rows: [Int] = []
                    for i in part.rowIndices {
                        let t = batch.timestamps[i]
                        if let fromMs, t < fromMs { continue }
                        if let toMs, t >= toMs { continue }
                        rows.append(i)
                    }
                    unsealed.append(rows: rows, of: batch)
                }
            }
        }
        return ReadSnapshot(segments: segments, unsealed: unsealed, pin: pin)
    }

    /// Calls `body` once per (org, UTC day) with that day's stored events (sealed and unsealed),
    /// sorted by timestamp then request id, restricted to `[fromMs, toMs)`.
    public nonisolated func forEachDay(
        orgID: String? = nil, fromMs: Int64? = nil, toMs: Int64? = nil,
        _ body: (_ orgID: String, _ day: String, _ events: [UsageEvent]) throws -> Void
    ) async throws {
        let snapshot = try await readSnapshot(orgID: orgID, fromMs: fromMs, toMs: toMs)
        defer { snapshot.release() }
        var groups: [DayKey: [SegmentRecord]] = [:]
        for s in snapshot.segments {
            guard let d = UTC.parseDay(s.day) else { continue }
            groups[DayKey(orgID: s.orgID, dayStart: d), default: []].append(s)
        }
        var fresh: [DayKey: [Int]] = [:]
        let u = snapshot.unsealed
        for i in 0..<u.count {
            fresh[DayKey(orgID: u.orgID(at: i), dayStart: UTC.dayStart(u.timestamps[i])), default: []].append(i)
        }
        for key in Set(groups.keys).union(fresh.keys).sorted() {
            var day = u.selecting(fresh[key] ?? [])
            for s in (groups[key] ?? []).sorted(by: { $0.file < $1.file }) {
                day.append(try SegmentReader(path: dataDirectory + "/" + s.file).batch())
            }
            var rows: [Int] = []
            for i in 0..<day.count {
                let t = day.timestamps[i]
                if let fromMs, t < fromMs { continue }
                if let toMs, t >= toMs { continue }
                rows.append(i)
            }
            let order = day.sortedOrder(rows)
            if !order.isEmpty { try body(key.orgID, key.day, order.map(day.event(at:))) }
        }
    }

    /// The acknowledged events of `orgID` in `[fromMs, toMs)` that are not sealed into segments yet
    /// (queries add them to the rollups so answers include everything acknowledged).
    public func unsealedEvents(orgID: String, fromMs: Int64, toMs: Int64) throws -> [UsageEvent] {
        let s = try readSnapshot(orgID: orgID, fromMs: fromMs, toMs: toMs)
        s.release()
        return s.unsealed.events
    }

    /// One problem `verify` found.
    public struct Problem: Sendable, Equatable, Codable {
        public var file: String
        public var message: String
    }

    /// The result of ``verify()``.
    public struct VerifyReport: Sendable {
        public var segments: Int = 0
        public var events: Int = 0
        public var unsealedEvents: Int = 0
        /// Segments + index + WAL bytes on disk.
        public var bytes: Int = 0
        public var segmentBytes: Int = 0
        public var problems: [Problem] = []
        /// Segments moved aside because they could not be read (they count as problems too).
        public var quarantined: [QuarantinedSegment] = []
        public var ok: Bool { problems.isEmpty }
    }

    /// Checks every registered segment (checksums of every column, every row decodes, row counts and
    /// time range match the index), lists files the index does not know, torn WAL tails and
    /// quarantined segments. It changes nothing (a read-only store only reports what recovery found).
    public func verify() throws -> VerifyReport {
        var report = VerifyReport()
        let pin = pins.pin()
        defer { pin.release() }
        let segments = try index.segments()
        for s in segments {
            report.segments += 1
            let path = dataDirectory + "/" + s.file
            guard let size = FileIO.fileSize(path) else {
                report.problems.append(Problem(file: s.file, message: "segment file is missing"))
                continue
            }
            report.segmentBytes += size
            if size != s.bytes {
                report.problems.append(Problem(file: s.file, message: "size is \(size) bytes, index says \(s.bytes)"))
            }
            do {
                let reader = try SegmentReader(path: path)
                let rows = try reader.verify()
                if rows != s.rows {
                    report.problems.append(Problem(file: s.file, message: "has \(rows) rows, index says \(s.rows)"))
                }
                if reader.footer.orgID != s.orgID || reader.footer.day != s.day {
                    report.problems.append(Problem(file: s.file, message: "footer says org \(reader.footer.orgID) day \(reader.footer.day), index says \(s.orgID) \(s.day)"))
                }
                if reader.footer.minTimestampMs != s.minTs || reader.footer.maxTimestampMs != s.maxTs {
                    report.problems.append(Problem(file: s.file, message: "time range differs from the index"))
                }
                report.events += rows
            } catch let e as SegmentError {
                report.problems.append(Problem(file: s.file, message: e.message))
            }
        }
        // What recovery found at open: repaired already unless this store is read-only.
        let r = recoveryReport
        if !r.repaired {
            for f in r.temporaryFiles {
                report.problems.append(Problem(file: f, message: "unfinished segment file (an interrupted seal or compaction); `tokentra repair` removes it"))
            }
            for f in r.unregisteredFiles {
                report.problems.append(Problem(file: f, message: "file is not registered in the index (left by an interrupted seal, compaction or retention run); `tokentra repair` removes it"))
            }
            for t in r.tornTails {
                report.problems.append(Problem(file: t.file, message: "torn tail of \(t.bytes) bytes at byte \(t.offset) (a write cut by a crash, never acknowledged); `tokentra repair` cuts it"))
            }
        }
        report.quarantined = try index.quarantinedSegments()
        for q in report.quarantined {
            report.problems.append(Problem(file: q.quarantinedFile, message: "quarantined segment (was \(q.file), \(q.rows) rows): \(q.reason)"))
        }
        let walDir = dataDirectory + "/wal"
        for seq in WriteAheadLog.existingSequences(directory: walDir) {
            report.bytes += FileIO.fileSize(WriteAheadLog.path(directory: walDir, sequence: seq)) ?? 0
        }
        report.unsealedEvents = unsealedCount
        for suffix in ["", "-wal", "-shm"] {
            report.bytes += FileIO.fileSize(dataDirectory + "/index.sqlite" + suffix) ?? 0
        }
        report.bytes += report.segmentBytes
        return report
    }
}

extension SegmentStore {
    /// Sort order inside a segment: timestamp, then request id; deterministic for any input order.
    public nonisolated static func rowOrder(_ a: UsageEvent, _ b: UsageEvent) -> Bool {
        if a.timestampMs != b.timestampMs { return a.timestampMs < b.timestampMs }
        if a.requestID.high != b.requestID.high { return a.requestID.high < b.requestID.high }
        return a.requestID.low < b.requestID.low
    }
}
