import Testing

/// Runs the tests of the CLI suites one at a time. `CLI.run` waits for the child process
/// synchronously, which blocks a thread of Swift's cooperative pool (2 threads on these machines)
/// for the child's lifetime; two CLI suites at once would block both and starve every other test
/// in the process.
struct CLIIsolation: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil || !test.isSuite else { return try await function() }
        await Self.turnstile.enter()
        do {
            try await function()
        } catch {
            await Self.turnstile.leave()
            throw error
        }
        await Self.turnstile.leave()
    }

    actor Turnstile {
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

    static let turnstile = Turnstile()
}

extension Trait where Self == CLIIsolation {
    /// See ``CLIIsolation``.
    static var cliIsolated: Self { CLIIsolation() }
}
