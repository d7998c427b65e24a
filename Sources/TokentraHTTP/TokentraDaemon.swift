import Alerts
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import Query
import Repricing
import Rollups
import SegmentStore
import ServiceLifecycle
import TokentraConfig
import TokentraCore
import UsageIndex
import UnixSignals

/// The daemon: the HTTP API, the job scheduler and the segment store, as one `ServiceGroup`.
///
/// Services are ordered by dependency: `[store, scheduler, webhook delivery, watchdog, http]`. On SIGTERM the group
/// shuts them down in reverse order: the HTTP server stops accepting, drains in-flight requests
/// (each answered only after its events are durable), then the scheduler stops, and the store
/// seals the memtable and closes the WAL last.
///
/// ``open(configuration:logger:registry:metrics:serverVersion:hooks:notifier:wallClock:)`` wires it
/// from the configuration, as `tokentra serve` and the in-process tests run it:
///
/// ```swift
/// let daemon = try await TokentraDaemon.open(configuration: config, logger: logger, registry: registry, metrics: metrics)
/// try await daemon.run()   // until SIGTERM/SIGINT
/// ```
public struct TokentraDaemon: Sendable {
    /// Work the daemon schedules that other modules provide.
    public struct Hooks: Sendable {
        /// The rollup (dirty buckets → hourly and daily rows); by default ``RollupEngine``.
        public var rollup: (@Sendable (_ nowMs: Int64) async throws -> Void)?
        /// The retention job; by default ``Retention/run(now:orgID:dryRun:)`` (the per-org
        /// policies of `tokentra retention set`).
        public var retention: (@Sendable (_ nowMs: Int64) async throws -> Void)?
        public init(rollup: (@Sendable (Int64) async throws -> Void)? = nil, retention: (@Sendable (Int64) async throws -> Void)? = nil) {
            self.rollup = rollup
            self.retention = retention
        }
    }

    public let configuration: TokentraConfiguration
    public let store: SegmentStore
    /// Retention: the raw horizon HTTP and OTLP ingest apply, and the retention job (the same
    /// component as `tokentra ingest` and `tokentra retention`).
    public let retention: Retention
    /// The raw retention horizon HTTP ingest applies.
    public var horizon: IngestHorizon { retention.horizon }
    public let state = DaemonState()
    public let metrics: TokentraMetrics
    public let registry: PrometheusCollectorRegistry?
    public let authenticator: APIKeyAuthenticator
    public let webhookMetrics: WebhookMetrics
    let decoder: EventDecoder
    let logger: Logger
    let serverVersion: String
    let hooks: Hooks
    let notifier: SystemdNotifier?
    let wallClock: WallClock

    /// - Parameters:
    ///   - configuration: the resolved configuration.
    ///   - store: the open store (recovery done).
    ///   - decoder: the event decoder (price table, age limit).
    ///   - registry: the Prometheus registry `/metrics` serves; `metrics` must report into it.
    ///   - metrics: the daemon's metrics (by default reporting to the global `MetricsSystem`).
    ///   - notifier: systemd notifications (`READY=1`, `WATCHDOG=1`, `STOPPING=1`); `nil` outside systemd.
    ///   - wallClock: "now" for every endpoint and job (the store has its own, from its configuration:
    ///     ``open(configuration:logger:registry:metrics:serverVersion:hooks:notifier:wallClock:)`` gives both the same).
    public init(
        configuration: TokentraConfiguration, store: SegmentStore, decoder: EventDecoder, logger: Logger,
        registry: PrometheusCollectorRegistry? = nil, metrics: TokentraMetrics = TokentraMetrics(), serverVersion: String = "dev",
        hooks: Hooks = Hooks(), notifier: SystemdNotifier? = nil,
        wallClock: @escaping WallClock = SystemClock.wallClock
    ) {
        self.configuration = configuration
        self.store = store
        // One retention rule for every way in: the org's raw horizon (IngestHorizon), not a decoder age limit.
        var decoder = decoder
        decoder.configuration.maxAgeMs = nil
        self.decoder = decoder
        self.retention = Retention(
            store: store, ingestOverrideDays: configuration.maxEventAgeDays >= 0 ? configuration.maxEventAgeDays : nil)
        self.logger = logger
        self.registry = registry
        self.metrics = metrics
        self.serverVersion = serverVersion
        self.hooks = hooks
        self.notifier = notifier
        self.wallClock = wallClock
        self.webhookMetrics = WebhookMetrics(factory: metrics.factory)
        self.authenticator = APIKeyAuthenticator(
            index: store.index, refreshIntervalMs: Int64(configuration.keyRefreshSeconds) * 1000,
            dataDirectory: URL(fileURLWithPath: store.configuration.dataDirectory).standardizedFileURL.path, logger: logger)
    }

