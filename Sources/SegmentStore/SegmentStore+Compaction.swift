import Foundation
import Logging
import TokentraCore
import UsageIndex

extension SegmentStore {
    /// What a compaction pass did.
    public struct CompactionResult: Sendable, Equatable {
        /// Segments written (one per merge).
        public var written = 0
        /// Segments merged away.
        public var merged = 0
        /// Rows rewritten.
        public var rows = 0
        /// Merges given up because retention or another merge removed an input meanwhile.
        public var abandoned = 0
    }

    enum MergeOutcome: Sendable {
        case written(SegmentRecord, Int)
        case corrupt(SegmentRecord, String)
    }

    /// One merge: segments of one (org, day) that become one file.
    struct MergePlan: Sendable {
        var key: DayKey
        var inputs: [SegmentRecord]
    }

    /// Merges small segments of the same (org, day), size-tiered: segments are grouped in tiers of
    /// ×4 row counts and a tier of 4 or more is merged; a day that no longer receives events
    /// (before yesterday, UTC) and still has several segments is merged whole. No output exceeds
    /// ``Configuration/maxMergedSegmentRows`` rows. The work runs off the actor, at background
    /// priority, and never blocks ingest; replaced files are unlinked once no reader holds them.
    /// - Parameters:
    ///   - now: ms since the epoch (which days are closed).
    ///   - all: merge every day with several segments whole (a bulk import's last step).
    ///   - concurrency: plans merged at once (each on a worker thread); the daemon's background
    ///     compaction keeps the default 1 so it never takes more than one core from ingest.
    @discardableResult
    public func compact(now: Int64? = nil, all: Bool = false, concurrency: Int = 1) async throws -> CompactionResult {
        while let running = compactTask {
            _ = try? await running.value
            if compactTask == running { compactTask = nil }
        }
        guard !configuration.readOnly, !closed else { return CompactionResult() }
        let nowMs = now ?? self.nowMs
        let plans = try Self.planCompaction(try index.segments(), now: nowMs, maxRows: configuration.maxMergedSegmentRows, all: all)
        guard !plans.isEmpty else { return CompactionResult() }
        let pin = pins.pin()
        let directory = dataDirectory, rates = configuration.rates, level = configuration.compactionZstdLevel
        let workers = self.workers
        let tag = "c" + uniqueTag()
        let task = Task(priority: .background) { () throws -> CompactionResult in
            defer { pin.release() }
            var result = CompactionResult()
            func count(_ plan: MergePlan, _ rows: Int?) {
                if let rows {
                    result.written += 1
                    result.merged += plan.inputs.count
                    result.rows += rows
                } else {
                    result.abandoned += 1
                }
            }
            try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
                var next = 0
                func launch() {
                    let n = next, plan = plans[n]
                    next += 1
                    group.addTask {
                        try Task.checkCancellation()
                        return (n, try await self.merge(plan, tag: "\(tag)-\(n)", directory: directory, rates: rates, level: level, workers: workers))
                    }
                }
                while next < min(max(1, concurrency), plans.count) { launch() }
                while let (n, rows) = try await group.next() {
                    count(plans[n], rows)
                    if next < plans.count { launch() }
                }
            }
            return result
        }
        compactTask = task
        defer { if compactTask == task { compactTask = nil } }
        let result = try await task.value
        if result.written > 0 {
            logger.info("compacted segments", metadata: [
                "compaction.written": "\(result.written)", "compaction.merged": "\(result.merged)",
                "compaction.rows": "\(result.rows)",
            ])
        }
        return result
    }

    /// Reads, merges and writes one plan off the actor, then swaps it in on the actor.
    /// - Returns: the rows written, or `nil` when the swap was abandoned.
    private nonisolated func merge(
        _ plan: MergePlan, tag: String, directory: String, rates: @escaping @Sendable (String, String) -> SegmentFormat.Rates?,
        level: Int32, workers: BackgroundWorkers
    ) async throws -> Int? {
        let relative = "segments/\(Self.directoryName(for: plan.key.orgID))/\(plan.key.day)-\(tag).tseg"
        let clock = configuration.wallClock
        // Read, merge, encode, fsync and rename on a worker thread (off the cooperative pool).
        let outcome: MergeOutcome = try await workers.run {
            var merged = EventBatch()
            for s in plan.inputs {
                do {
                    merged.append(try SegmentReader(path: directory + "/" + s.file).batch())
                } catch let error as SegmentError where error.code == .corrupt {
                    return .corrupt(s, error.message)
                }
            }
            let record = try Self.writeSegment(merged, key: plan.key, relative: relative, dataDirectory: directory,
                                               now: clock(), rates: rates, level: level)
            do {
                try Self.publish([record.file], dataDirectory: directory)
            } catch {
                try? FileIO.remove(directory + "/" + relative + ".tmp")
                try? FileIO.remove(directory + "/" + relative)
                throw error
            }
            return .written(record, merged.count)
        }
        let record: SegmentRecord, rows: Int
        switch outcome {
        case .written(let r, let n):
            (record, rows) = (r, n)
        case .corrupt(let bad, let reason):
            try await quarantine(bad, reason: reason)
            return nil
        }
        guard try await swapIn(record, replacing: plan.inputs) else {
            try? FileIO.remove(directory + "/" + relative)
            return nil
        }
        return rows
    }

    /// Registers a merged segment in place of its inputs and retires the inputs' files.
    private func swapIn(_ record: SegmentRecord, replacing inputs: [SegmentRecord]) throws -> Bool {
        do {
            _ = try index.commitCompaction(output: record, replacing: inputs.compactMap(\.id))
        } catch {
            logger.warning("compaction abandoned: an input segment changed meanwhile", metadata: [
                "segment.file": "\(record.file)", "error": "\(error)",
            ])
            return false
        }
        pins.retire(inputs.map { dataDirectory + "/" + $0.file })
        return true
    }

    /// Size-tiered plan over the registered segments.
    nonisolated static func planCompaction(_ segments: [SegmentRecord], now: Int64, maxRows: Int, all: Bool) throws -> [MergePlan] {
        // Segments whose events are all in the rollups merge with each other, and segments none
        // of whose events are; a segment rolled up for some hours only waits for the next rollup
        // run (an output mixing both could not say which of its events the rollups hold).
        struct Group: Hashable {
            var key: DayKey
            var unrolled: Bool
        }
        var byDay: [Group: [SegmentRecord]] = [:]
        for s in segments {
            guard let day = UTC.parseDay(s.day) else { continue }
            let unrolled = s.unrolledHours & s.eventHours
            guard unrolled == 0 || unrolled == s.eventHours else { continue }
            byDay[Group(key: DayKey(orgID: s.orgID, dayStart: day), unrolled: unrolled != 0), default: []].append(s)
        }
        let closedBefore = UTC.dayStart(now) - UTC.msPerDay
        var plans: [MergePlan] = []
        let ordered = byDay.sorted { ($0.key.key, $0.key.unrolled ? 1 : 0) < ($1.key.key, $1.key.unrolled ? 1 : 0) }
        for (group, list) in ordered where list.count > 1 {
            let key = group.key
            let small = list.filter { $0.rows < maxRows / 2 }.sorted { ($0.rows, $0.file) < ($1.rows, $1.file) }
            let closed = all || key.dayStart < closedBefore
            var tiers: [Int: [SegmentRecord]] = [:]
            for s in small {
                var tier = 0, rows = max(1, s.rows)
                while rows >= 4096 { rows /= 4; tier += 1 }
                tiers[tier, default: []].append(s)
            }
            // An open day merges tiers of 4; a closed day (no more writes expected) tiers of 2, so it
            // ends with a few files. A lone small segment joins the next tier up only when that tier
            // is at most 16× larger: a handful of late events never rewrites a day's big segment
            // (a bulk import would otherwise rewrite most days for 0.1 % of its events).
            var carry: [SegmentRecord] = []
            for (_, members) in tiers.sorted(by: { $0.key < $1.key }) {
                let carried = carry.reduce(0) { $0 + $1.rows }
                if !all && carried * 16 < members.map(\.rows).min()! { carry = [] }
                let group = carry + members
                if group.count >= (closed ? 2 : 4) {
                    plans += pack(group, key: key, maxRows: maxRows)
                    carry = []
                } else if closed {
                    carry = group
                }
            }
        }
        return plans
    }

    /// Groups `segments` (ascending size) into merges of at least two inputs under the row cap.
    nonisolated static func pack(_ segments: [SegmentRecord], key: DayKey, maxRows: Int) -> [MergePlan] {
        var plans: [MergePlan] = []
        var current: [SegmentRecord] = []
        var rows = 0
        for s in segments {
            if rows + s.rows > maxRows, !current.isEmpty {
                if current.count > 1 { plans.append(MergePlan(key: key, inputs: current)) }
                current = []
                rows = 0
            }
            current.append(s)
            rows += s.rows
        }
        if current.count > 1 { plans.append(MergePlan(key: key, inputs: current)) }
        return plans
    }

    // MARK: Quarantine

    /// Moves an unreadable segment to `quarantine/`, unregisters it and records why (listed by
    /// `verify`, `/readyz` and the metrics). Its events are no longer part of the store.
    func quarantine(_ s: SegmentRecord, reason: String) throws {
        guard let id = s.id, !configuration.readOnly else { return }
        let target = "quarantine/" + s.file.replacingOccurrences(of: "segments/", with: "")
        try FileIO.makeDirectories(FileIO.parent(of: dataDirectory + "/" + target))
        if FileIO.exists(dataDirectory + "/" + s.file) {
            try FileIO.rename(dataDirectory + "/" + s.file, dataDirectory + "/" + target)
        }
        try index.quarantine(segmentID: id, record: QuarantinedSegment(
            orgID: s.orgID, day: s.day, file: s.file, quarantinedFile: target, rows: s.rows, reason: reason,
            quarantinedAt: nowMs))
        // The day's ids are read again from its remaining segments, unless it holds unsealed events
        // (then its set is kept until it is sealed and evicted: those ids stay claimed meanwhile).
        // The segment's entries in the org's screen go stale; the day stays a candidate.
        if let day = UTC.parseDay(s.day) {
            let key = DayKey(orgID: s.orgID, dayStart: day)
            if let set = dedup[key], set.unsealed == 0, set.pending.isEmpty { forgetDaySet(key) }
            staleInScreen(key, rows: s.rows)
        }
        logger.error("quarantined an unreadable segment", metadata: [
            "segment.file": "\(s.file)", "segment.quarantine": "\(target)", "error": "\(reason)",
        ])
    }

    /// Segments moved aside because they could not be read.
    public nonisolated func quarantinedSegments() throws -> [QuarantinedSegment] {
        try index.quarantinedSegments()
    }
}
