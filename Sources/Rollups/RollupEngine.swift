import Foundation
import Logging
import SegmentStore
import Synchronization
import TDigest
import TokentraCore
import UsageIndex

/// Computes the hourly and daily rollups of a segment store, incrementally.
///
/// A run seals every acknowledged event into segments (``SegmentStore/flush()``), reads the dirty
/// (org, hour) marks, recomputes those hours from the segments of their (org, UTC day) (column
/// access, one task per day, as many in parallel as there are cores), recomputes each affected day
/// by merging its hourly buckets (sums added, digests merged), and writes everything, the removal
/// of the processed marks and the `job_runs` entry in one transaction. A crash leaves the old
/// rollups or the new ones, never a mix; running again without new data changes nothing.
///
/// ```swift
/// let engine = RollupEngine(store: store, logger: logger)
/// let summary = try await engine.run(now: nowMs)
/// print(summary.hours, summary.days, summary.eventsScanned)
/// ```
public struct RollupEngine: Sendable {
    /// What a run did.
    public struct Summary: Sendable, Equatable {
        /// Hourly buckets recomputed.
        public var hours: Int = 0
        /// Daily buckets recomputed.
        public var days: Int = 0
        /// Events aggregated into the recomputed hours.
        public var eventsScanned: Int = 0
        /// Wall-clock seconds the run took (seal included).
        public var seconds: Double = 0
        /// The `job_runs` id of the run.
        public var jobRunID: Int64 = 0
    }

    /// The `job_runs.job` name of rollup runs.
    public static let jobName = "rollup"

    let store: SegmentStore
    let logger: Logger
    let compression: Double
    let parallelism: Int
    /// `nil`: a run's rows are written in one transaction; else in transactions of about this long.
    let commitSlice: Duration?
    let wallClock: @Sendable () -> Int64
    let afterSnapshot: (@Sendable () async throws -> Void)?

    /// Data directories with a run in progress in this process.
    static let running = Mutex<Set<String>>([])

    /// - Parameters:
    ///   - store: The store to roll up (its index holds the rollup tables).
    ///   - logger: Receives one info line per run, with `job.*` metadata.
    ///   - compression: The t-digest compression of every digest written.
    ///   - parallelism: How many (org, day) groups are computed at once; the number of cores by default.
    ///   - commitSlice: `nil` (the default) writes a run in one transaction, so readers see all of
    ///     its days old or all new (what a reprice needs). A duration writes the days in
    ///     transactions open at most about that long and the run's marks and job row last: each
    ///     day's rows still change at once, and seals (which write to the same SQLite file) never
    ///     wait for a long run. The daemon's scheduled rollups use 200 ms.
    ///   - wallClock: The current time, ms since the epoch, for `job_runs` and `computed_at` (the
    ///     system clock by default; the `now` of ``run(now:rebuild:)`` only decides which hours are due).
    ///   - afterSnapshot: Runs after a run has read its snapshot and before it computes (a test
    ///     seam: tests compact or seal there to race the run).
    public init(store: SegmentStore, logger: Logger, compression: Double = TDigest.defaultCompression,
                parallelism: Int = ProcessInfo.processInfo.activeProcessorCount,
                commitSlice: Duration? = nil,
                wallClock: @escaping @Sendable () -> Int64 = SystemClock.wallClock,
                afterSnapshot: (@Sendable () async throws -> Void)? = nil) {
        self.store = store
        self.logger = logger
        self.compression = compression
        self.parallelism = max(1, parallelism)
        self.commitSlice = commitSlice
        self.wallClock = wallClock
        self.afterSnapshot = afterSnapshot
    }

    var index: IndexDatabase { store.index }
    /// The rollup tables, in the store's index.
    var rollups: RollupStore { RollupStore(store.index, wallClock: wallClock) }

    /// One (org, UTC day) to recompute.
    struct DayWork: Sendable {
        var orgID: String
        var day: String
        var dayStart: Int64
        var hoursMask: UInt32
        var segments: [SegmentRecord]
        /// Recompute the hours from all segments instead of folding the new events in.
        var recompute: Bool = true
    }