    var ingestSettings: IngestSettings {
        var s = IngestSettings()
        s.maxBatchEvents = configuration.maxBatchEvents
        s.maxBodyBytes = configuration.maxBodyBytes
        s.maxDecompressedBytes = configuration.maxDecompressedBytes
        s.bodyTimeout = .seconds(Int64(configuration.bodyTimeoutSeconds))
        s.defaultLimits = .init(perMinute: configuration.rateLimitPerMinute, perDay: configuration.rateLimitPerDay)
        return s
    }

    /// Every endpoint, in registration order (the route table `schema/openapi.yaml` documents).
    public var routes: [RouteSpec] {
        let authorizer = Authorizer(
            keys: authenticator, limiter: limiter, defaultLimits: ingestSettings.defaultLimits, logger: logger)
        let ingest = IngestController(
            store: store, decoder: decoder, horizon: horizon, authorizer: authorizer, state: state, metrics: metrics, settings: ingestSettings,
            logger: logger, serverVersion: serverVersion, wallClock: wallClock)
        let otlp = OTLPController(
            mapper: GenAISpanMapper(mapping: configuration.otlpMapping, decoder: decoder), horizon: horizon, authorizer: authorizer,
            bodyReader: ingest.bodyReader, durable: ingest.durable, metrics: metrics, wallClock: wallClock)
        var readiness = ReadinessSettings()
        readiness.minFreeBytes = configuration.readinessMinFreeBytes
        readiness.maxRollupLagSeconds = configuration.readinessMaxRollupLagSeconds
        let health = HealthController(
            store: store, state: state, metrics: metrics, registry: registry, settings: readiness, logger: logger, wallClock: wallClock)
        var query = QueryController(engine: QueryEngine(index: store.index, dataDirectory: store.configuration.dataDirectory, wallClock: wallClock), authorizer: authorizer, logger: logger, wallClock: wallClock)
        query.snapshot = { [store] org, from, to in try await store.readSnapshot(orgID: org, fromMs: from, toMs: to) }
        var support = ManagementSupport(authorizer: authorizer, wallClock: wallClock)
        support.bodyTimeout = .seconds(Int64(configuration.bodyTimeoutSeconds))
        let calculator = budgetCalculator
        let budgets = BudgetController(support: support, index: store.index, calculator: calculator)
        let alerts = AlertController(support: support, index: store.index)
        let webhooks = WebhookController(support: support, index: store.index, settings: webhookSettings)
        let sdkConfig = SDKConfigController(
            support: support, index: store.index, calculator: calculator, priceTable: decoder.priceTable,
            maxBatchEvents: configuration.maxBatchEvents, maxBodyBytes: configuration.maxBodyBytes)
        let overview = OverviewController(
            authorizer: authorizer, sessions: overviewSessions,
            reporter: OverviewReporter(
                engine: QueryEngine(index: store.index, dataDirectory: store.configuration.dataDirectory, wallClock: wallClock), index: store.index,
                calculator: calculator, snapshot: { [store] org, from, to in try await store.readSnapshot(orgID: org, fromMs: from, toMs: to) }),
            logger: logger, wallClock: wallClock, bodyTimeout: .seconds(Int64(configuration.bodyTimeoutSeconds)))
        let catalog = PriceCatalog(dataDirectory: store.configuration.dataDirectory, index: store.index)
        let prices = RepricingController(support: support, catalog: catalog,
                                      repricer: Repricer(store: store, catalog: catalog, logger: logger))
        return ingest.routes + otlp.routes + health.routes + query.routes + sdkConfig.routes + budgets.routes + alerts.routes + webhooks.routes
            + prices.routes + overview.routes
    }

