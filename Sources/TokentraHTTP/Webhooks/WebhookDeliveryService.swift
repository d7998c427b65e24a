import Alerts
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import UsageIndex

/// Delivery settings (`webhooks.*` configuration keys).
public struct WebhookSettings: Sendable {
    /// Attempts per delivery before it is dead (default 14: the retries span about 24 h).
    public var maxAttempts = 14
    /// First retry delay; each further retry doubles it, up to ``backoffMaxMs``; ±20 % jitter.
    public var backoffBaseMs: Int64 = 30_000
    public var backoffMaxMs: Int64 = 14_400_000
    /// Per-attempt timeout (connect + response).
    public var timeoutMs: Int64 = 10_000
    /// Whether endpoints may be on loopback/private/link-local addresses.
    public var allowPrivateTargets = false
    /// How often the outbox is looked at when nothing is due sooner.
    public var pollIntervalMs: Int64 = 1000
    /// Deliveries sent at once.
    public var concurrency = 16
    public init() {}

    /// The delay before attempt `n + 1` after attempt `n` failed (without jitter).
    public func backoff(afterAttempt n: Int) -> Int64 {
        var d = backoffBaseMs
        for _ in 1..<max(n, 1) {
            d *= 2
            if d >= backoffMaxMs { return backoffMaxMs }
        }
        return min(d, backoffMaxMs)
    }
}

/// Works the durable outbox: sends due deliveries (signed), records each attempt, schedules
/// retries with exponential backoff and jitter, and marks a delivery dead after its last attempt.
///
/// A delivery is marked delivered only after a 2xx, in the same write as its attempt, recorded as
/// soon as the response head arrives (before its body is read, before any other send); one that is
/// in flight when the daemon dies is sent again after the restart with the same body and event id
/// (at-least-once: the receiver deduplicates by `X-TokenTra-Event-Id` = the body's `id`), one whose
/// acknowledgement was recorded is never sent again. Redirects are not followed. The host is
/// resolved once per attempt, every address is checked (without `allow_private_targets`), and the
/// connection goes to the checked address with the URL's host name as `Host` and TLS SNI.
///
/// Per-cycle probes: after every evaluation cycle the daemon makes the oldest pending delivery of
/// each endpoint in backoff due at once (``UsageIndex/IndexDatabase/scheduleProbes(now:)``); a
/// failed probe returns to its backoff schedule and does not use up an attempt, a delivered one
/// releases the endpoint's other deliveries — so a receiver that comes back gets its events within
/// about one cycle, however long its backoff was.
final class WebhookDeliveryService: Service, Sendable {
    let index: IndexDatabase
    let settings: WebhookSettings
    let metrics: WebhookMetrics
    let logger: Logger
    let wallClock: @Sendable () -> Int64
    let clientConfiguration: HTTPClient.Configuration

