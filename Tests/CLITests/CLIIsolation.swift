import Testing
import TokentraTestSupport

/// Runs the tests of the CLI suites one at a time: each spawns `tokentra` processes that use both
/// cores, and several suites at once made the timing-sensitive tests elsewhere in the process flaky.
struct CLIIsolation: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil || !test.isSuite else { return try await function() }
        try await Self.turnstile.run { try await function() }
    }

    static let turnstile = Turnstile()
}

extension Trait where Self == CLIIsolation {
    /// See ``CLIIsolation``.
    static var cliIsolated: Self { CLIIsolation() }
}
