import Foundation
import Logging
import TokentraCore
import UsageIndex

#if canImport(Glibc)
import Glibc
#endif

extension SegmentStore {
    /// What a seal wrote.
    public struct FlushResult: Sendable, Equatable {
        public var segments: Int = 0
        public var events: Int = 0
        public var bytes: Int = 0
    }

    /// Seals every acknowledged event into new segment files (one per (org, day) it holds; existing
    /// segments are never rewritten here), registers them in the index (with their dirty rollup
    /// hours and the WAL checkpoint, in one transaction) and drops the sealed WAL files. Ingest
    /// goes on meanwhile: new events go to a fresh memtable.
    ///
    /// - Parameter keepingNewestDays: `nil` seals everything. `k` seals only the days more than `k`
    ///   days older than the newest day in the memtable (a time-ordered bulk import then seals each
    ///   day once, when it is complete), and leaves the WAL alone: the kept events' records stay in
    ///   it, and the sealed ones are skipped as duplicates if it is ever replayed. When no day is that
    ///   old, everything is sealed.
    @discardableResult
    public func flush(keepingNewestDays: Int? = nil) async throws -> FlushResult {
        while let running = flushTask {
            _ = try? await running.value
            // The owner clears it when it resumes; don't spin waiting for that.
            if flushTask == running { flushTask = nil }
        }
        var only: Set<DayKey>?
        if let k = keepingNewestDays, let newest = memtable.keys.map(\.dayStart).max() {
            let old = Set(memtable.keys.filter { $0.dayStart < newest - Int64(k) * UTC.msPerDay })
            if !old.isEmpty { only = old }
        }
        let selection = only
        let task = Task { try await self.performFlush(only: selection) }
        flushTask = task
        defer { if flushTask == task { flushTask = nil } }
        return try await task.value
    }

