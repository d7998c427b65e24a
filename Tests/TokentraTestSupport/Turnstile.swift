/// An async mutual exclusion for tests that must not run at the same time as each other (one
/// caller inside at a time, the others suspended in arrival order, no thread blocked).
public actor Turnstile {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init() {}

    /// Runs `body` alone among the callers of this turnstile.
    public func run(_ body: @Sendable () async throws -> Void) async throws {
        await enter()
        defer { leave() }
        try await body()
    }

    private func enter() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func leave() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}
