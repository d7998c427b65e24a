import Logging
import Prometheus
import Repricing
import SegmentStore
import TokentraConfig
import TokentraCore

extension TokentraDaemon {
    /// Opens the store of `configuration.dataDirectory` and wires the daemon on it: the one wiring
    /// `tokentra serve` and the in-process tests run.
    ///
    /// The store predicts costs from the data directory's current price table (`prices.json`, else
    /// the built-in one), which also prices events that come without costs; it seals at
    /// `storage.memtable_event_limit` events, compacts after every seal and preloads the dedup state
    /// of the last two UTC days. The decoder applies no age limit of its own: ingestion applies each
    /// org's raw horizon (``Retention/horizon``). Store and daemon read the same `wallClock`.
    ///
    /// ```swift
    /// let daemon = try await TokentraDaemon.open(configuration: loaded.configuration, logger: logger, registry: registry,
    ///                                            metrics: TokentraMetrics(factory: factory), serverVersion: BuildInfo.version)
    /// try await daemon.run()
    /// ```
    ///
    /// - Parameters:
    ///   - registry: the Prometheus registry `/metrics` serves; `metrics` must report into it.
    ///   - hooks: replacements for the rollup and retention jobs (tests); by default the real ones.
    ///   - notifier: systemd notifications; told `STATUS=recovering` before the store opens.
    ///   - wallClock: "now" for the store, every endpoint and every job.
    /// - Throws: ``ConfigurationError`` when the price table cannot be read; the store's error when it cannot be opened.
    public static func open(
        configuration: TokentraConfiguration, logger: Logger, registry: PrometheusCollectorRegistry, metrics: TokentraMetrics,
        serverVersion: String = "dev", hooks: Hooks = Hooks(), notifier: SystemdNotifier? = nil,
        wallClock: @escaping WallClock = SystemClock.wallClock
    ) async throws -> TokentraDaemon {
        let dir = configuration.dataDirectory
        let prices: PriceTable
        do {
            prices = try PriceCatalog.currentTable(dataDirectory: dir)
        } catch {
            throw ConfigurationError("cannot load price table \(dir)/prices.json: \(error)")
        }
        var storeConfig = SegmentStore.Configuration(dataDirectory: dir)
        storeConfig.predictCosts(from: prices)
        storeConfig.memtableEventLimit = configuration.memtableEventLimit
        storeConfig.compactAfterSeal = true
        storeConfig.preloadRecentDays = 2
        storeConfig.wallClock = wallClock
        var decoderConfig = EventDecoderConfiguration()
        decoderConfig.maxAgeMs = nil  // the daemon applies the org's raw horizon (Retention.horizon)
        notifier?.notify("STATUS=recovering \(dir)")
        let store = try await SegmentStore.open(configuration: storeConfig, logger: logger)
        return TokentraDaemon(
            configuration: configuration, store: store, decoder: EventDecoder(configuration: decoderConfig, priceTable: prices),
            logger: logger, registry: registry, metrics: metrics, serverVersion: serverVersion, hooks: hooks, notifier: notifier,
            wallClock: wallClock)
    }
}
