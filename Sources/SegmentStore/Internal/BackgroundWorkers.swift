import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A few OS threads for CPU-heavy and blocking storage work: segment encoding, zstd, fsync and
/// rename for seals and compaction. Keeping that work off Swift's cooperative pool leaves the pool
/// (where the store's actor and the HTTP handlers run) free, so a seal never delays an ingest
/// acknowledgement behind a compression job.
///
/// The threads run at normal priority on purpose: on Linux a thread's nice value is inherited by
/// the threads it creates, and libdispatch creates cooperative-pool threads from whichever thread
/// enqueues work (here, the one resuming a continuation), so a niced worker would end up niceing
/// the pool itself.
final class BackgroundWorkers: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var stopped = false
    }

    private let state = Mutex(State())
    private let condition = NSCondition()
    let width: Int

    /// - Parameter width: number of threads.
    init(width: Int) {
        self.width = max(1, width)
        for i in 0..<self.width {
            let t = Thread { [self] in self.loop() }
            t.name = "tokentra-bg-\(i)"
            t.start()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            var job: (@Sendable () -> Void)?
            while true {
                let (next, stopped) = state.withLock { s -> ((@Sendable () -> Void)?, Bool) in
                    s.jobs.isEmpty ? (nil, s.stopped) : (s.jobs.removeFirst(), false)
                }
                if let next { job = next; break }
                if stopped { condition.unlock(); return }
                condition.wait()
            }
            condition.unlock()
            job?()
        }
    }

    /// Runs `body` on a worker thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            condition.lock()
            let accepted = state.withLock { s -> Bool in
                guard !s.stopped else { return false }
                s.jobs.append { c.resume(with: Result { try body() }) }
                return true
            }
            condition.signal()
            condition.unlock()
            if !accepted { c.resume(throwing: SegmentError(.io, "store is closed")) }
        }
    }

    /// Lets the threads finish their queued jobs and exit.
    func stop() {
        condition.lock()
        state.withLock { $0.stopped = true }
        condition.broadcast()
        condition.unlock()
    }
}
