import Synchronization

/// Shared, mutable facts about the running daemon that several components read: whether the
/// store is open, whether the last write hit a full disk, whether shutdown has begun.
public final class DaemonState: Sendable {
    private let storeOpen = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let storageFull = Mutex<Int64?>(nil)

    public init() {}

    /// Whether the segment store is open for writes.
    public var isStoreOpen: Bool { storeOpen.load(ordering: .acquiring) }
    func setStoreOpen(_ open: Bool) { storeOpen.store(open, ordering: .releasing) }

    /// Whether graceful shutdown has begun.
    public var isStopping: Bool { stopping.load(ordering: .acquiring) }
    func setStopping() { stopping.store(true, ordering: .releasing) }

    /// When the last WAL write failed with ENOSPC (cleared by the next successful write or when
    /// free space is back above the readiness threshold).
    public var storageFullSinceMs: Int64? { storageFull.withLock { $0 } }
    func markStorageFull(atMs now: Int64) { storageFull.withLock { if $0 == nil { $0 = now } } }
    func clearStorageFull() {
        // Cheap check first: this runs on every successful ingest.
        if storageFull.withLock({ $0 }) != nil { storageFull.withLock { $0 = nil } }
    }
}
