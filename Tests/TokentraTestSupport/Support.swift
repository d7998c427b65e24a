import Foundation
import TokentraCore

/// A fresh temporary directory, removed when the value is dropped... by the caller via ``remove()``.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ name: String = "tokentra-test") {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        path = "\(base)/\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }
}

/// Deterministic SplitMix64 generator for reproducible test data.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds varied, fully populated events for storage tests.
public enum EventFactory {
    public static let base: Int64 = 1_793_000_000_000  // 2026-10-26

    public static func event(_ i: Int, org: String = "org_a", rng: inout SeededRandom, dayOffset: Int = 0) -> UsageEvent {
        let id = RequestID(high: rng.next(), low: rng.next())
        let models = [("openai", "gpt-4o"), ("anthropic", "claude-3-5-sonnet-20241022"), ("google", "gemini-2.0-flash")]
        let (provider, model) = models[i % models.count]
        var e = UsageEvent(orgID: org, requestID: id,
                           timestampMs: base + Int64(dayOffset) * 86_400_000 + Int64(rng.next() % 86_400_000),
                           provider: provider, model: model)
        e.inputTokens = Int64(rng.next() % 5000)
        e.outputTokens = Int64(rng.next() % 2000)
        e.cachedTokens = i % 4 == 0 ? Int64(rng.next() % 1000) : 0
        e.totalTokens = e.inputTokens + e.outputTokens + e.cachedTokens + (i % 17 == 0 ? 5 : 0)
        e.inputCost = Money(units: e.inputTokens * 50_000 + (i % 5 == 0 ? 3 : 0))
        e.outputCost = Money(units: e.outputTokens * 150_000)
        e.cachedCost = Money(units: e.cachedTokens * 1_000)
        e.totalCost = e.inputCost + e.outputCost + e.cachedCost
        e.costSource = i % 7 == 0 ? .priceTable(version: 1) : (i % 11 == 0 ? .unpriced : .client)
        e.latencyMs = Int64(rng.next() % 4000)
        e.timeToFirstTokenMs = i % 3 == 0 ? nil : Int64(rng.next() % 500)
        e.feature = ["chat", "search", nil][i % 3]
        e.team = i % 2 == 0 ? "platform" : "growth"
        e.project = i % 5 == 0 ? nil : "atlas"
        e.costCenter = i % 6 == 0 ? "CC-1000-eng" : nil
        e.userID = "user_\(i % 13)"
        e.environment = ["production", "staging", nil][i % 3]
        e.metadata = i % 4 == 0 ? "{\"route\":\"/api/chat\",\"n\":1.50}" : nil
        e.wasCached = i % 9 == 0
        e.cacheHitType = e.wasCached ? "exact" : nil
        e.originalModel = i % 10 == 0 ? "gpt-4" : nil
        e.routedByRule = i % 10 == 0 ? "cost-saver" : nil
        e.isError = i % 19 == 0
        e.errorCode = e.isError ? "429" : nil
        e.errorType = e.isError ? "rate_limit_error" : nil
        e.errorMessage = e.isError ? "Rate limited, \"slow down\"\nretry" : nil
        e.promptHash = i % 2 == 0 ? String(repeating: "ab", count: 32) : (i % 3 == 0 ? "NOT-HEX" : nil)
        e.sdkVersion = "2.0.0"
        e.sdkLanguage = "python"
        if i % 8 == 0 {
            e.hostname = "web-1"
            e.cloudProvider = "aws"
            e.instanceID = "i-123"
            e.k8sPod = "pod-a"
            e.k8sNamespace = "prod"
            e.k8sNode = "node-1"
        }
        if i % 23 == 0 { e.requestID = RequestID(high: rng.next(), low: rng.next(), text: "custom-id-\(i)-\(rng.next() % 1_000_000_007)") }
        return e
    }

    public static func events(_ n: Int, org: String = "org_a", seed: UInt64 = 1, days: Int = 1) -> [UsageEvent] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { event($0, org: org, rng: &rng, dayOffset: $0 % days) }
    }
}
