import Foundation
import Logging
import TokentraCore
import UsageIndex

extension SegmentStore {
    /// What a seal wrote.
    public struct FlushResult: Sendable, Equatable {
        public var segments: Int = 0
        public var events: Int = 0
        public var bytes: Int = 0
        /// Existing segments merged into the new ones (and deleted).
        public var mergedSegments: Int = 0
    }

    /// The new events of one (org, day) and the existing segments to merge with them.
    struct SealPlan: Sendable {
        var events: [UsageEvent]
        var merge: [SegmentRecord] = []
    }

    /// Seals every acknowledged event into segment files, registers them in the index (with their
    /// dirty rollup hours and the WAL checkpoint, in one transaction) and drops the sealed WAL files.
    @discardableResult
    public func flush() async throws -> FlushResult {
        while let running = flushTask {
            _ = try? await running.value
            // The owner clears it when it resumes; don't spin waiting for that.
            if flushTask == running { flushTask = nil }
        }
        let task = Task { try await self.performFlush() }
        flushTask = task
        defer { if flushTask == task { flushTask = nil } }
        return try await task.value
    }

    private func performFlush() async throws -> FlushResult {
        let sealedSequence = wal.rotate()
        let lastToken = nextToken - 1
        while inflight.contains(where: { $0 <= lastToken }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        let snapshot = memtable.filter { $0.token <= lastToken }.map(\.event)
        var groups: [GroupKey: [UsageEvent]] = [:]
        var dirty = Set<DirtyHour>()
        for e in snapshot {
            groups[GroupKey(orgID: e.orgID, day: UTC.dayString(e.timestampMs)), default: []].append(e)
            dirty.insert(DirtyHour(orgID: e.orgID, hourStart: UTC.hourStart(e.timestampMs)))
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        segmentCounter += 1
        let batchTag = "\(now)-\(segmentCounter)"
        // Small segments of the same (org, day) are merged into the new one, so a day that is
        // sealed many times (late data, frequent seals) stays one file.
        var plans: [GroupKey: SealPlan] = [:]
        for (key, events) in groups {
            let existing = try index.segments(orgID: key.orgID, fromDay: key.day, toDay: key.day)
            var plan = SealPlan(events: events)
            var rows = events.count
            for s in existing.sorted(by: { $0.rows < $1.rows }) where rows + s.rows <= configuration.maxMergedSegmentRows {
                plan.merge.append(s)
                rows += s.rows
            }
            plans[key] = plan
        }
        let records = try await Self.writeSegments(
            plans: plans, dataDirectory: dataDirectory, batchTag: batchTag, now: now, rates: configuration.rates)
        let replaced = plans.values.flatMap(\.merge)
        do {
            _ = try index.commitSeal(segments: records, replacing: replaced.compactMap(\.id), dirty: dirty,
                                     sealedThrough: sealedSequence, now: now)
        } catch {
            for r in records { try? FileIO.remove(dataDirectory + "/" + r.file) }
            throw error
        }
        for r in replaced { try? FileIO.remove(dataDirectory + "/" + r.file) }
        memtable.removeAll { $0.token <= lastToken }
        try wal.removeFiles(through: sealedSequence)
        let result = FlushResult(segments: records.count, events: snapshot.count, bytes: records.reduce(0) { $0 + $1.bytes },
                                 mergedSegments: replaced.count)
        if result.events > 0 {
            logger.info("sealed events into segments", metadata: [
                "seal.events": "\(result.events)", "seal.segments": "\(result.segments)", "seal.bytes": "\(result.bytes)",
            ])
        }
        return result
    }

    struct GroupKey: Hashable, Comparable {
        var orgID: String
        var day: String
        static func < (a: GroupKey, b: GroupKey) -> Bool { (a.orgID, a.day) < (b.orgID, b.day) }
    }

    /// Directory name for an org: safe characters kept, anything else percent-encoded.
    nonisolated static func directoryName(for org: String) -> String {
        var out = ""
        for b in org.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                out.append(Character(UnicodeScalar(b)))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 0xF)])
            }
        }
        return out.isEmpty ? "%" : out
    }

    /// Sort order inside a segment: timestamp, then request id; deterministic for any input order.
    nonisolated static func rowOrder(_ a: UsageEvent, _ b: UsageEvent) -> Bool {
        if a.timestampMs != b.timestampMs { return a.timestampMs < b.timestampMs }
        if a.requestID.high != b.requestID.high { return a.requestID.high < b.requestID.high }
        return a.requestID.low < b.requestID.low
    }

    /// Encodes one segment per plan (merging the plan's existing segments), on every core, writes
    /// them as `.tmp` files, makes them durable with one `syncfs`, renames them into place and syncs
    /// the directories. Returns the records to register.
    nonisolated static func writeSegments(
        plans: [GroupKey: SealPlan], dataDirectory: String, batchTag: String, now: Int64,
        rates: @escaping @Sendable (String, String) -> SegmentFormat.Rates?
    ) async throws -> [SegmentRecord] {
        let keys = plans.keys.sorted()
        var records: [SegmentRecord] = []
        var written: [String] = []
        do {
            try await withThrowingTaskGroup(of: SegmentRecord.self) { group in
                var next = 0
                let width = max(1, ProcessInfo.processInfo.activeProcessorCount)
                func launch() {
                    let key = keys[next]
                    let plan = plans[key]!
                    next += 1
                    group.addTask {
                        var events = plan.events
                        for s in plan.merge {
                            events.append(contentsOf: try SegmentReader(path: dataDirectory + "/" + s.file).events())
                        }
                        let keys = events.indices.map { (events[$0].timestampMs, events[$0].requestID.high, events[$0].requestID.low) }
                        let order = events.indices.sorted { keys[$0] < keys[$1] }
                        let first = events.reduce(Int64.max) { min($0, $1.timestampMs) }, last = events.reduce(Int64.min) { max($0, $1.timestampMs) }
                        var unpriced = 0
                        for i in events.indices where events[i].costSource == .unpriced { unpriced += 1 }
                        let bytes = events.withUnsafeBufferPointer { buffer in
                            SegmentWriter.encode(rows: .init(buffer: buffer, order: order), orgID: key.orgID, day: key.day, rates: rates)
                        }
                        let orgDir = "segments/" + directoryName(for: key.orgID)
                        try FileIO.makeDirectories(dataDirectory + "/" + orgDir)
                        let relative = "\(orgDir)/\(key.day)-\(batchTag).tseg"
                        try FileIO.writeFile(dataDirectory + "/" + relative + ".tmp", bytes, sync: false)
                        return SegmentRecord(
                            orgID: key.orgID, day: key.day, file: relative, rows: events.count, bytes: bytes.count,
                            minTs: first, maxTs: last,
                            unpricedRows: unpriced, createdAt: now)
                    }
                }
                while next < keys.count && next < width { launch() }
                while let r = try await group.next() {
                    records.append(r)
                    written.append(r.file)
                    if next < keys.count { launch() }
                }
            }
            guard !records.isEmpty else { return [] }
            try FileIO.syncFilesystem(dataDirectory + "/segments")
            var directories = Set<String>()
            for r in records {
                let path = dataDirectory + "/" + r.file
                try FileIO.rename(path + ".tmp", path)
                directories.insert(FileIO.parent(of: path))
            }
            for d in directories { try FileIO.fsyncDirectory(d) }
        } catch {
            for f in written {
                try? FileIO.remove(dataDirectory + "/" + f + ".tmp")
                try? FileIO.remove(dataDirectory + "/" + f)
            }
            throw error
        }
        return records.sorted { ($0.orgID, $0.day) < ($1.orgID, $1.day) }
    }
}
