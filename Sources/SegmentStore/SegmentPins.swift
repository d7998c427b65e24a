import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Keeps segment files alive while readers use them.
///
/// A reader takes a ``Pin`` *before* it reads the segment list from the index and releases it when
/// it is done with the files. Compaction and retention do not unlink the files they replace or
/// delete: they ``retire(_:)`` them, and a retired file is unlinked once no pin taken before its
/// retirement is still held. So a query racing a compaction never sees ENOENT.
///
/// ```swift
/// let pin = store.pins.pin()
/// defer { pin.release() }
/// let segments = try index.segments(orgID: org)   // every listed file stays readable
/// ```
public final class SegmentPins: Sendable {
    private struct State {
        var epoch: UInt64 = 1
        /// Active pins by the epoch they were taken at.
        var active: [UInt64: Int] = [:]
        /// Retired paths with the epoch at which they were retired.
        var graveyard: [(epoch: UInt64, path: String)] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// A reader's hold on every file that is registered now.
    public final class Pin: Sendable {
        let epoch: UInt64
        private let owner: SegmentPins
        private let released = Mutex(false)

        init(epoch: UInt64, owner: SegmentPins) {
            self.epoch = epoch
            self.owner = owner
        }

        /// Lets retired files go (idempotent; also done on deinit).
        public func release() {
            let first = released.withLock { r in
                defer { r = true }
                return !r
            }
            if first { owner.unpin(epoch) }
        }

        deinit { release() }
    }

    /// Pins the files registered now.
    public func pin() -> Pin {
        let e = state.withLock { s in
            s.active[s.epoch, default: 0] += 1
            return s.epoch
        }
        return Pin(epoch: e, owner: self)
    }

    /// Schedules `paths` (absolute) for deletion once every pin that may see them is released.
    /// Call it after the index no longer lists them.
    public func retire(_ paths: [String]) {
        guard !paths.isEmpty else { return }
        state.withLock { s in
            for p in paths { s.graveyard.append((s.epoch, p)) }
            s.epoch += 1
        }
        sweep()
    }

    /// Number of retired files still waiting for readers.
    public var retiredCount: Int { state.withLock { $0.graveyard.count } }

    /// Number of pins held.
    public var activePins: Int { state.withLock { $0.active.values.reduce(0, +) } }

    func unpin(_ epoch: UInt64) {
        state.withLock { s in
            if let n = s.active[epoch] {
                if n <= 1 { s.active[epoch] = nil } else { s.active[epoch] = n - 1 }
            }
        }
        sweep()
    }

    private func sweep() {
        let doomed: [String] = state.withLock { s in
            // A pin taken at epoch e may use files retired at any epoch ≥ e.
            let oldest = s.active.keys.min() ?? UInt64.max
            var out: [String] = []
            s.graveyard.removeAll { entry in
                if entry.epoch < oldest {
                    out.append(entry.path)
                    return true
                }
                return false
            }
            return out
        }
        for p in doomed { unlink(p) }
    }
}
