import Foundation
import Logging
import TokentraCore
import UsageIndex

#if canImport(Glibc)
import Glibc
#endif

/// The raw event store: WAL + memtable for fresh events, immutable zstd columnar segments
/// partitioned by (org, UTC day) for sealed ones, the SQLite index as the catalog, and the
/// exactly-once state keyed by (org, request_id).
///
/// ```swift
/// let store = try await SegmentStore.open(configuration: .init(dataDirectory: "data"), logger: logger)
/// let result = try await store.ingest(events)   // durable when it returns
/// try await store.flush()                        // seal into segments
/// await store.close()
/// ```
public actor SegmentStore {
    /// Store settings.
    public struct Configuration: Sendable {
        /// The data directory (created if missing).
        public var dataDirectory: String
        /// Seal the memtable into segments once it holds this many events.
        public var memtableEventLimit: Int = 250_000
        /// Sealing merges the new events of an (org, day) with its existing segments while the
        /// result stays at or below this many rows.
        public var maxMergedSegmentRows: Int = 2_000_000
        /// Per-1K rates used to predict costs inside segments (a predictor only: costs stay exact).
        public var rates: @Sendable (_ provider: String, _ model: String) -> SegmentFormat.Rates? = { _, _ in nil }

        public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
    }

    /// What happened to each event of an ``ingest(_:)`` call.
    public struct IngestResult: Sendable, Equatable {
        /// Number of events stored.
        public var stored: Int
        /// Indices (into the input) of events that were already stored, or repeated within the call.
        public var duplicateIndices: [Int]
    }

    struct IDKey: Hashable {
        var high: UInt64
        var low: UInt64
        init(_ id: RequestID) {
            high = id.high
            low = id.low
        }
    }

    struct MemEntry {
        var token: UInt64
        var event: UsageEvent
    }

    public nonisolated let configuration: Configuration
    public nonisolated let index: IndexDatabase
    let logger: Logger
    let wal: WriteAheadLog
    let lockFD: Int32
    /// (org, request_id) of every retained event; `nil` until first needed (see ``ensureDedupState()``).
    var seenStorage: [String: Set<IDKey>]?
    var seen: [String: Set<IDKey>] {
        get { seenStorage ?? ensureDedupState() }
        _modify {
            if seenStorage == nil { ensureDedupState() }
            yield &seenStorage!  // in place: no copy of the sets
        }
    }
    var memtable: [MemEntry] = []
    var nextToken: UInt64 = 1
    var inflight: Set<UInt64> = []
    var flushTask: Task<FlushResult, any Error>?
    var segmentCounter = 0
    var closed = false

    nonisolated var dataDirectory: String { configuration.dataDirectory }
    nonisolated var segmentsDirectory: String { configuration.dataDirectory + "/segments" }
    nonisolated var walDirectory: String { configuration.dataDirectory + "/wal" }

    init(configuration: Configuration, index: IndexDatabase, wal: WriteAheadLog, lockFD: Int32, logger: Logger) {
        self.configuration = configuration
        self.index = index
        self.wal = wal
        self.lockFD = lockFD
        self.logger = logger
    }

    /// Opens the store: takes the directory lock, opens the index, removes unfinished segment files,
    /// loads the dedup state from the segments and replays the WAL (cutting a torn tail).
    /// - Throws: ``SegmentError`` when another process holds the directory or the WAL is corrupt before its tail.
    public static func open(configuration: Configuration, logger: Logger) async throws -> SegmentStore {
        let dir = configuration.dataDirectory
        try FileIO.makeDirectories(dir)
        try FileIO.makeDirectories(dir + "/segments")
        try FileIO.makeDirectories(dir + "/wal")
        let lockFD = try acquireLock(dir)
        do {
            let index = try IndexDatabase(path: dir + "/index.sqlite")
            let recovered = try recover(directory: dir, index: index, logger: logger)
            let existing = WriteAheadLog.existingSequences(directory: dir + "/wal")
            let checkpoint = try index.walSealedThrough()
            let next = max(existing.last ?? 0, checkpoint) + 1
            let wal = try WriteAheadLog(directory: dir + "/wal", firstSequence: next, logger: logger)
            let store = SegmentStore(configuration: configuration, index: index, wal: wal, lockFD: lockFD, logger: logger)
            await store.install(seen: recovered.seen, replayed: recovered.replayed)
            return store
        } catch {
            Glibc.close(lockFD)
            throw error
        }
    }

    /// Loads the dedup state from the segments on first use.
    @discardableResult
    func ensureDedupState() -> [String: Set<IDKey>] {
        if let seenStorage { return seenStorage }
        let segments = (try? index.segments()) ?? []
        let loaded = Self.loadDedupState(directory: dataDirectory, segments: segments, logger: logger)
        seenStorage = loaded
        return loaded
    }

    private func install(seen: [String: Set<IDKey>]?, replayed: [UsageEvent]) {
        self.seenStorage = seen
        for e in replayed {
            memtable.append(MemEntry(token: 0, event: e))
        }
    }

    static func acquireLock(_ dir: String) throws -> Int32 {
        let path = dir + "/LOCK"
        let fd = try FileIO.open(path, O_RDWR | O_CREAT)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? FileIO.readFile(path)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
            Glibc.close(fd)
            throw SegmentError(.locked, "data directory \(dir) is in use by another tokentra process (pid \(holder.trimmingCharacters(in: .whitespacesAndNewlines))); stop it or use another --data-dir")
        }
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    // MARK: Ingest

    /// Stores the events that are new for their (org, request_id) and returns once they are durable
    /// (fsync'd in the WAL, sharing the fsync with concurrent callers).
    /// - Throws: ``SegmentError`` (`storageFull`, `io`): then none of these events is stored and
    ///   their request ids stay free for a retry.
    public nonisolated func ingest(_ events: [UsageEvent]) async throws -> IngestResult {
        let reservation = try await reserve(events)
        guard !reservation.accepted.isEmpty else {
            return IngestResult(stored: 0, duplicateIndices: reservation.duplicates)
        }
        // Encoding and the fsync wait happen off the actor; the WAL keeps its own order. A record
        // that lands in a WAL file after a seal's rotation is harmless: replay skips ids already sealed.
        let ticket = wal.submit(framed: WriteAheadLog.record(for: reservation.accepted))
        do {
            try await ticket.wait()
        } catch {
            await release(reservation, failed: true)
            throw error
        }
        await release(reservation, failed: false)
        return IngestResult(stored: reservation.accepted.count, duplicateIndices: reservation.duplicates)
    }

    struct Reservation: Sendable {
        var token: UInt64
        var accepted: [UsageEvent]
        var duplicates: [Int]
        var keys: [IDKey]
    }

    /// Claims the new (org, request_id)s of `events` and adds them to the memtable under a token
    /// that stays in flight until ``release(_:failed:)``.
    private func reserve(_ events: [UsageEvent]) throws -> Reservation {
        guard !closed else { throw SegmentError(.io, "store is closed") }
        var accepted: [UsageEvent] = []
        accepted.reserveCapacity(events.count)
        var duplicates: [Int] = []
        var keys: [IDKey] = []
        keys.reserveCapacity(events.count)
        for i in events.indices {
            let key = IDKey(events[i].requestID)
            if seen[events[i].orgID, default: []].insert(key).inserted {
                accepted.append(events[i])
                keys.append(key)
            } else {
                duplicates.append(i)
            }
        }
        let token = nextToken
        nextToken += 1
        if !accepted.isEmpty {
            // No reserveCapacity(count + n) here: exact-size growth would copy the whole memtable per batch (quadratic).
            for i in accepted.indices { memtable.append(MemEntry(token: token, event: accepted[i])) }
            inflight.insert(token)
        }
        return Reservation(token: token, accepted: accepted, duplicates: duplicates, keys: keys)
    }

    private func release(_ r: Reservation, failed: Bool) {
        if failed {
            // Not durable: forget these events so a retry can store them.
            memtable.removeAll { $0.token == r.token }
            for (i, key) in r.keys.enumerated() { seen[r.accepted[i].orgID]?.remove(key) }
        }
        inflight.remove(r.token)
        if !failed && memtable.count >= configuration.memtableEventLimit && flushTask == nil {
            // Seal in the background; errors are logged and retried by the next flush.
            Task { [logger] in
                do { _ = try await self.flush() } catch {
                    logger.error("background seal failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Number of events acknowledged but not yet sealed into segments.
    public var unsealedCount: Int { memtable.count }

    /// Bytes of memory the dedup state uses, estimated from the hash tables' capacities.
    public var dedupMemoryBytes: Int {
        seen.values.reduce(0) { $0 + $1.capacity * (MemoryLayout<IDKey>.stride) + $1.capacity / 8 }
    }

    /// Number of request ids the dedup state holds.
    public var dedupEntries: Int { seen.values.reduce(0) { $0 + $1.count } }

    /// Closes the WAL (after writing what is queued) and releases the directory lock.
    public func close() {
        guard !closed else { return }
        closed = true
        wal.close()
        Glibc.close(lockFD)
    }
}
