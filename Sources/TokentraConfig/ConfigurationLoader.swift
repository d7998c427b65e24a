import Foundation
import TOMLKit
import TokentraCore

/// One configuration setting: its key in the TOML file, its environment variable, its flag (if
/// any), its default and what it does. ``all`` is the single source of truth for the README table
/// (a test checks that the README lists every key with its default).
public struct ConfigurationKey: Sendable {
    public enum Kind: String, Sendable {
        case string, integer, boolean, timeOfDay = "time (HH:MM, UTC)"
    }

    /// Dotted TOML key (`server.port`).
    public let key: String
    public let kind: Kind
    /// What it does (one line).
    public let help: String
    /// The command-line flag of `tokentra serve`, if any.
    public let flag: String?
    let read: @Sendable (TokentraConfiguration) -> String
    let apply: @Sendable (inout TokentraConfiguration, String) -> Bool

    /// `TOKENTRA_` + the key in upper case with `.` replaced by `_` (`TOKENTRA_SERVER_PORT`).
    public var environmentVariable: String {
        "TOKENTRA_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// The default value, as text.
    public var defaultValue: String { read(TokentraConfiguration()) }

    static func int(
        _ key: String, _ path: any WritableKeyPath<TokentraConfiguration, Int> & Sendable, min: Int, max: Int = .max, flag: String? = nil,
        _ help: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            key: key, kind: .integer, help: help, flag: flag, read: { String($0[keyPath: path]) },
            apply: { c, text in
                guard let v = Int(text), v >= min, v <= max else { return false }
                c[keyPath: path] = v
                return true
            })
    }