    /// Webhook delivery settings from the configuration.
    public var webhookSettings: WebhookSettings {
        var s = WebhookSettings()
        s.allowPrivateTargets = configuration.webhookAllowPrivateTargets
        s.maxAttempts = configuration.webhookMaxAttempts
        s.backoffBaseMs = configuration.webhookBackoffBaseMs
        s.backoffMaxMs = configuration.webhookBackoffMaxMs
        s.timeoutMs = configuration.webhookTimeoutMs
        return s
    }

    /// Budget spend from the rollups plus the store's raw tail (sealed but not rolled up, and unsealed events).
    var budgetCalculator: BudgetCalculator {
        let store = self.store
        return BudgetCalculator(
            engine: QueryEngine(index: store.index, dataDirectory: store.configuration.dataDirectory, wallClock: wallClock),
            rawTail: { org, from, to in try await store.readSnapshot(orgID: org, fromMs: from, toMs: to) })
    }

    /// The evaluation of budgets and alert rules the daemon runs after every rollup cycle.
    public var evaluator: NotificationEvaluator {
        NotificationEvaluator(index: store.index, calculator: budgetCalculator, attemptLimit: configuration.webhookMaxAttempts, logger: logger)
    }

    private let limiter = RateLimiter()
    /// Signed-in sessions of the overview page (in memory: a restart signs everybody out).
    private let overviewSessions = OverviewSessions()

    /// The router with every route and the error/metrics middleware.
    public func makeRouter() -> Router<TokentraRequestContext> {
        let routes = self.routes
        let router = Router(context: TokentraRequestContext.self)
        router.add(middleware: EdgeMiddleware(routes: routes, metrics: metrics, logger: logger))
        for route in routes {
            router.on(RouterPath(route.path), method: route.method) { request, context in try await route.handler(request, context) }
        }
        return router
    }

