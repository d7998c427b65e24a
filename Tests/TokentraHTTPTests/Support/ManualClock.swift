import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SegmentStore
import Synchronization
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex
/// A clock that only moves when the test says so; sleepers wake when it passes their deadline.
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Int: (Instant, CheckedContinuation<Void, any Error>)] = [:]
        var cancelled: Set<Int> = []
        var nextID = 0
    }

    private let state = Mutex(State())
    /// Wall-clock ms at offset zero.
    let epochMs: Int64

    init(epochMs: Int64) { self.epochMs = epochMs }

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .zero }
    var wallMs: Int64 {
        let c = now.offset.components
        return epochMs + c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }
    var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let resume: Result<Void, any Error>? = state.withLock { s in
                    if s.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= s.now { return .success(()) }
                    s.sleepers[id] = (deadline, c)
                    return nil
                }
                if let resume { c.resume(with: resume) }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                if let (_, c) = s.sleepers.removeValue(forKey: id) { return c }
                s.cancelled.insert(id)
                return nil
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock and wakes every sleeper whose deadline has passed.
    func advance(by duration: Duration) {
        let woken = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.now = s.now.advanced(by: duration)
            let due = s.sleepers.filter { $0.value.0 <= s.now }
            for id in due.keys { s.sleepers.removeValue(forKey: id) }
            return due.values.map(\.1)
        }
        for c in woken { c.resume() }
    }

    /// Waits (in real time, briefly) until `count` tasks sleep on this clock.
    func waitForSleepers(_ count: Int = 1) async throws {
        let deadline = ContinuousClock.now + .seconds(120)  // generous: the whole test process may be CPU-starved
        while sleeperCount < count {
            guard ContinuousClock.now < deadline else { throw TestFailure("no sleeper on the manual clock") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}