    static func int64(
        _ key: String, _ path: any WritableKeyPath<TokentraConfiguration, Int64> & Sendable, min: Int64, _ help: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            key: key, kind: .integer, help: help, flag: nil, read: { String($0[keyPath: path]) },
            apply: { c, text in
                guard let v = Int64(text), v >= min else { return false }
                c[keyPath: path] = v
                return true
            })
    }

    static func time(_ key: String, _ path: any WritableKeyPath<TokentraConfiguration, TimeOfDay> & Sendable, _ help: String) -> ConfigurationKey {
        ConfigurationKey(
            key: key, kind: .timeOfDay, help: help, flag: nil, read: { $0[keyPath: path].description },
            apply: { c, text in
                guard let t = TimeOfDay(text) else { return false }
                c[keyPath: path] = t
                return true
            })
    }

    /// A comma-separated list of attribute names (no empty names, no spaces); `""` is the empty list.
    static func attributes(_ key: String, _ path: any WritableKeyPath<TokentraConfiguration, [String]> & Sendable, _ help: String) -> ConfigurationKey {
        ConfigurationKey(
            key: key, kind: .string, help: help, flag: nil, read: { $0[keyPath: path].joined(separator: ",") },
            apply: { c, text in
                if text.isEmpty { c[keyPath: path] = []; return true }
                let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard names.allSatisfy({ !$0.isEmpty && !$0.contains(" ") && $0.utf8.count <= 255 }) else { return false }
                c[keyPath: path] = names
                return true
            })
    }

    /// Every key, in README order.
    public static let all: [ConfigurationKey] = [
        ConfigurationKey(
            key: "data_dir", kind: .string, help: "Data directory: segments, WAL, SQLite index (created if missing).",
            flag: "--data-dir", read: { $0.dataDirectory },
            apply: { c, t in
                guard !t.isEmpty else { return false }
                c.dataDirectory = t
                return true
            }),
        ConfigurationKey(
            key: "server.host", kind: .string, help: "Listen address (use 0.0.0.0 or :: to listen on every interface).",
            flag: "--host", read: { $0.host },
            apply: { c, t in
                guard !t.isEmpty else { return false }
                c.host = t
                return true
            }),
        int("server.port", \.port, min: 0, max: 65535, flag: "--port", "Listen port (0 picks a free port, logged at start)."),
        int("server.idle_timeout_seconds", \.idleTimeoutSeconds, min: 1,
            "A connection that sends nothing for this long (between requests or in the middle of one) is closed."),
        int("server.body_timeout_seconds", \.bodyTimeoutSeconds, min: 1,
            "Read timeout: a request body must arrive completely within this time, else 408 REQUEST_TIMEOUT."),
        int("server.shutdown_timeout_seconds", \.shutdownTimeoutSeconds, min: 1,
            "Maximum graceful shutdown time (drain requests, stop jobs, seal, close the WAL); keep below systemd's TimeoutStopSec."),
        int("ingest.max_batch_events", \.maxBatchEvents, min: 1, max: 100_000,
            "Maximum events per POST /api/v1/sdk/ingest request (400 BATCH_TOO_LARGE above)."),
        int("ingest.max_body_bytes", \.maxBodyBytes, min: 1024, "Maximum request body size as sent (413 PAYLOAD_TOO_LARGE above)."),
        int("ingest.max_decompressed_bytes", \.maxDecompressedBytes, min: 1024,
            "Maximum size of a gzip request body after decompression (413 PAYLOAD_TOO_LARGE above)."),
        int("ingest.max_event_age_days", \.maxEventAgeDays, min: -1,
            "-1: events before their org's raw retention horizon are rejected with TIMESTAMP_TOO_OLD (as `tokentra ingest` does); N > 0: N days for every org instead; 0: any age."),
        attributes("otlp.feature_attributes", \.otlpMapping.feature, "OTLP spans: attributes (span first, then resource; first found wins) giving the event's feature."),
        attributes("otlp.team_attributes", \.otlpMapping.team, "OTLP spans: attributes giving the event's team."),
        attributes("otlp.project_attributes", \.otlpMapping.project, "OTLP spans: attributes giving the event's project."),
        attributes("otlp.cost_center_attributes", \.otlpMapping.costCenter, "OTLP spans: attributes giving the event's cost_center."),
        attributes("otlp.user_id_attributes", \.otlpMapping.userID, "OTLP spans: attributes giving the event's user_id."),
        attributes("otlp.environment_attributes", \.otlpMapping.environment, "OTLP spans: attributes giving the event's environment."),
        attributes("otlp.skipped_operations", \.otlpMapping.skippedOperations,
                   "OTLP spans: gen_ai.operation.name values that are skipped (not model calls, or sums of the model calls below them)."),
        int64("rate_limit.per_minute", \.rateLimitPerMinute, min: 0,
              "Default requests per API key per minute (0: unlimited); a key's own limit overrides it."),
        int64("rate_limit.per_day", \.rateLimitPerDay, min: 0,
              "Default requests per API key per UTC day (0: unlimited); a key's own limit overrides it."),
        int("auth.key_refresh_seconds", \.keyRefreshSeconds, min: 1,
            "How often API keys are re-read from the index (new keys also work at once; revocations take effect within this time)."),
        int("storage.seal_interval_seconds", \.sealIntervalSeconds, min: 1, "How often acknowledged events are sealed into segments."),
        int("storage.memtable_event_limit", \.memtableEventLimit, min: 1000, "Seal early once this many events are unsealed."),
        int("rollup.interval_seconds", \.rollupIntervalSeconds, min: 1, "How often dirty hourly/daily buckets are rolled up."),
        int("rollup.hourly_minute", \.hourlyRollupMinute, min: 0, max: 59, "Minute of every hour at which the hourly rollup runs."),
        time("rollup.daily_time", \.dailyRollupTime, "UTC time at which the daily rollup runs."),
        time("retention.time", \.retentionTime, "UTC time at which the retention job runs."),
        int64("readiness.min_free_bytes", \.readinessMinFreeBytes, min: 0,
              "/readyz reports not ready when the data directory's filesystem has less free space than this."),
        int("readiness.max_rollup_lag_seconds", \.readinessMaxRollupLagSeconds, min: 1,
            "/readyz reports not ready when a dirty bucket has waited longer than this for its rollup."),
        ConfigurationKey(
            key: "webhooks.allow_private_targets", kind: .boolean,
            help: "Allow webhook URLs on loopback, private, link-local and other non-public addresses (SSRF protection is on by default).",
            flag: nil, read: { $0.webhookAllowPrivateTargets ? "true" : "false" },
            apply: { c, t in
                guard t == "true" || t == "false" else { return false }
                c.webhookAllowPrivateTargets = t == "true"
                return true
            }),
        int("webhooks.max_attempts", \.webhookMaxAttempts, min: 1, max: 100, "Attempts per webhook delivery before it is dead (14: retries span about 24 h)."),
        int64("webhooks.backoff_base_ms", \.webhookBackoffBaseMs, min: 1, "First webhook retry delay; doubles per attempt up to webhooks.backoff_max_ms, with ±20 % jitter."),
        int64("webhooks.backoff_max_ms", \.webhookBackoffMaxMs, min: 1, "Longest webhook retry delay."),
        int64("webhooks.timeout_ms", \.webhookTimeoutMs, min: 1, "Per-attempt webhook timeout (connect and response)."),
        ConfigurationKey(
            key: "log.level", kind: .string, help: "Log level: trace, debug, info, notice, warning, error, critical.",
            flag: "--log-level", read: { $0.logLevel },
            apply: { c, t in
                guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(t) else { return false }
                c.logLevel = t
                return true
            }),
        ConfigurationKey(
            key: "log.format", kind: .string,
            help: "Log line format on stderr: text, or json (one object per line: timestamp, level, label, message, metadata) for journald/Loki.",
            flag: "--log-format", read: { $0.logFormat },
            apply: { c, t in
                guard ["text", "json"].contains(t) else { return false }
                c.logFormat = t
                return true
            }),
    ]
}

/// Where a setting's value came from.
public enum ConfigurationSource: String, Sendable {
    case `default`, file, environment, flag
}

