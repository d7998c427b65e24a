import Foundation
import Logging
import TokentraCore
import UsageIndex

#if canImport(Glibc)
import Glibc
#endif

/// The raw event store: WAL + columnar memtable for fresh events, immutable zstd columnar segments
/// partitioned by (org, UTC day) for sealed ones, the SQLite index as the catalog, and the
/// exactly-once state keyed by (org, UTC day, request_id).
///
/// ```swift
/// let store = try await SegmentStore.open(configuration: .init(dataDirectory: "data"), logger: logger)
/// let result = try await store.ingest(batch)   // durable when it returns
/// try await store.flush()                       // seal into segments (append-only)
/// try await store.compact()                     // merge a day's small segments
/// await store.close()
/// ```
public actor SegmentStore {
    /// Store settings.
    public struct Configuration: Sendable {
        /// The data directory (created if missing).
        public var dataDirectory: String
        /// Seal the memtable into segments once it holds this many events.
        public var memtableEventLimit: Int = 100_000
        /// Compaction never writes a segment with more rows than this.
        public var maxMergedSegmentRows: Int = 250_000
        /// The dedup state keeps at most about this many request ids of sealed days in memory;
        /// colder days are dropped and read back from their segments when an event for them arrives.
        /// Days with unsealed events are always kept.
        public var dedupCachedIDs: Int = 2_000_000
        /// Room for new ids an org's cross-day screen is built with beyond what the org stores
        /// (tests make it small to make the screen grow early).
        var screenMinimumCapacity = 1024
        /// An org's screen chain longer than this is merged off the actor when its ids are in memory.
        var screenMergeAbove = 2
        /// Per-1K rates used to predict costs inside segments (a predictor only: costs stay exact).
        public var rates: @Sendable (_ provider: String, _ model: String) -> SegmentFormat.Rates? = { _, _ in nil }
        /// Threads that encode and compress segments for seals and compaction (not the cooperative pool). The
        /// default leaves one core to ingest and queries; bulk import uses every core.
        public var backgroundThreads = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
        /// zstd level of sealed segments (compaction rewrites at ``compactionZstdLevel``).
        public var sealZstdLevel: Int32 = 3
        /// zstd level of compacted segments.
        public var compactionZstdLevel: Int32 = 6
        /// At open, read the dedup state of the last N UTC days (today included) from their segments,
        /// so the first events after a restart do not wait for it (`tokentra serve` uses 2).
        public var preloadRecentDays = 0
        /// Start a background compaction pass after every seal (`tokentra serve` turns it on; `tokentra ingest`
        /// compacts once at the end).
        public var compactAfterSeal = false
        /// Open without changing anything on disk: no recovery (torn WAL tails and unregistered
        /// files are reported, not repaired) and no writes (`verify`).
        public var readOnly = false
        /// "Now" for what the store stamps and decides by the time: segment and quarantine times,
        /// `job_runs` rows, which days compaction treats as closed, the days ``preloadRecentDays`` reads.
        public var wallClock: WallClock = SystemClock.wallClock

        public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
    }

    /// What happened to each event of an ``ingest(_:)-(EventBatch)`` call.
    public struct IngestResult: Sendable, Equatable {
        /// Number of events stored.
        public var stored: Int
        /// Indices (into the input) of events that were already stored, or repeated within the call.
        public var duplicateIndices: [Int]

        public init(stored: Int = 0, duplicateIndices: [Int] = []) {
            self.stored = stored
            self.duplicateIndices = duplicateIndices
        }
    }

    struct IDKey: Hashable {
        var high: UInt64
        var low: UInt64
        init(_ id: RequestID) {
            high = id.high
            low = id.low
        }
        init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }
    }

    /// An (org, UTC day): the unit of segments, retention and dedup.
    struct DayKey: Hashable, Comparable {
        var orgID: String
        var dayStart: Int64
        static func < (a: DayKey, b: DayKey) -> Bool { (a.orgID, a.dayStart) < (b.orgID, b.dayStart) }
        var day: String { UTC.dayString(dayStart) }
    }

    /// The exactly-once state of one (org, day).
    struct DaySet {
        var ids: IDSet
        /// Ids reserved by a batch whose WAL record is not durable yet, with that batch's token.
        var pending: [IDKey: UInt64] = [:]
        /// Rows of this day in the memtable or being sealed (the day cannot be evicted while > 0).
        var unsealed = 0
        var lastUse: UInt64 = 0
    }

    /// A batch between its reservation and its WAL fsync.
    struct Inflight {
        var ticket: WALTicket?
        var batch: EventBatch
        var rows: [DayKey: [Int]]
    }

    public nonisolated let configuration: Configuration
    public nonisolated let index: IndexDatabase
    /// Readers' pins on segment files (see ``SegmentPins``).
    public nonisolated let pins = SegmentPins()
    let workers: BackgroundWorkers
    let logger: Logger
    let wal: WriteAheadLog?
    let lockFD: Int32

    var dedup: [DayKey: DaySet] = [:]
    var dedupIDs = 0
    /// Each org's screen of the ids stored on its other days (``OrgFilter``), built on first use.
    var orgFilters: [OrgFilter?] = []
    var orgFilterSlots: [String: Int] = [:]
    /// Screens built from the orgs' days, and filters appended to screens, since open.
    var screenBuilds = 0
    var screenGrowths = 0
    /// Screens whose frozen filters are being merged, and merges installed since open.
    var mergingScreens: Set<Int> = []
    var screenMerges = 0
    /// Seeds the screens' hash, so that ids cannot be chosen to collide in them.
    nonisolated let filterSeed = UInt64.random(in: .min ... .max)
    var useClock: UInt64 = 0
    var memtable: [DayKey: DayBuffer] = [:]
    var memtableRows = 0
    /// The memtable a running seal is writing; still visible to readers until its segments are registered.
    var sealing: [DayKey: DayBuffer] = [:]
    var nextToken: UInt64 = 1
    var inflight: [UInt64: Inflight] = [:]
    var flushTask: Task<FlushResult, any Error>?
    var compactTask: Task<CompactionResult, any Error>?
    var segmentCounter = 0
    var closed = false
    /// What start-up recovery found (and, unless read-only, repaired).
    public private(set) var recoveryReport = RecoveryReport()

    nonisolated var dataDirectory: String { configuration.dataDirectory }
    /// The configured wall clock's time.
    nonisolated var nowMs: Int64 { configuration.wallClock() }
    nonisolated var segmentsDirectory: String { configuration.dataDirectory + "/segments" }
    nonisolated var walDirectory: String { configuration.dataDirectory + "/wal" }

    init(configuration: Configuration, index: IndexDatabase, wal: WriteAheadLog?, lockFD: Int32, logger: Logger) {
        self.configuration = configuration
        self.index = index
        self.wal = wal
        self.lockFD = lockFD
        self.logger = logger
        self.workers = BackgroundWorkers(width: configuration.backgroundThreads)
    }

    /// Opens the store: takes the directory lock, opens the index, removes unfinished segment files
    /// and replays the WAL (cutting a torn tail in its newest file). Read-only opens change nothing.
    /// - Throws: ``SegmentError`` when another process holds the directory or the WAL is damaged.
    public static func open(configuration: Configuration, logger: Logger) async throws -> SegmentStore {
        let dir = configuration.dataDirectory
        if configuration.readOnly {
            guard FileIO.exists(dir + "/index.sqlite") else {
                throw SegmentError(.io, "\(dir) is not a tokentra data directory (no index.sqlite)")
            }
        } else {
            try FileIO.makeDirectories(dir)
            try FileIO.makeDirectories(dir + "/segments")
            try FileIO.makeDirectories(dir + "/wal")
        }
        let lockFD = try acquireLock(dir, write: !configuration.readOnly)
        do {
            let index = configuration.readOnly
                ? try IndexDatabase(readOnlyPath: dir + "/index.sqlite")
                : try IndexDatabase(path: dir + "/index.sqlite")
            let recovered = try recover(directory: dir, index: index, repair: !configuration.readOnly, logger: logger)
            var wal: WriteAheadLog?
            if !configuration.readOnly {
                let existing = WriteAheadLog.existingSequences(directory: dir + "/wal")
                let checkpoint = try index.walSealedThrough()
                let next = max(existing.last ?? 0, checkpoint) + 1
                wal = try WriteAheadLog(directory: dir + "/wal", firstSequence: next, logger: logger)
            }
            let store = SegmentStore(configuration: configuration, index: index, wal: wal, lockFD: lockFD, logger: logger)
            try await store.install(recovered)
            if configuration.preloadRecentDays > 0 && !configuration.readOnly {
                try await store.preloadDedup(days: configuration.preloadRecentDays, nowMs: configuration.wallClock())
            }
            return store
        } catch {
            Glibc.close(lockFD)
            throw error
        }
    }

    private func install(_ recovered: Recovered) throws {
        recoveryReport = recovered.report
        for batch in recovered.replayed {
            // Replay dedups against the sealed segments and earlier WAL records.
            let outcome = try reserve(batch, rows: Array(0..<batch.count), token: 0)
            commitDirect(batch, outcome.accepted)
            recoveryReport.replayedEvents += outcome.accepted.values.reduce(0) { $0 + $1.count }
        }
        if recoveryReport.replayedEvents > 0 {
            logger.info("replayed WAL", metadata: ["wal.events": "\(recoveryReport.replayedEvents)"])
        }
    }

    static func acquireLock(_ dir: String, write: Bool) throws -> Int32 {
        let path = dir + "/LOCK"
        let fd = try FileIO.open(path, write ? O_RDWR | O_CREAT : O_RDONLY)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? FileIO.readFile(path)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
            Glibc.close(fd)
            throw SegmentError(.locked, "data directory \(dir) is in use by another tokentra process (pid \(holder.trimmingCharacters(in: .whitespacesAndNewlines))); stop it or use another --data-dir")
        }
        if write {
            ftruncate(fd, 0)
            let pid = Array("\(getpid())\n".utf8)
            _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        return fd
    }

    // MARK: Ingest

    /// Stores the events that are new for their (org, day, request_id) and returns once they are
    /// durable (fsync'd in the WAL, sharing the fsync with concurrent callers).
    ///
    /// A retry that arrives while its original is still waiting for its fsync waits for that fsync:
    /// it is reported as a duplicate only once the original is durable, and stored as the original
    /// if the original's write failed.
    /// - Throws: ``SegmentError`` (`storageFull`, `io`): then none of these events is stored and
    ///   their request ids stay free for a retry.
    public nonisolated func ingest(_ batch: EventBatch) async throws -> IngestResult {
        guard let wal else { throw SegmentError(.io, "store is open read-only") }
        var remaining = Array(0..<batch.count)
        var stored = 0
        var duplicates: [Int] = []
        // The whole batch is logged: duplicates in it are skipped again at replay.
        var record: [UInt8]? = batch.isEmpty ? nil : WriteAheadLog.record(for: batch)
        while !remaining.isEmpty {
            let claim = try await reserveAndSubmit(batch, rows: remaining, record: record, wal: wal)
            duplicates += claim.duplicates
            if let ticket = claim.ticket {
                do {
                    try await ticket.wait()
                } catch {
                    await finish(claim.token, durable: false)
                    throw error
                }
                await finish(claim.token, durable: true)
                stored += claim.acceptedCount
            }
            // Rows whose original was in flight: wait for it, then try them again.
            for t in claim.waitFor { try? await t.wait() }
            remaining = claim.deferred
            if !remaining.isEmpty { record = WriteAheadLog.record(for: batch.selecting(remaining)) }
        }
        duplicates.sort()
        return IngestResult(stored: stored, duplicateIndices: duplicates)
    }

    /// Row-based convenience for ``ingest(_:)-(EventBatch)``.
    public nonisolated func ingest(_ events: [UsageEvent]) async throws -> IngestResult {
        try await ingest(EventBatch(events))
    }

    /// Stores the new events of `batch` without the WAL (bulk import): they are durable only after
    /// the next ``flush()`` returns, so a caller reports them only then.
    public func ingestUnlogged(_ batch: EventBatch) throws -> IngestResult {
        guard !closed else { throw SegmentError(.io, "store is closed") }
        let outcome = try reserve(batch, rows: Array(0..<batch.count), token: 0)
        guard outcome.deferred.isEmpty else {
            // Only possible while WAL-backed ingests run in the same process; bulk imports own the directory.
            throw SegmentError(.io, "bulk ingest raced an HTTP ingest of the same request ids")
        }
        commitDirect(batch, outcome.accepted)
        let stored = outcome.accepted.values.reduce(0) { $0 + $1.count }
        return IngestResult(stored: stored, duplicateIndices: outcome.duplicates.sorted())
    }

    struct Claim {
        var token: UInt64
        var ticket: WALTicket?
        var acceptedCount: Int
        var duplicates: [Int]
        var deferred: [Int]
        var waitFor: [WALTicket]
    }

    struct Reservation {
        var accepted: [DayKey: [Int]] = [:]
        var duplicates: [Int] = []
        var deferred: [Int] = []
        var waitFor: Set<UInt64> = []
    }

    private func reserveAndSubmit(_ batch: EventBatch, rows: [Int], record: [UInt8]?, wal: WriteAheadLog) throws -> Claim {
        guard !closed else { throw SegmentError(.io, "store is closed") }
        let token = nextToken
        nextToken += 1
        let r = try reserve(batch, rows: rows, token: token)
        let waitFor = r.waitFor.compactMap { inflight[$0]?.ticket }
        let accepted = r.accepted.values.reduce(0) { $0 + $1.count }
        guard accepted > 0, let record else {
            return Claim(token: token, ticket: nil, acceptedCount: 0, duplicates: r.duplicates, deferred: r.deferred, waitFor: waitFor)
        }
        let ticket = wal.submit(framed: record)
        inflight[token] = Inflight(ticket: ticket, batch: batch, rows: r.accepted)
        evictColdDays()  // the accepted rows are pending now: their days stay
        return Claim(token: token, ticket: ticket, acceptedCount: accepted, duplicates: r.duplicates,
                     deferred: r.deferred, waitFor: waitFor)
    }

    /// Claims the new (org, day, request_id)s among `rows` of `batch` for `token`.
    func reserve(_ batch: EventBatch, rows: [Int], token: UInt64) throws -> Reservation {
        var r = Reservation()
        var keyOf: [OrgDay: (DayKey, Int)] = [:]
        for i in rows {
            let od = OrgDay(org: batch.orgs.code(at: i), day: UTC.floorDiv(batch.timestamps[i], UTC.msPerDay))
            let key: DayKey
            let slot: Int
            if let k = keyOf[od] {
                (key, slot) = k
            } else {
                key = DayKey(orgID: batch.orgID(at: i), dayStart: od.day * UTC.msPerDay)
                slot = filterSlot(key.orgID)
                keyOf[od] = (key, slot)
                try ensureDay(key)
                try noteDay(key, slot: slot)
            }
            let id = IDKey(high: batch.idHigh[i], low: batch.idLow[i])
            var holder = key
            if dedup[key]!.ids.insert(id) {
                let hash = filterHash(id)
                if let other = try crossDayHolder(key, slot: slot, id, hash: hash) {
                    dedup[key]!.ids.remove(id)  // stored on another day: a duplicate of that event
                    holder = other
                } else {
                    if token != 0 { dedup[key]!.pending[id] = token }
                    r.accepted[key, default: []].append(i)
                    dedupIDs += 1
                    try recordInFilter(key, slot: slot, hash: hash)
                    continue
                }
            }
            if let owner = dedup[holder]!.pending[id], owner != token {
                r.deferred.append(i)
                r.waitFor.insert(owner)
            } else {
                r.duplicates.append(i)
            }
        }
        return r
    }

    struct OrgDay: Hashable {
        var org: UInt32
        var day: Int64
    }

    /// Completes a WAL-backed reservation: durable rows enter the memtable, failed ones are forgotten
    /// so a retry can store them.
    private func finish(_ token: UInt64, durable: Bool) {
        guard let f = inflight.removeValue(forKey: token) else { return }
        if durable {
            for (key, rows) in f.rows {
                for r in rows { dedup[key]?.pending[IDKey(high: f.batch.idHigh[r], low: f.batch.idLow[r])] = nil }
            }
            commitDirect(f.batch, f.rows)
        } else {
            for (key, rows) in f.rows {
                for r in rows {
                    let id = IDKey(high: f.batch.idHigh[r], low: f.batch.idLow[r])
                    dedup[key]?.pending[id] = nil
                    if dedup[key]?.ids.remove(id) == true { dedupIDs -= 1 }
                }
            }
        }
    }

    /// Adds accepted rows to the memtable and starts a background seal when it is full.
    func commitDirect(_ batch: EventBatch, _ rows: [DayKey: [Int]]) {
        for (key, rs) in rows where !rs.isEmpty {
            memtable[key, default: DayBuffer()].append(rows: rs, of: batch)
            dedup[key]?.unsealed += rs.count
            memtableRows += rs.count
        }
        evictColdDays()  // after the unsealed counts: days with committed rows stay
        if memtableRows >= configuration.memtableEventLimit && flushTask == nil && wal != nil && !closed {
            // Seal in the background; errors are logged and retried by the next flush.
            Task { [logger] in
                do { _ = try await self.flush() } catch {
                    logger.error("background seal failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Number of events acknowledged but not yet sealed into segments.
    public var unsealedCount: Int { memtableRows + sealing.values.reduce(0) { $0 + $1.count } }

    /// Bytes of memory the dedup state uses, estimated from the hash tables' capacities.
    public var dedupMemoryBytes: Int {
        dedup.values.reduce(0) { $0 + $1.ids.memoryBytes + $1.pending.capacity * 33 + 64 } + filterMemoryBytes
    }

    /// Number of request ids the dedup state holds in memory.
    public var dedupEntries: Int { dedupIDs }

    /// Bytes the memtable holds.
    public var memtableBytes: Int { (memtable.values.map(\.memoryBytes) + sealing.values.map(\.memoryBytes)).reduce(0, +) }

    /// Closes the WAL (after writing what is queued) and releases the directory lock.
    public func close() {
        guard !closed else { return }
        closed = true
        workers.stop()
        wal?.close()
        Glibc.close(lockFD)
    }
}
