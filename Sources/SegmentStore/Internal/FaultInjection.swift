import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A process-wide plan of file-system faults that ``FileIO`` consults before each system call, so
/// that full disks, I/O errors and short writes can be tested in ordinary unit tests (no root, no
/// tmpfs). Production never installs a rule; then each ``FileIO`` call costs one relaxed atomic load.
///
/// ```swift
/// FaultInjection.reset()
/// defer { FaultInjection.reset() }
/// // The 2nd write into this test's WAL directory fails with ENOSPC; every write of it is cut to 3 bytes.
/// let enospc = FaultInjection.install(.init(path: dir.path + "/wal/", .write, on: .nth(2), .fail(ENOSPC)))
/// FaultInjection.install(.init(path: dir.path + "/wal/", .write, .shortWrite(3)))
/// ...
/// #expect(FaultInjection.fired(enospc) == 1)
/// ```
///
/// The plan is global: rules should match a path unique to the test (its temporary directory), and
/// tests that install rules should run serialized (`@Suite(.serialized)`) and call ``reset()``.
///
/// Matching: a rule applies to a call when the operation is the same and the call's path (for
/// ``Operation/rename``: either path) contains ``Rule/pathContains``. Every applicable rule counts
/// the call; a rule *fires* according to its ``Trigger``. When several rules fire on one call, the
/// call first waits for every firing ``Effect/delay(milliseconds:)`` and ``Effect/hold(_:)`` (in
/// installation order), then the first installed ``Effect/fail(_:)`` wins; otherwise the smallest
/// ``Effect/shortWrite(_:)`` applies. So a delay rule and a fail rule on the same call make the call
/// fail late:
///
/// ```swift
/// // The first WAL write blocks until the test releases it, then fails with ENOSPC.
/// let held = FaultInjection.install(.init(path: dir.path + "/wal/", .write, on: .nth(1), .hold("A")))
/// FaultInjection.install(.init(path: dir.path + "/wal/", .write, on: .nth(1), .fail(ENOSPC)))
/// ...                                            // until FaultInjection.fired(held) == 1
/// FaultInjection.release("A")
/// ```
package enum FaultInjection {
    /// The intercepted system calls.
    package enum Operation: String, Sendable, Hashable, CaseIterable {
        /// `open(2)` (also the directory opens of `fsyncDirectory` and `syncFilesystem`): fails before
        /// the file is opened or created.
        case open
        /// Each `write(2)` of ``FileIO/writeAll(_:_:path:)-(Int32,UnsafeRawBufferPointer,String)``.
        case write
        /// `fsync(2)` of a file or directory, and `syncfs(2)`: fails without syncing.
        case fsync
        /// `rename(2)`: fails without renaming.
        case rename
    }

    /// Which of a rule's matching calls it fires on.
    package enum Trigger: Sendable, Hashable {
        /// Every matching call.
        case always
        /// Only the n-th matching call (1-based).
        case nth(Int)
        /// The n-th matching call and every later one (1-based).
        case fromNth(Int)

        func fires(onCall n: Int) -> Bool {
            switch self {
            case .always: return true
            case .nth(let k): return n == k
            case .fromNth(let k): return n >= k
            }
        }
    }

    /// What a firing rule does.
    package enum Effect: Sendable, Hashable {
        /// The call fails with this errno (e.g. `ENOSPC`, `EDQUOT`, `EIO`) and does nothing.
        case fail(Int32)
        /// ``Operation/write`` only: this one `write(2)` transfers at most this many bytes (≥ 1), as
        /// a short write; ``FileIO/writeAll(_:_:path:)-(Int32,UnsafeRawBufferPointer,String)`` then
        /// writes the rest in further calls. Ignored for other operations.
        case shortWrite(Int)
        /// The call sleeps this long on its thread, then proceeds (or applies another firing rule's
        /// failure or short write).
        case delay(milliseconds: Int)
        /// The call blocks its thread until ``release(_:)`` is called with this name (or ``reset()``),
        /// then proceeds like after a ``delay(milliseconds:)``. ``fired(_:)`` counts it as soon as it
        /// starts waiting, so a test can tell that the operation is in progress. Meant for the WAL
        /// writer thread or a short compaction step: a held call occupies a thread.
        case hold(String)
    }

    /// One fault: where, which call, and what happens.
    package struct Rule: Sendable, Hashable {
        /// A substring of the path, e.g. `"/wal/"`, `".tseg"`, or a test's temporary directory.
        package var pathContains: String
        package var operation: Operation
        package var trigger: Trigger
        package var effect: Effect

        package init(path pathContains: String, _ operation: Operation, on trigger: Trigger = .always, _ effect: Effect) {
            self.pathContains = pathContains
            self.operation = operation
            self.trigger = trigger
            self.effect = effect
        }
    }

    /// Identifies an installed rule (see ``fired(_:)``).
    package struct RuleID: Sendable, Hashable {
        let index: Int
    }

    private struct Installed {
        var rule: Rule
        var calls = 0
        var fired = 0
    }

    private static let active = Atomic<Bool>(false)
    private static let rules = Mutex<[Installed]>([])

    private struct Gates {
        /// Bumped by ``reset()``: every hold that started before lets its call go.
        var generation: UInt64 = 0
        var released: Set<String> = []
    }

    private static let gates = Mutex(Gates())

    /// Adds a rule to the plan (after the ones already installed).
    @discardableResult
    package static func install(_ rule: Rule) -> RuleID {
        if case .shortWrite(let k) = rule.effect { precondition(k > 0, "a short write transfers at least 1 byte") }
        let id = rules.withLock { list in
            list.append(Installed(rule: rule))
            return RuleID(index: list.count - 1)
        }
        active.store(true, ordering: .sequentiallyConsistent)
        return id
    }

    /// Runs `body` while no other caller of ``exclusive(_:)`` runs: the plan is process-wide, so
    /// tests in different suites (or test targets) that install rules take turns through this.
    package static func exclusive(_ body: () async throws -> Void) async throws {
        await turnstile.enter()
        do {
            try await body()
        } catch {
            await turnstile.leave()
            throw error
        }
        await turnstile.leave()
    }

    private actor Turnstile {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []

        func enter() async {
            if !busy {
                busy = true
                return
            }
            await withCheckedContinuation { waiting.append($0) }
        }

        func leave() {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
    }

    private static let turnstile = Turnstile()

    /// Removes every rule, lets every held call go (and forgets released names) and restores the
    /// default ``WriteAheadLog/fatalHandler``.
    package static func reset() {
        rules.withLock { list in
            active.store(false, ordering: .sequentiallyConsistent)
            list.removeAll()
        }
        gates.withLock { g in
            g.generation += 1
            g.released.removeAll()
        }
        WriteAheadLog.fatalHandler = WriteAheadLog.defaultFatalHandler
    }

    /// Lets the calls held by ``Effect/hold(_:)`` rules named `name` go, now and later (until ``reset()``).
    package static func release(_ name: String) {
        gates.withLock { _ = $0.released.insert(name) }
    }

    /// - Parameter generation: the gates' generation when the rule fired (read under the rules' lock,
    ///   so a ``reset()`` that removed the rule afterwards also lets this call go).
    private static func waitForRelease(_ name: String, generation: UInt64) {
        while !gates.withLock({ $0.generation != generation || $0.released.contains(name) }) {
            usleep(500)
        }
    }

    /// How many times the rule has fired so far (0 after ``reset()``).
    package static func fired(_ id: RuleID) -> Int {
        rules.withLock { list in id.index < list.count ? list[id.index].fired : 0 }
    }

    /// How many calls the rule has matched so far, fired or not (0 after ``reset()``).
    package static func matched(_ id: RuleID) -> Int {
        rules.withLock { list in id.index < list.count ? list[id.index].calls : 0 }
    }

    /// Called by ``FileIO`` before a system call: the effect to apply, or `nil` to proceed normally.
    /// Waits for the firing delays and holds (outside the lock), so the result is only ever
    /// ``Effect/fail(_:)``, ``Effect/shortWrite(_:)`` or `nil`.
    @inline(__always)
    static func check(_ operation: Operation, _ path: String, _ otherPath: String? = nil) -> Effect? {
        guard active.load(ordering: .relaxed) else { return nil }
        let (effect, waits, generation) = evaluate(operation, path, otherPath)
        for w in waits {
            switch w {
            case .delay(let ms): usleep(useconds_t(max(0, ms)) * 1000)
            case .hold(let name): waitForRelease(name, generation: generation)
            case .fail, .shortWrite: break
            }
        }
        return effect
    }

    private static func evaluate(_ operation: Operation, _ path: String, _ otherPath: String?) -> (Effect?, [Effect], UInt64) {
        rules.withLock { list in
            let generation = gates.withLock { $0.generation }
            var failure: Int32?
            var limit: Int?
            var waits: [Effect] = []
            for i in list.indices where list[i].rule.operation == operation {
                let needle = list[i].rule.pathContains
                guard path.contains(needle) || (otherPath?.contains(needle) ?? false) else { continue }
                list[i].calls += 1
                guard list[i].rule.trigger.fires(onCall: list[i].calls) else { continue }
                switch list[i].rule.effect {
                case .fail(let err):
                    if failure == nil {
                        failure = err
                        list[i].fired += 1
                    }
                case .shortWrite(let k):
                    guard operation == .write else { continue }
                    list[i].fired += 1
                    limit = min(limit ?? k, k)
                case .delay, .hold:
                    list[i].fired += 1
                    waits.append(list[i].rule.effect)
                }
            }
            if let failure { return (.fail(failure), waits, generation) }
            return (limit.map { .shortWrite($0) }, waits, generation)
        }
    }
}

extension WriteAheadLog {
    /// The production reaction to an unrecoverable WAL failure (an fsync error, a WAL file that
    /// cannot be created, a write that cannot be rolled back): report on stderr and exit with 70.
    package static let defaultFatalHandler: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data("tokentra: fatal: \(message)\n".utf8))
        exit(70)
    }

    private static let fatalHandlerStorage = Mutex<@Sendable (String) -> Void>(defaultFatalHandler)

    /// Called (after the message is logged at `critical`) when the WAL writer meets an
    /// unrecoverable failure; by default ``defaultFatalHandler`` (stderr, `exit(70)`).
    ///
    /// Tests may install a handler that records the message and returns. The writer then never
    /// writes or acknowledges again: the waiters of the failed group and of every later record or
    /// sync get a ``SegmentError`` (code `io`) until ``close()``. ``FaultInjection/reset()``
    /// restores the default.
    package static var fatalHandler: @Sendable (String) -> Void {
        get { fatalHandlerStorage.withLock { $0 } }
        set { fatalHandlerStorage.withLock { $0 = newValue } }
    }
}