/// A configuration problem: names the key, the source and the bad value.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Builds a ``TokentraConfiguration`` from the defaults, a TOML file, `TOKENTRA_*` environment
/// variables and command-line flags, in increasing order of precedence.
///
/// ```swift
/// let loaded = try ConfigurationLoader.load(
///     file: "/etc/tokentra/tokentra.toml",
///     environment: ProcessInfo.processInfo.environment,
///     flags: ["server.port": "9090"])
/// print(loaded.configuration.port, loaded.sources["server.port"]!)   // 9090 flag
/// ```
public enum ConfigurationLoader {
    /// The resolved configuration and where each value came from.
    public struct Loaded: Sendable {
        public var configuration: TokentraConfiguration
        public var sources: [String: ConfigurationSource]
    }

    /// - Parameters:
    ///   - file: path of a TOML file, or `nil`.
    ///   - environment: the process environment (only `TOKENTRA_*` variables of known keys are read).
    ///   - flags: values given on the command line, by dotted key.
    /// - Throws: ``ConfigurationError`` for an unreadable or invalid file, an unknown file key or a bad value.
    public static func load(file: String?, environment: [String: String], flags: [String: String]) throws -> Loaded {
        var fileValues: [String: String] = [:]
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ConfigurationError("cannot read config file \(file): \(error.localizedDescription)")
            }
            fileValues = try parseTOML(text, name: file)
        }
        return try load(fileValues: fileValues, fileName: file ?? "", environment: environment, flags: flags)
    }

    /// As ``load(file:environment:flags:)`` with the file already flattened to dotted keys.
    public static func load(
        fileValues: [String: String], fileName: String = "config file", environment: [String: String], flags: [String: String]
    ) throws -> Loaded {
        var configuration = TokentraConfiguration()
        var sources: [String: ConfigurationSource] = [:]
        let known = Dictionary(uniqueKeysWithValues: ConfigurationKey.all.map { ($0.key, $0) })
        for key in fileValues.keys.sorted() where known[key] == nil {
            throw ConfigurationError("\(fileName): unknown key '\(key)' (known keys: \(ConfigurationKey.all.map(\.key).joined(separator: ", ")))")
        }
        for key in flags.keys.sorted() where known[key] == nil {
            throw ConfigurationError("unknown setting '\(key)'")
        }
        for k in ConfigurationKey.all {
            sources[k.key] = .default
            let layers: [(ConfigurationSource, String?, String)] = [
                (.file, fileValues[k.key], "\(fileName): \(k.key)"),
                (.environment, environment[k.environmentVariable], "environment variable \(k.environmentVariable)"),
                (.flag, flags[k.key], k.flag.map { "flag \($0)" } ?? k.key),
            ]
            for (source, value, origin) in layers {
                guard let value else { continue }
                guard k.apply(&configuration, value) else {
                    throw ConfigurationError("\(origin): invalid value '\(value)' (expected \(k.kind.rawValue); \(k.help))")
                }
                sources[k.key] = source
            }
        }
        return Loaded(configuration: configuration, sources: sources)
    }

    /// Parses TOML and flattens it to dotted keys with text values (`[server] port = 8080` →
    /// `server.port: "8080"`).
    /// - Throws: ``ConfigurationError`` with the parser's line and column.
    public static func parseTOML(_ text: String, name: String = "config file") throws -> [String: String] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError("\(name): \(error.description) at line \(error.source.begin.line), column \(error.source.begin.column)")
        }
        var out: [String: String] = [:]
        try flatten(table, prefix: "", into: &out, name: name)
        return out
    }

    static func flatten(_ table: TOMLTable, prefix: String, into out: inout [String: String], name: String) throws {
        for key in table.keys {
            guard let value = table[key] else { continue }
            let path = prefix.isEmpty ? key : prefix + "." + key
            switch value.type {
            case .table: try flatten(value.table!, prefix: path, into: &out, name: name)
            case .string: out[path] = value.string!
            case .int: out[path] = String(value.int!)
            case .bool: out[path] = value.bool! ? "true" : "false"
            case .double: out[path] = String(value.double!)
            default: throw ConfigurationError("\(name): \(path) has an unsupported type (\(value.type))")
            }
        }
    }

    /// The effective configuration as JSON: `{"server.port":{"value":"8080","source":"default"},...}`.
    public static func describe(_ loaded: Loaded) -> String {
        var w = JSONWriter()
        w.object { o in
            for k in ConfigurationKey.all {
                o.field(k.key, object: {
                    $0.field("value", k.read(loaded.configuration))
                    $0.field("source", loaded.sources[k.key]?.rawValue ?? "default")
                    $0.field("env", k.environmentVariable)
                })
            }
        }
        return w.text
    }

    /// A Markdown table of every key (for the README).
    public static func markdownTable() -> String {
        var out = "| key | env | flag | default | meaning |\n|---|---|---|---|---|\n"
        for k in ConfigurationKey.all {
            let d = k.defaultValue
            out += "| `\(k.key)` | `\(k.environmentVariable)` | \(k.flag.map { "`\($0)`" } ?? "") | `\(d)` | \(k.help) |\n"
        }
        return out
    }
}