    init(index: IndexDatabase, settings: WebhookSettings, metrics: WebhookMetrics, logger: Logger, wallClock: @escaping @Sendable () -> Int64) {
        self.index = index
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.wallClock = wallClock
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: .milliseconds(settings.timeoutMs), read: .milliseconds(settings.timeoutMs))
        config.decompression = .disabled
        clientConfiguration = config
    }

    /// Deliveries being sent now (never picked up twice).
    let inFlight = Mutex<Set<Int64>>([])

    /// Polls the outbox and keeps up to ``WebhookSettings/concurrency`` attempts running; a slow
    /// receiver holds only its own attempts, never the others'.
    func run() async throws {
        // Made here (not in init) so that a service that never runs leaves no client to shut down.
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        await withDiscardingTaskGroup { group in
            var lastStats: Int64 = 0
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let now = wallClock()
                if now - lastStats >= 5000 {
                    lastStats = now
                    updateStatistics(now: now)
                }
                let busy = inFlight.withLock { $0 }
                var started = 0
                if busy.count < settings.concurrency {
                    let due: [DueDelivery]
                    do {
                        due = try await blocking { [index, settings] in
                            try index.dueDeliveries(now: now, limit: settings.concurrency + busy.count)
                        }
                    } catch {
                        logger.error("cannot read the webhook outbox", metadata: ["error": "\(error)"])
                        due = []
                    }
                    for d in due where !busy.contains(d.delivery.id) && busy.count + started < settings.concurrency {
                        let id = d.delivery.id
                        inFlight.withLock { _ = $0.insert(id) }
                        started += 1
                        group.addTask {
                            await self.attempt(d, client: client)
                            self.inFlight.withLock { _ = $0.remove(id) }
                        }
                    }
                }
                if started > 0 { continue }
                var pause = busy.isEmpty ? settings.pollIntervalMs : min(settings.pollIntervalMs, 50)
                if busy.isEmpty, let next = try? index.nextDeliveryDue() { pause = min(pause, max(10, next - now)) }
                let wait = pause
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(wait)) }
                } catch {
                    break
                }
            }
        }
        try await client.shutdown()
    }

    func updateStatistics(now: Int64) {
        guard let s = try? index.outboxStatistics() else { return }
        metrics.updateOutbox(pending: s.pending, oldestAgeSeconds: s.oldestPendingCreatedAt.map { Double(max(0, now - $0)) / 1000 } ?? 0, dead: s.dead)
    }

    /// Sends one delivery and records the attempt.
    func attempt(_ due: DueDelivery, client: HTTPClient) async {
        let d = due.delivery
        let number = d.attempts + 1
        let started = wallClock()
        let clock = ContinuousClock()
        let t0 = clock.now
        var statusCode: Int?
        var failure: String?
        var answer: Answer?
        do {
            let a = try await send(due, attempt: number, at: started, client: client)
            answer = a
            statusCode = Int(a.response.status.code)
        } catch let e as DeliveryRefused {
            failure = e.message
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout {
            failure = "timed out after \(settings.timeoutMs) ms"
        } catch {
            failure = "\(error)"
        }
        let elapsed = clock.now - t0
        let durationMs = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        let ok = statusCode.map { (200..<300).contains($0) } ?? false
        if !ok, failure == nil, let code = statusCode { failure = "HTTP \(code)" }
        let error = failure
        let probe = d.probeResumeAt != nil
        var retry: Int64?
        if !ok, let resume = d.probeResumeAt {
            retry = max(resume, wallClock())  // a failed probe goes back to its backoff schedule
        } else if !ok && number < d.attemptLimit {
            let base = settings.backoff(afterAttempt: number)
            let jitter = Double.random(in: 0.8...1.2)
            retry = wallClock() + Int64(Double(base) * jitter)
        }
        let retryAt = retry
        let record = WebhookAttempt(attempt: number, startedAt: started, durationMs: durationMs, statusCode: statusCode, error: error, probe: probe)
        do {
            try await blocking { [index] in try index.recordAttempt(deliveryID: d.id, record, delivered: ok, retryAt: retryAt) }
        } catch {
            logger.error("cannot record a webhook attempt", metadata: ["delivery.id": "\(d.id)", "error": "\(error)"])
        }
        // Only now (the outcome is recorded) is the rest of the answer read and dropped: at most
        // 64 KiB within the attempt's deadline.
        if let answer {
            _ = try? await answer.response.body.collect(upTo: 64 << 10)
            if let own = answer.ownClient { try? await own.shutdown() }
        }
        metrics.record(delivered: ok, dead: !ok && retryAt == nil)
        let level: Logger.Level = ok ? .info : (retryAt == nil ? .error : .warning)
        logger.log(level: level, ok ? "webhook delivered" : (retryAt == nil ? "webhook delivery dead after its last attempt" : "webhook delivery failed; will retry"), metadata: [
            "webhook.id": "\(d.webhookID)", "event.id": "\(d.eventID)", "delivery.id": "\(d.id)", "attempt": "\(number)", "probe": "\(probe)",
            "status": "\(statusCode.map(String.init) ?? "-")", "error": "\(error ?? "")",
        ])
    }

    struct DeliveryRefused: Error {
        var message: String
    }

    /// The response head of an attempt, and the client made for it when the address was pinned.
    struct Answer: Sendable {
        var response: HTTPClientResponse
        var ownClient: HTTPClient?
    }

    /// Resolves the URL's host once, checks every address (unless private targets are allowed),
    /// and posts the signed body to the checked address; returns at the response head.
    func send(_ due: DueDelivery, attempt: Int, at nowMs: Int64, client: HTTPClient) async throws -> Answer {
        let allowPrivate = settings.allowPrivateTargets
        let parsed: WebhookTarget.Parsed
        do {
            parsed = try WebhookTarget.validate(due.url, allowPrivate: true)
        } catch {
            throw DeliveryRefused(message: "refused: \(error.message)")
        }
        let host = parsed.host
        let pinned = await blockingValue { () -> (address: String?, refusal: String?) in
            do throws(WebhookTarget.Refusal) {
                return (try WebhookTarget.pin(host: host, allowPrivate: allowPrivate), nil)
            } catch {
                return (nil, error.message)
            }
        }
        guard let address = pinned.address else { throw DeliveryRefused(message: "refused: \(pinned.refusal ?? host)") }
        if !allowPrivate {
            do {
                _ = try WebhookTarget.validate(due.url, allowPrivate: false)
            } catch {
                throw DeliveryRefused(message: "refused: \(error.message)")
            }
        }
        // A name is connected to the address just checked (AsyncHTTPClient keeps the name for the
        // Host header and TLS SNI); an IP literal needs no pinning.
        var sender = client
        var ownClient: HTTPClient?
        if WebhookTarget.ipBytes(host) == nil {
            var config = clientConfiguration
            let urlHost = URLComponents(string: due.url)?.host ?? host
            config.dnsOverride = [host: address]
            config.dnsOverride[urlHost] = address
            let own = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            sender = own
            ownClient = own
        }
        let body = Array(due.body.utf8)
        var request = HTTPClientRequest(url: due.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "tokentra-webhooks/1")
        request.headers.add(name: WebhookSigner.signatureHeader, value: WebhookSigner.signatureHeader(body: body, secret: due.secret))
        request.headers.add(name: WebhookSigner.eventIDHeader, value: due.delivery.eventID)
        request.headers.add(name: WebhookSigner.eventTypeHeader, value: due.delivery.eventType)
        request.headers.add(name: WebhookSigner.timestampHeader, value: String(nowMs / 1000))
        request.headers.add(name: WebhookSigner.deliveryIDHeader, value: String(due.delivery.id))
        request.headers.add(name: WebhookSigner.attemptHeader, value: String(attempt))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await sender.execute(request, timeout: .milliseconds(settings.timeoutMs))
            return Answer(response: response, ownClient: ownClient)
        } catch {
            try? await ownClient?.shutdown()
            throw error
        }
    }
}

/// Runs blocking work (SQLite, getaddrinfo) on a Dispatch thread, off the cooperative pool.
func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        DispatchQueue.global().async { c.resume(with: Result { try work() }) }
    }
}

func blockingValue<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in
        DispatchQueue.global().async { c.resume(returning: work()) }
    }
}
