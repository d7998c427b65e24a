import Synchronization

/// A caller's claim on the durability of the records it submitted to the ``WriteAheadLog``.
public final class WALTicket: Sendable {
    private enum State {
        case pending([CheckedContinuation<Void, any Error>])
        case done((any Error)?)
    }
    private let state = Mutex<State>(.pending([]))
    /// The number of the log file the records went to.
    public let sequence: UInt64

    init(sequence: UInt64) { self.sequence = sequence }

    func complete(_ error: (any Error)?) {
        let waiters: [CheckedContinuation<Void, any Error>] = state.withLock { s in
            guard case .pending(let w) = s else { return [] }
            s = .done(error)
            return w
        }
        for w in waiters {
            if let error { w.resume(throwing: error) } else { w.resume() }
        }
    }

    /// Returns once the records are durable; throws if they could not be written (nothing acknowledged).
    public func wait() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let finished: (any Error)?? = state.withLock { s in
                switch s {
                case .pending(var w):
                    w.append(c)
                    s = .pending(w)
                    return .none
                case .done(let e):
                    return .some(e)
                }
            }
            if case .some(let e) = finished {
                if let e { c.resume(throwing: e) } else { c.resume() }
            }
        }
    }
}