    private func performFlush(only: Set<DayKey>? = nil) async throws -> FlushResult {
        guard !configuration.readOnly else { return FlushResult() }
        if let only { return try await sealDays(only) }
        let sealedSequence = wal?.rotate() ?? 0
        // Batches logged in files ≤ sealedSequence must reach the memtable (or fail) first.
        while inflight.values.contains(where: { ($0.ticket?.sequence ?? 0) <= sealedSequence }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        let frozen = memtable
        memtable = [:]
        memtableRows = 0
        sealing = frozen
        guard !frozen.isEmpty else {
            sealing = [:]
            if let wal { try wal.removeFiles(through: sealedSequence) }
            try index.setWALSealedThrough(sealedSequence)
            return FlushResult()
        }
        var dirty = Set<DirtyHour>()
        for (key, buffer) in frozen {
            var hours = Set<Int64>()
            for part in buffer.parts {
                var last = Int64.min
                for r in part.rowIndices {
                    let h = UTC.hourStart(part.batch.timestamps[r])
                    if h != last { hours.insert(h); last = h }
                }
            }
            for h in hours { dirty.insert(DirtyHour(orgID: key.orgID, hourStart: h)) }
        }
        let now = nowMs
        let batchTag = uniqueTag()
        let records: [SegmentRecord]
        do {
            records = try await Self.writeSegments(
                Array(frozen), dataDirectory: dataDirectory, batchTag: batchTag, now: now, rates: configuration.rates,
                level: configuration.sealZstdLevel, workers: workers)
            do {
                _ = try index.commitSeal(segments: records, dirty: dirty, sealedThrough: sealedSequence, now: now)
            } catch {
                for r in records { try? FileIO.remove(dataDirectory + "/" + r.file) }
                throw error
            }
        } catch {
            // Nothing was registered: the events go back in front of what arrived meanwhile.
            var restored = frozen
            for (key, buffer) in memtable { restored[key, default: DayBuffer()].append(buffer) }
            memtable = restored
            memtableRows = restored.values.reduce(0) { $0 + $1.count }
            sealing = [:]
            throw error
        }
        // Registered: readers now find these events in segments. No suspension between the commit
        // above and this line, so an actor-isolated snapshot never sees them twice or not at all.
        sealing = [:]
        for (key, buffer) in frozen { dedup[key]?.unsealed -= buffer.count }
        evictColdDays()
        if let wal { try wal.removeFiles(through: sealedSequence) }
        let result = FlushResult(segments: records.count, events: frozen.values.reduce(0) { $0 + $1.count },
                                 bytes: records.reduce(0) { $0 + $1.bytes })
        if configuration.compactAfterSeal && compactTask == nil && !closed {
            Task(priority: .background) { [logger] in
                do { try await self.compact() } catch {
                    logger.error("background compaction failed", metadata: ["error": "\(error)"])
                }
            }
        }
        logger.info("sealed events into segments", metadata: [
            "seal.events": "\(result.events)", "seal.segments": "\(result.segments)", "seal.bytes": "\(result.bytes)",
        ])
        return result
    }

    /// A file-name tag no other seal or compaction uses, in this process or any other: the system
    /// clock (not the configured one, which a test or `--now` may pin), a per-process counter and 32 random bits.
    func uniqueTag() -> String {
        segmentCounter += 1
        let ms = SystemClock.nowMs()
        return "\(ms)-\(segmentCounter)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    /// Seals the memtable's buffers of `keys` only, without touching the WAL (see ``flush(keepingNewestDays:)``).
    private func sealDays(_ keys: Set<DayKey>) async throws -> FlushResult {
        var frozen: [DayKey: DayBuffer] = [:]
        for k in keys { if let b = memtable.removeValue(forKey: k) { frozen[k] = b } }
        memtableRows -= frozen.values.reduce(0) { $0 + $1.count }
        sealing = frozen
        var dirty = Set<DirtyHour>()
        for (key, buffer) in frozen {
            var hours = Set<Int64>()
            for part in buffer.parts {
                for r in part.rowIndices { hours.insert(UTC.hourStart(part.batch.timestamps[r])) }
            }
            for h in hours { dirty.insert(DirtyHour(orgID: key.orgID, hourStart: h)) }
        }
        let now = nowMs
        let records: [SegmentRecord]
        do {
            records = try await Self.writeSegments(
                Array(frozen), dataDirectory: dataDirectory, batchTag: uniqueTag(), now: now, rates: configuration.rates,
                level: configuration.sealZstdLevel, workers: workers)
            do {
                _ = try index.commitSeal(segments: records, dirty: dirty, sealedThrough: 0, now: now)
            } catch {
                for r in records { try? FileIO.remove(dataDirectory + "/" + r.file) }
                throw error
            }
        } catch {
            for (key, buffer) in frozen { memtable[key, default: DayBuffer()].append(buffer) }
            memtableRows += frozen.values.reduce(0) { $0 + $1.count }
            sealing = [:]
            throw error
        }
        sealing = [:]
        for (key, buffer) in frozen { dedup[key]?.unsealed -= buffer.count }
        evictColdDays()
        return FlushResult(segments: records.count, events: frozen.values.reduce(0) { $0 + $1.count },
                           bytes: records.reduce(0) { $0 + $1.bytes })
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

    /// Encodes one segment per (org, day) batch on every core, writes them as `.tmp` files, makes
    /// them durable with one `syncfs`, renames them into place and syncs the directories.
    /// - Returns: the records to register, sorted by (org, day).
    nonisolated static func writeSegments(
        _ groups: [(key: DayKey, value: DayBuffer)], dataDirectory: String, batchTag: String, now: Int64,
        rates: @escaping @Sendable (String, String) -> SegmentFormat.Rates?, level: Int32, workers: BackgroundWorkers
    ) async throws -> [SegmentRecord] {
        // Largest first, so the parallel encoders finish together.
        let groups = groups.sorted { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key }
        var records: [SegmentRecord] = []
        let relatives = groups.map { "segments/\(directoryName(for: $0.key.orgID))/\($0.key.day)-\(batchTag).tseg" }
        do {
            try await withThrowingTaskGroup(of: SegmentRecord.self) { group in
                var next = 0
                let width = workers.width
                func launch() {
                    let (key, buffer) = groups[next]
                    let relative = relatives[next]
                    next += 1
                    group.addTask {
                        try await workers.run {
                            let batch = buffer.merged()
                            return try writeSegment(batch, key: key, relative: relative, dataDirectory: dataDirectory, now: now,
                                                    rates: rates, level: level)
                        }
                    }
                }
                while next < groups.count && next < width { launch() }
                while let r = try await group.next() {
                    records.append(r)
                    if next < groups.count { launch() }
                }
            }
            guard !records.isEmpty else { return [] }
            try publish(records.map(\.file), dataDirectory: dataDirectory)
        } catch {
            // Every task has finished (the group waits for them): remove whatever any of them wrote.
            for f in relatives {
                try? FileIO.remove(dataDirectory + "/" + f + ".tmp")
                try? FileIO.remove(dataDirectory + "/" + f)
            }
            throw error
        }
        return records.sorted { ($0.orgID, $0.day, $0.file) < ($1.orgID, $1.day, $1.file) }
    }

    /// Sorts and encodes one (org, day) batch into `relative + ".tmp"` (not yet durable).
    nonisolated static func writeSegment(
        _ batch: EventBatch, key: DayKey, relative: String, dataDirectory: String, now: Int64,
        rates: (String, String) -> SegmentFormat.Rates?, level: Int32
    ) throws -> SegmentRecord {
        let order = batch.sortedOrder()
        let bytes = SegmentWriter.encode(batch: batch, order: order, orgID: key.orgID, day: key.day, rates: rates, level: level)
        try FileIO.makeDirectories(FileIO.parent(of: dataDirectory + "/" + relative))
        try FileIO.writeFile(dataDirectory + "/" + relative + ".tmp", bytes, sync: false)
        var unpriced = 0
        for c in batch.costSource where c == CostSource.unpriced.code { unpriced += 1 }
        var hours: UInt32 = 0
        for t in batch.timestamps { hours |= 1 << UInt32(((t - key.dayStart) / UTC.msPerHour) & 31) }
        hours &= 0xFF_FFFF
        // New events: none of them is in the rollups yet. (Compaction outputs get their
        // `unrolledHours` from their inputs when they are registered.)
        return SegmentRecord(
            orgID: key.orgID, day: key.day, file: relative, rows: batch.count, bytes: bytes.count,
            minTs: batch.timestamps[order.first!], maxTs: batch.timestamps[order.last!],
            unpricedRows: unpriced, createdAt: now, eventHours: hours, unrolledHours: hours)
    }

    /// Makes `.tmp` files durable (one `syncfs`), renames them into place and syncs their directories.
    nonisolated static func publish(_ files: [String], dataDirectory: String) throws {
        if files.count <= 8 {
            // A few files: fsync each (a filesystem-wide syncfs would also flush unrelated dirty
            // pages and hold up the WAL's fsync behind them).
            for f in files {
                let path = dataDirectory + "/" + f + ".tmp"
                let fd = try FileIO.open(path, O_RDONLY)
                defer { Glibc.close(fd) }
                try FileIO.fsync(fd, path: path)
            }
        } else {
            try FileIO.syncFilesystem(dataDirectory + "/segments")
        }
        var directories = Set<String>()
        for f in files {
            let path = dataDirectory + "/" + f
            try FileIO.rename(path + ".tmp", path)
            directories.insert(FileIO.parent(of: path))
        }
        for d in directories { try FileIO.fsyncDirectory(d) }
    }
}