    /// Rolls up every dirty hour that began before `now`, and the days containing them.
    ///
    /// - Parameters:
    ///   - now: The current time, ms since the epoch: hours starting at or after it stay dirty.
    ///   - rebuild: Recompute every hour that has segments (not only the dirty ones).
    /// - Returns: What the run did.
    /// - Throws: ``RollupError`` (`alreadyRunning`), ``SegmentStore/SegmentError`` when a segment
    ///   cannot be read, or a database error. Nothing of a failed run is written.
    @discardableResult
    public func run(now: Int64, rebuild: Bool = false) async throws -> Summary {
        let directory = store.configuration.dataDirectory
        let claimed = Self.running.withLock { $0.insert(directory).inserted }
        guard claimed else { throw RollupError(.alreadyRunning, "a rollup of \(directory) is already running") }
        defer { _ = Self.running.withLock { $0.remove(directory) } }

        let clock = ContinuousClock()
        let started = clock.now
        let jobID = try index.startJobRun(job: Self.jobName, startedAt: wallClock())
        do {
            var summary = try await perform(now: now, rebuild: rebuild, jobID: jobID, clock: clock, started: started)
            summary.jobRunID = jobID
            logger.info("rollup finished", metadata: [
                "job.name": "\(Self.jobName)", "job.id": "\(jobID)", "rollup.hours": "\(summary.hours)",
                "rollup.days": "\(summary.days)", "rollup.events": "\(summary.eventsScanned)",
                "rollup.seconds": "\(summary.seconds)",
            ])
            return summary
        } catch {
            try? index.failJobRun(id: jobID, finishedAt: wallClock(), error: "\(error)")
            logger.error("rollup failed", metadata: ["job.name": "\(Self.jobName)", "job.id": "\(jobID)", "error": "\(error)"])
            throw error
        }
    }

