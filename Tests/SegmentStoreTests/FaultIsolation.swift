import SegmentStore
import Testing

/// Runs each test of the suite (and its nested suites) alone among every test that installs
/// fault-injection rules, in any suite of the test process (the plan is process-wide).
struct FaultIsolation: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil || !test.isSuite else { return try await function() }
        try await FaultInjection.exclusive { try await function() }
    }
}

extension Trait where Self == FaultIsolation {
    /// See ``FaultIsolation``.
    static var faultIsolated: Self { FaultIsolation() }
}
