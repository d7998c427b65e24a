import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import SegmentStore
import ServiceLifecycle
import Synchronization
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex
/// A real daemon (store + scheduler + HTTP server on a free loopback port) in this process.
final class TestDaemon: Sendable {
    let dir: TemporaryDirectory
    let store: SegmentStore
    let daemon: TokentraDaemon
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let port: Int
    let registry: PrometheusCollectorRegistry

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var index: IndexDatabase { store.index }

    private init(
        dir: TemporaryDirectory, store: SegmentStore, daemon: TokentraDaemon, group: ServiceGroup, task: Task<Void, any Error>,
        port: Int, registry: PrometheusCollectorRegistry
    ) {
        self.dir = dir
        self.store = store
        self.daemon = daemon
        self.group = group
        self.task = task
        self.port = port
        self.registry = registry
    }

    static func start(
        _ configure: (inout TokentraConfiguration) -> Void = { _ in },
        hooks: TokentraDaemon.Hooks = .init(rollup: { _ in }),
        dataDirectory: String? = nil,
        wallClock: WallClock? = nil,
        notifier: SystemdNotifier? = nil
    ) async throws -> TestDaemon {
        let dir = TemporaryDirectory("tokentra-http")
        var config = TokentraConfiguration()
        config.dataDirectory = dataDirectory ?? dir.file("data")
        config.port = 0
        config.readinessMinFreeBytes = 1 << 20
        configure(&config)
        var logger = Logger(label: "test")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        let registry = PrometheusCollectorRegistry()
        let metrics = TokentraMetrics(factory: TokentraMetrics.makePrometheusFactory(registry: registry))
        // The wiring of `tokentra serve`.
        let daemon = try await TokentraDaemon.open(
            configuration: config, logger: logger, registry: registry, metrics: metrics, serverVersion: "test", hooks: hooks,
            notifier: notifier, wallClock: wallClock ?? SystemClock.wallClock)
        let store = daemon.store
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let group = daemon.makeServiceGroup(gracefulShutdownSignals: []) { port in portContinuation.yield(port) }
        let task = Task { try await group.run() }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("server did not start") }
        return TestDaemon(dir: dir, store: store, daemon: daemon, group: group, task: task, port: port, registry: registry)
    }

    static func startWithNotifier(_ notifier: SystemdNotifier) async throws -> TestDaemon {
        try await start(notifier: notifier)
    }

    /// Graceful shutdown (drain, seal, close), then removes the directory.
    func stop(keepDirectory: Bool = false) async throws {
        await group.triggerGracefulShutdown()
        try await task.value
        if !keepDirectory { dir.remove() }
    }

    /// Creates a key directly in the index (as `tokentra keys create` does).
    @discardableResult
    func createKey(
        org: String = "org_a", scopes: String = "sdk:write", expiresAt: Int64? = nil, rateMinute: Int64? = nil,
        rateDay: Int64? = nil, test: Bool = false
    ) throws -> (key: String, id: String) {
        let (key, record) = APIKeyRecord.issue(
            orgID: org, name: "test", scopes: scopes.split(separator: ",").map { APIKeyScope(String($0)) },
            environment: test ? .test : .live, expiresAt: expiresAt, rateLimitMinute: rateMinute, rateLimitDay: rateDay,
            now: SystemClock.nowMs())
        try index.insertAPIKey(record)
        return (key, record.id)
    }

    /// Every stored event (sealed and unsealed), by org.
    func storedEvents(org: String? = nil) async throws -> [UsageEvent] {
        var out: [UsageEvent] = []
        try await store.forEachDay(orgID: org) { _, _, events in out.append(contentsOf: events) }
        return out
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A response read completely.
struct TestResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: String
    /// The body's bytes as received (``body`` is them decoded as UTF-8).
    var bytes: [UInt8] = []

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    /// The body as JSON. Every body read this way is first checked by the strict RFC 8259 parser:
    /// a response that is not valid JSON fails the test that reads it.
    var json: [String: Any] {
        do { _ = try StrictJSON.parse(body) } catch { Issue.record("response is not strict JSON (\(error)): \(body.prefix(300))") }
        return (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }
    /// The body parsed by the strict parser.
    var strict: StrictJSON { get throws { try StrictJSON.parse(body) } }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
}

enum HTTP {
    static func request(
        _ url: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8]? = nil, timeout: Int64 = 30
    ) async throws -> TestResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return TestResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: String(buffer: bytes), bytes: Array(buffer: bytes))
    }

    static func ingest(
        _ daemon: TestDaemon, key: String?, body: String, headers: [(String, String)] = [], timeout: Int64 = 30
    ) async throws -> TestResponse {
        var h = headers
        if let key { h.append(("Authorization", "Bearer \(key)")) }
        h.append(("Content-Type", "application/json"))
        return try await request(daemon.baseURL + "/api/v1/sdk/ingest", method: "POST", headers: h, body: Array(body.utf8), timeout: timeout)
    }
}

/// Event JSON builders.
enum Payload {
    static func nowISO(offsetSeconds: Int = 0) -> String {
        UTCTimestamp.format(Int64(Date().timeIntervalSince1970 * 1000) + Int64(offsetSeconds) * 1000)
    }

    static func event(id: String = UUID().uuidString.lowercased(), org: String? = nil, extra: String = "") -> String {
        var fields = [
            "\"request_id\":\"\(id)\"", "\"timestamp\":\"\(nowISO())\"", "\"provider\":\"openai\"", "\"model\":\"gpt-4o\"",
            "\"input_tokens\":100", "\"output_tokens\":50", "\"total_tokens\":150", "\"input_cost\":0.00025",
            "\"output_cost\":0.0005", "\"total_cost\":0.00075", "\"latency_ms\":420",
        ]
        if let org { fields.append("\"org_id\":\"\(org)\"") }
        if !extra.isEmpty { fields.append(extra) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func batch(_ events: [String]) -> String { "{\"events\":[" + events.joined(separator: ",") + "]}" }
}