    func perform(now: Int64, rebuild: Bool, jobID: Int64, clock: ContinuousClock, started: ContinuousClock.Instant) async throws -> Summary {
        func seconds(since t: ContinuousClock.Instant) -> Double {
            let d = clock.now - t
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        let cpuStart = Self.cpuSeconds()
        try await store.flush()
        let flushed = clock.now
        // Segments listed now stay readable even if compaction or retention replaces them meanwhile.
        let pin = store.pins.pin()
        defer { pin.release() }
        let snapshot = try rollups.snapshot()
        let marks = snapshot.dirty.filter { $0.hourStart < now }
        let work = Self.plan(marks: marks, segments: snapshot.segments, now: now, rebuild: rebuild)
        try await afterSnapshot?()
        let planned = clock.now

        // Rows are written while later days are computed, in one transaction that commits only
        // after the last day (and rolls back if anything fails).
        let channel = UpdateChannel()
        let rollups = self.rollups
        let pipelined = index.supportsConcurrentReads
        var collected: [RollupDayUpdate] = []
        async let written: Void = pipelined
            ? Self.write(rollups: rollups, marks: marks, maxSegmentID: snapshot.maxSegmentID, jobID: jobID, slice: commitSlice,
                         channel: channel)
            : ()

        var summary = Summary()
        let computedAt = wallClock()
        do {
            try await withThrowingTaskGroup(of: (RollupDayUpdate, Int).self) { group in
                var next = 0
                func launch() throws {
                    try Task.checkCancellation()
                    let w = work[next]
                    next += 1
                    group.addTask { [self] in try self.compute(w, computedAt: computedAt) }
                }
                while next < work.count && next < parallelism { try launch() }
                while let (update, events) = try await group.next() {
                    summary.hours += update.hours.count
                    summary.days += update.replacesDay ? 1 : 0
                    summary.eventsScanned += events
                    if pipelined { channel.push(update) } else { collected.append(update) }
                    if next < work.count { try launch() }
                }
            }
        } catch {
            channel.fail(error)
            _ = try? await written
            throw error
        }
        let computed = clock.now
        let cpuComputed = Self.cpuSeconds()
        var detailsJSON = JSONWriter()
        detailsJSON.object {
            $0.field("hours", summary.hours)
            $0.field("days", summary.days)
            $0.field("now", now)
            $0.field("rebuild", rebuild)
            $0.field("seconds", seconds(since: started))
        }
        let details = detailsJSON.text
        let finish = (finishedAt: wallClock(), buckets: Int64(summary.hours + summary.days),
                      events: Int64(summary.eventsScanned), details: details)
        if pipelined {
            channel.close(finish: finish)
            try await written
        } else {
            try rollups.commit(collected, marks: marks, maxSegmentID: snapshot.maxSegmentID,
                               jobRun: (id: jobID, finishedAt: finish.finishedAt, buckets: finish.buckets,
                                        events: finish.events, details: finish.details))
        }
        summary.seconds = seconds(since: started)
        logger.debug("rollup phases", metadata: [
            "rollup.flush_seconds": "\(seconds(since: started) - seconds(since: flushed))",
            "rollup.plan_seconds": "\(seconds(since: flushed) - seconds(since: planned))",
            "rollup.compute_seconds": "\(seconds(since: planned) - seconds(since: computed))",
            "rollup.commit_wait_seconds": "\(seconds(since: computed))",
            "rollup.days": "\(work.count)", "rollup.compute_cpu_seconds": "\(cpuComputed - cpuStart)",
            "rollup.commit_cpu_seconds": "\(Self.cpuSeconds() - cpuComputed)",
        ])
        return summary
    }

    /// Writes the updates `channel` delivers in one transaction, on a thread of its own (SQLite
    /// calls block).
    static func write(rollups: RollupStore, marks: [DirtyMark], maxSegmentID: Int64, jobID: Int64, slice: Duration?,
                      channel: UpdateChannel) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    if let slice {
                        try rollups.commit(marks: marks, maxSegmentID: maxSegmentID, jobRunID: jobID, slice: slice,
                                           next: { try channel.pop() }, ready: { try channel.popReady() },
                                           finish: { channel.finish! })
                    } else {
                        try rollups.commit(marks: marks, maxSegmentID: maxSegmentID, jobRunID: jobID,
                                           next: { try channel.pop() }, finish: { channel.finish! })
                    }
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "tokentra.rollup.writer"
            thread.start()
        }
    }

    /// Groups the hours to recompute by (org, UTC day), with the segments that can hold their events.
    static func plan(marks: [DirtyMark], segments: [SegmentRecord], now: Int64, rebuild: Bool) -> [DayWork] {
        struct Key: Hashable {
            var org: String
            var dayStart: Int64
        }
        var masks: [Key: UInt32] = [:]
        var recompute = Set<Key>()
        for m in marks {
            let dayStart = UTC.dayStart(m.hourStart)
            let key = Key(org: m.orgID, dayStart: dayStart)
            masks[key, default: 0] |= 1 << UInt32((m.hourStart - dayStart) / UTC.msPerHour)
            if m.recompute { recompute.insert(key) }
        }
        var byDay: [Key: [SegmentRecord]] = [:]
        for s in segments {
            guard let start = IndexDatabase.dayStart(s.day) else { continue }
            byDay[Key(org: s.orgID, dayStart: start), default: []].append(s)
        }
        if rebuild {
            for key in byDay.keys where key.dayStart < now {
                let hours = min(24, (now - key.dayStart + UTC.msPerHour - 1) / UTC.msPerHour)
                masks[key, default: 0] |= hours >= 24 ? 0xFF_FFFF : (1 << UInt32(hours)) - 1
            }
        }
        var work: [DayWork] = []
        for (key, mask) in masks {
            // A day whose segments are gone (retention) keeps its rollups as they are.
            guard let daySegments = byDay[key] else { continue }
            let relevant = daySegments.filter { s in
                let first = max(0, (s.minTs - key.dayStart) / UTC.msPerHour)
                let last = min(23, (s.maxTs - key.dayStart) / UTC.msPerHour)
                guard first <= last else { return false }
                let span: UInt32 = ((1 << UInt32(last - first + 1)) - 1) << UInt32(first)
                return span & mask != 0
            }
            work.append(DayWork(orgID: key.org, day: IndexDatabase.dayString(key.dayStart), dayStart: key.dayStart,
                                hoursMask: mask, segments: relevant, recompute: rebuild || recompute.contains(key)))
        }
        // Largest days first, so the parallel tasks finish together.
        return work.sorted {
            let a = $0.segments.reduce(0) { $0 + $1.rows }, b = $1.segments.reduce(0) { $0 + $1.rows }
            return a != b ? a > b : ($0.orgID, $0.dayStart) < ($1.orgID, $1.dayStart)
        }
    }

    /// Recomputes the selected hours of one day and the day itself.
    func compute(_ w: DayWork, computedAt: Int64) throws -> (RollupDayUpdate, Int) {
        try Self.compute(w, rollups: rollups, directory: store.configuration.dataDirectory, compression: compression,
                         computedAt: computedAt)
    }

    static func compute(
        _ w: DayWork, rollups: RollupStore, directory: String, compression: Double, computedAt: Int64,
        extra: [SegmentReader] = []
    ) throws -> (RollupDayUpdate, Int) {
        if !w.recompute, extra.isEmpty,
           let folded = try fold(w, rollups: rollups, directory: directory, compression: compression, computedAt: computedAt) {
            return folded
        }
        var day = DayRollup(orgID: w.orgID, dayStart: w.dayStart, hoursMask: w.hoursMask, compression: compression)
        for s in w.segments {
            try day.add(segment: SegmentReader(path: directory + "/" + s.file))
        }
        for r in extra { try day.add(segment: r) }
        var hours: [Int64] = []
        for h in 0..<24 where w.hoursMask & (1 << UInt32(h)) != 0 { hours.append(w.dayStart + Int64(h) * UTC.msPerHour) }
        // The day merges all its hourly buckets: the recomputed ones and the stored others.
        var stored: [DayRollup.StoredBucket] = []
        if w.hoursMask != 0xFF_FFFF {
            for row in try rollups.hourlyRows(orgID: w.orgID, dayStartMs: w.dayStart, excluding: Set(hours)) {
                do {
                    stored.append(try DayRollup.stored(row))
                } catch {
                    throw RollupError(.corrupt, "rollup_hourly row of \(w.orgID) at \(UTCTimestamp.format(row.bucketStart)): \(error)")
                }
            }
        }
        let (hourly, daily) = day.rows(stored: stored, computedAt: computedAt)
        // Every event of these hours is now in the rows: no segment's events there are unrolled.
        let settled = w.segments.filter { $0.unrolledHours & w.hoursMask != 0 }.compactMap(\.id)
        let update = RollupDayUpdate(orgID: w.orgID, day: w.day, hours: hours, hourly: hourly, replacesDay: true, daily: daily,
                                     settled: settled, settledHours: w.hoursMask)
        return (update, day.events)
    }

    /// The rollup an org's sealed-but-not-yet-rolled-up hours in `[fromMs, toMs)` would get,
    /// computed now from the raw segments and written nowhere (queries overlay it on the stored
    /// rollups so that fresh data counts before the next `rollup run`). Each update also carries
    /// the recomputed daily row of its day, computed at `wallClock()` (ms since the epoch).
    public static func pendingUpdates(
        index: IndexDatabase, dataDirectory: String, orgID: String, fromMs: Int64, toMs: Int64,
        unsealed: [UsageEvent] = [], segments: [SegmentRecord]? = nil, compression: Double = TDigest.defaultCompression,
        wallClock: @Sendable () -> Int64 = SystemClock.wallClock
    ) throws -> [RollupDayUpdate] {
        let rollups = RollupStore(index)
        var marks = try rollups.dirtyHours()
            .filter { $0.orgID == orgID && $0.hourStart >= UTC.dayStart(fromMs) && $0.hourStart < toMs }
            .map { DirtyMark(orgID: $0.orgID, hourStart: $0.hourStart, markedAt: 0) }
        // Hours holding acknowledged but unsealed events are recomputed too, from their sealed
        // segments plus those events (encoded as an in-memory segment per day).
        var unsealedByDay: [Int64: [UsageEvent]] = [:]
        for e in unsealed where e.orgID == orgID {
            unsealedByDay[UTC.dayStart(e.timestampMs), default: []].append(e)
            marks.append(DirtyMark(orgID: orgID, hourStart: UTC.hourStart(e.timestampMs), markedAt: 0))
        }
        guard !marks.isEmpty else { return [] }
        var work = plan(marks: Array(Set(marks)), segments: try segments ?? index.segments(orgID: orgID), now: Int64.max, rebuild: false)
        // Days with no sealed segment at all (only unsealed events) are not planned: add them.
        let planned = Set(work.map(\.dayStart))
        for (dayStart, events) in unsealedByDay where !planned.contains(dayStart) {
            var mask: UInt32 = 0
            for e in events { mask |= 1 << UInt32((UTC.hourStart(e.timestampMs) - dayStart) / UTC.msPerHour) }
            work.append(DayWork(orgID: orgID, day: IndexDatabase.dayString(dayStart), dayStart: dayStart, hoursMask: mask, segments: []))
        }
        let now = wallClock()
        return try work.map { w in
            var extra: [SegmentReader] = []
            if var events = unsealedByDay[w.dayStart], !events.isEmpty {
                // A seal may have committed between the memtable snapshot and this read: count an
                // event once, from its segment.
                var sealed = Set<RequestID>()
                for s in w.segments { sealed.formUnion(try SegmentReader(path: dataDirectory + "/" + s.file).requestIDs()) }
                if !sealed.isEmpty { events.removeAll { sealed.contains($0.requestID) } }
                if !events.isEmpty {
                    let sorted = events.sorted { $0.timestampMs < $1.timestampMs }
                    let bytes = SegmentWriter.encode(events: sorted, orgID: orgID, day: w.day) { _, _ in nil }
                    extra.append(try SegmentReader(path: "unsealed \(orgID) \(w.day)", bytes: bytes))
                }
            }
            return try compute(w, rollups: rollups, directory: dataDirectory, compression: compression, computedAt: now, extra: extra).0
        }
    }

    /// CPU time used by the process so far, in seconds.
    static func cpuSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

