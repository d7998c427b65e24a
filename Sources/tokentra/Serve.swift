import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import SegmentStore
import TokentraConfig
import TokentraCore
import TokentraHTTP

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: HTTP ingest API, health and metrics endpoints, scheduled seals and rollups.",
        discussion: """
            Settings come from flags, then TOKENTRA_* environment variables, then the TOML file given \
            with --config (or TOKENTRA_CONFIG), then defaults; --print-config shows the result. \
            SIGTERM/SIGINT drain in-flight requests, seal the WAL and exit 0. Under systemd \
            (Type=notify) it sends READY=1 once recovered and listening, WATCHDOG=1 pings and STOPPING=1.
            """)

    @Option(name: .customLong("data-dir"), help: "Data directory (env TOKENTRA_DATA_DIR; default ./data).")
    var dataDir: String?
    @Option(help: "Listen address (env TOKENTRA_SERVER_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Listen port (env TOKENTRA_SERVER_PORT; default 8080; 0 picks a free port).") var port: String?
    @Option(help: "TOML configuration file (env TOKENTRA_CONFIG).") var config: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env TOKENTRA_LOG_LEVEL; default info).")
    var logLevel: String?
    @Option(help: "Log format: text or json (env TOKENTRA_LOG_FORMAT; default text).")
    var logFormat: String?
    @Flag(help: "Print the effective configuration (value and source of every setting) as JSON and exit.")
    var printConfig = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var flags: [String: String] = [:]
        flags["data_dir"] = dataDir
        flags["server.host"] = host
        flags["server.port"] = port
        flags["log.level"] = logLevel
        flags["log.format"] = logFormat
        let loaded: ConfigurationLoader.Loaded
        do {
            loaded = try ConfigurationLoader.load(file: config ?? environment["TOKENTRA_CONFIG"], environment: environment, flags: flags)
        } catch let error as ConfigurationError {
            throw ToolError(error.description)
        }
        if printConfig {
            print(ConfigurationLoader.describe(loaded))
            return
        }
        let settings = loaded.configuration
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        if settings.logFormat == "json" {
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        } else {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let registry = PrometheusCollectorRegistry()
        let factory = TokentraMetrics.makePrometheusFactory(registry: registry)
        MetricsSystem.bootstrap(factory)
        let metrics = TokentraMetrics(factory: factory)
        let logger = Logger(label: "tokentra")

        let dir = settings.dataDirectory
        let notifier = SystemdNotifier.fromEnvironment()
        let daemon: TokentraDaemon
        do {
            daemon = try await TokentraDaemon.open(
                configuration: settings, logger: logger, registry: registry, metrics: metrics, serverVersion: BuildInfo.version,
                notifier: notifier)
        } catch let error as ConfigurationError {
            throw ToolError(error.description)
        }
        let store = daemon.store
        let recovered = await store.unsealedCount
        logger.info("storage open", metadata: [
            "data_dir": "\(dir)", "wal.replayed_events": "\(recovered)", "version": "\(BuildInfo.version)", "commit": "\(BuildInfo.commit)",
        ])
        do {
            let host = settings.host
            try await daemon.run { port in
                // One line on stdout for scripts and tests (the logs go to stderr).
                FileHandle.standardOutput.write(Data("tokentra listening on http://\(host.contains(":") ? "[\(host)]" : host):\(port)\n".utf8))
            }
        } catch {
            // The store service closes the store on the way out; make sure of it when startup failed.
            await store.close()
            throw ToolError("serve failed: \(error)")
        }
        logger.info("tokentra stopped cleanly")
    }
}