    /// The HTTP application (bound to the configured host and port).
    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public func makeApplication(onListening: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol
    {
        let server = HTTPServerBuilder.http1(
            configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))))
        return Application(
            router: makeRouter(),
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// The scheduled jobs: seal, rollups (periodic, hourly, daily), retention (after the daily rollup).
    public func makeJobs() -> [ScheduledJob] {
        let store = self.store
        let logger = self.logger
        // One core fewer than the machine has, and the rows written in short transactions: a
        // backlog (the first start after a bulk import of 30 days) computed on every core starved
        // the store's actor, and its one long transaction held back every seal's commit, so the
        // memtable filled and acks waited for the whole run (seconds).
        let rollupParallelism = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
        let rollupOnly: @Sendable (Int64) async throws -> Void = hooks.rollup ?? { now in
            _ = try await RollupEngine(store: store, logger: logger, parallelism: rollupParallelism, commitSlice: .milliseconds(200),
                                       wallClock: wallClock).run(now: now)
        }
        // Budgets and alerts are evaluated in one place, after every rollup cycle; then each webhook
        // endpoint in backoff gets one probe (its oldest pending delivery is made due now).
        // Not probed: an endpoint whose regular retry comes within one cycle anyway.
        let evaluator = self.evaluator
        let index = store.index
        let cycleMs = Int64(configuration.rollupIntervalSeconds) * 1000
        let rollup: @Sendable (Int64) async throws -> Void = { now in
            do {
                try await rollupOnly(now)
                _ = try await evaluator.run(nowMs: now)
            } catch {
                _ = try? index.scheduleProbes(now: now, minWaitMs: cycleMs)
                throw error
            }
            try index.scheduleProbes(now: now, minWaitMs: cycleMs)
        }
        let metrics = self.metrics
        let component = self.retention
        let retention: @Sendable (Int64) async throws -> Void = hooks.retention ?? { now in
            // Also refreshes the ingest horizon: days whose raw data just went are refused from now on (RAW_DATA_RETIRED).
            let outcomes = try await component.run(now: now, dryRun: false)
            metrics.recordRetention(bytesFreed: outcomes.reduce(0) { $0 + $1.bytes },
                                    segmentsDeleted: outcomes.reduce(0) { $0 + $1.segmentFiles.count }, at: now)
        }
        return [
            ScheduledJob(name: "seal", schedule: .every(seconds: configuration.sealIntervalSeconds)) { _ in
                _ = try await store.flush()
            },
            ScheduledJob(name: "rollup", schedule: .every(seconds: configuration.rollupIntervalSeconds), group: "rollup", action: rollup),
            ScheduledJob(name: "rollup-hourly", schedule: .hourly(minute: configuration.hourlyRollupMinute), group: "rollup", action: rollup),
            ScheduledJob(name: "rollup-daily", schedule: .daily(configuration.dailyRollupTime), group: "rollup", action: rollup),
            ScheduledJob(name: "retention", schedule: .daily(configuration.retentionTime), action: retention),
        ]
    }

    /// The services in dependency order: store, scheduler, watchdog (under systemd), HTTP.
    public func makeServices(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service] {
        let notifier = self.notifier
        let state = self.state
        let logger = self.logger
        let app = makeApplication { port in
            logger.info("tokentra is listening", metadata: ["server.port": "\(port)", "server.host": "\(configuration.host)"])
            notifier?.notify("READY=1\nSTATUS=listening on \(configuration.host):\(port)")
            await onListening(port)
        }
        var services: [any Service] = [
            SegmentStoreService(store: store, state: state, logger: logger),
            JobScheduler(
                jobs: makeJobs(), clock: ContinuousClock(), wallClock: wallClock, ledger: IndexJobRunLedger(index: store.index),
                metrics: metrics, logger: logger),
        ]
        services.append(WebhookDeliveryService(
            index: store.index, settings: webhookSettings, metrics: webhookMetrics, logger: logger, wallClock: wallClock))
        if let notifier, let interval = notifier.watchdogInterval {
            services.append(SystemdWatchdogService(notifier: notifier, interval: interval, clock: ContinuousClock()) {
                state.isStoreOpen || state.isStopping
            })
        }
        services.append(HTTPServerService(app: app, state: state, notifier: notifier, logger: logger))
        return services
    }

    /// The service group; `gracefulShutdownSignals` empty for tests (use `triggerGracefulShutdown()`).
    public func makeServiceGroup(
        gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint], onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> ServiceGroup {
        var config = ServiceGroupConfiguration(
            services: makeServices(onListening: onListening).map { .init(service: $0) },
            gracefulShutdownSignals: gracefulShutdownSignals, logger: logger)
        config.maximumGracefulShutdownDuration = .seconds(configuration.shutdownTimeoutSeconds)
        // After a failed graceful shutdown, services get this long to react to cancellation before
        // the process aborts (swift-service-lifecycle's fatalError). Generous: on a loaded 2-core
        // machine a service blocked in an fsync can take seconds, and aborting loses nothing the
        // WAL holds but fails every other daemon sharing the process (the in-process tests).
        config.maximumCancellationDuration = .seconds(30)
        return ServiceGroup(configuration: config)
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully.
    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await makeServiceGroup(onListening: onListening).run()
    }
}