/// Hands computed days to the writer thread: a blocking FIFO.
final class UpdateChannel: @unchecked Sendable {
    // @unchecked: every stored property is read and written only while holding `condition`.
    private let condition = NSCondition()
    private var items: [RollupDayUpdate?] = []
    private var head = 0
    private var closed = false
    private var failure: (any Error)?
    private var finishValue: (finishedAt: Int64, buckets: Int64, events: Int64, details: String)?

    /// The job run's counts, set by ``close(finish:)``.
    var finish: (finishedAt: Int64, buckets: Int64, events: Int64, details: String)? {
        condition.withLock { finishValue }
    }

    func push(_ update: RollupDayUpdate) {
        condition.withLock {
            items.append(update)
            condition.signal()
        }
    }

    /// No more updates: ``pop()`` returns `nil` once the queue is drained.
    func close(finish: (finishedAt: Int64, buckets: Int64, events: Int64, details: String)) {
        condition.withLock {
            finishValue = finish
            closed = true
            condition.signal()
        }
    }

    /// The run failed: ``pop()`` throws `error`.
    func fail(_ error: any Error) {
        condition.withLock {
            failure = error
            condition.signal()
        }
    }

    /// The next update if one is queued now (`.some(nil)` after ``close(finish:)`` once drained),
    /// `nil` when none is ready yet.
    func popReady() throws -> RollupDayUpdate?? {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        guard head < items.count else { return closed ? .some(nil) : nil }
        let update = items[head]
        items[head] = nil
        head += 1
        return .some(update)
    }

    /// The next update, waiting for one; `nil` after ``close(finish:)``.
    func pop() throws -> RollupDayUpdate? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed && failure == nil { condition.wait() }
        if let failure { throw failure }
        guard head < items.count else { return nil }
        let update = items[head]
        items[head] = nil
        head += 1
        return update
    }
}
