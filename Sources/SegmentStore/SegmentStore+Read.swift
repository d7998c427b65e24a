import Foundation
import TokentraCore
import UsageIndex

extension SegmentStore {
    /// Calls `body` once per (org, UTC day) with that day's stored events (sealed and unsealed),
    /// sorted by timestamp then request id, restricted to `[fromMs, toMs)`.
    public func forEachDay(
        orgID: String? = nil, fromMs: Int64? = nil, toMs: Int64? = nil,
        _ body: (_ orgID: String, _ day: String, _ events: [UsageEvent]) throws -> Void
    ) throws {
        let fromDay = fromMs.map(UTC.dayString)
        let toDay = toMs.map { UTC.dayString($0 - 1) }
        var groups: [GroupKey: [SegmentRecord]] = [:]
        for s in try index.segments(orgID: orgID, fromDay: fromDay, toDay: toDay) {
            groups[GroupKey(orgID: s.orgID, day: s.day), default: []].append(s)
        }
        var fresh: [GroupKey: [UsageEvent]] = [:]
        for m in memtable {
            let e = m.event
            if let orgID, e.orgID != orgID { continue }
            if let fromMs, e.timestampMs < fromMs { continue }
            if let toMs, e.timestampMs >= toMs { continue }
            fresh[GroupKey(orgID: e.orgID, day: UTC.dayString(e.timestampMs)), default: []].append(e)
        }
        let keys = Set(groups.keys).union(fresh.keys).sorted()
        for key in keys {
            var events = fresh[key] ?? []
            for s in groups[key] ?? [] {
                events.append(contentsOf: try SegmentReader(path: dataDirectory + "/" + s.file).events())
            }
            if fromMs != nil || toMs != nil {
                events.removeAll { e in
                    (fromMs.map { e.timestampMs < $0 } ?? false) || (toMs.map { e.timestampMs >= $0 } ?? false)
                }
            }
            events.sort(by: Self.rowOrder)
            if !events.isEmpty { try body(key.orgID, key.day, events) }
        }
    }

    /// The acknowledged events of `orgID` in `[fromMs, toMs)` that are not sealed into segments yet
    /// (queries add them to the rollups so answers include everything acknowledged).
    public func unsealedEvents(orgID: String, fromMs: Int64, toMs: Int64) -> [UsageEvent] {
        var out: [UsageEvent] = []
        for m in memtable where m.event.orgID == orgID && m.event.timestampMs >= fromMs && m.event.timestampMs < toMs {
            out.append(m.event)
        }
        return out
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
        public var ok: Bool { problems.isEmpty }
    }

    /// Checks every registered segment (checksums of every column, every row decodes, row counts and
    /// time range match the index), looks for files the index does not list, and reads the WAL.
    public func verify() throws -> VerifyReport {
        var report = VerifyReport()
        let segments = try index.segments()
        var registered = Set<String>()
        for s in segments {
            registered.insert(s.file)
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
        let root = dataDirectory + "/segments"
        for orgDir in FileIO.listDirectory(root) where FileIO.isDirectory(root + "/" + orgDir) {
            for name in FileIO.listDirectory(root + "/" + orgDir) {
                let relative = "segments/\(orgDir)/\(name)"
                if !registered.contains(relative) {
                    report.problems.append(Problem(file: relative, message: "file is not registered in the index (left by an interrupted seal or retention run)"))
                }
            }
        }
        let walDir = dataDirectory + "/wal"
        for seq in WriteAheadLog.existingSequences(directory: walDir) {
            report.bytes += FileIO.fileSize(WriteAheadLog.path(directory: walDir, sequence: seq)) ?? 0
        }
        report.unsealedEvents = memtable.count
        for suffix in ["", "-wal", "-shm"] {
            report.bytes += FileIO.fileSize(dataDirectory + "/index.sqlite" + suffix) ?? 0
        }
        report.bytes += report.segmentBytes
        return report
    }
}
