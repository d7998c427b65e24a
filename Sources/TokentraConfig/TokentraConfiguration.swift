import TokentraCore

/// Everything `tokentra serve` can be configured with. Every field has a default; see
/// ``ConfigurationKey/all`` for the file keys, environment variables and flags that set them
/// (precedence: flag > environment > config file > default).
public struct TokentraConfiguration: Sendable, Equatable {
    // storage
    /// `data_dir`: the data directory (segments, WAL, index).
    public var dataDirectory = "./data"
    /// `storage.seal_interval_seconds`: how often fresh events are sealed into segments.
    public var sealIntervalSeconds = 60
    /// `storage.memtable_event_limit`: seal early once this many events are unsealed.
    public var memtableEventLimit = 100_000

    // server
    /// `server.host`: listen address.
    public var host = "127.0.0.1"
    /// `server.port`: listen port (0 picks a free port).
    public var port = 8080
    /// `server.idle_timeout_seconds`: a connection with no traffic for this long is closed.
    public var idleTimeoutSeconds = 60
    /// `server.body_timeout_seconds`: a request body must arrive completely within this time (408).
    public var bodyTimeoutSeconds = 10
    /// `server.shutdown_timeout_seconds`: maximum time for a graceful shutdown (drain + WAL flush).
    public var shutdownTimeoutSeconds = 25

    // ingest
    /// `ingest.max_batch_events`: events per request (`BATCH_TOO_LARGE` above).
    public var maxBatchEvents = 100
    /// `ingest.max_body_bytes`: request body size as sent (413 above).
    public var maxBodyBytes = 1 << 20
    /// `ingest.max_decompressed_bytes`: size of a gzip body once inflated (413 above).
    public var maxDecompressedBytes = 8 << 20
    /// `ingest.max_event_age_days`: -1 (default) = each org's raw retention horizon; N > 0 replaces
    /// it with N days for every org; 0 accepts any age (like `tokentra ingest --max-age-days`).
    public var maxEventAgeDays = -1

    // OTLP
    /// `otlp.*_attributes`: which span/resource attributes feed the event fields of OTLP spans.
    public var otlpMapping = OTLPAttributeMapping()

    // rate limits and keys
    /// `rate_limit.per_minute`: default requests per key per minute (0 = unlimited).
    public var rateLimitPerMinute: Int64 = 6_000
    /// `rate_limit.per_day`: default requests per key per UTC day (0 = unlimited).
    public var rateLimitPerDay: Int64 = 1_000_000
    /// `auth.key_refresh_seconds`: how often API keys are re-read from the index.
    public var keyRefreshSeconds = 2

    // jobs
    /// `rollup.interval_seconds`: how often dirty buckets are rolled up.
    public var rollupIntervalSeconds = 60
    /// `rollup.hourly_minute`: minute of every hour of the full hourly rollup.
    public var hourlyRollupMinute = 5
    /// `rollup.daily_time`: UTC time (HH:MM) of the daily rollup.
    public var dailyRollupTime = TimeOfDay(hour: 0, minute: 15)
    /// `retention.time`: UTC time (HH:MM) of the retention job.
    public var retentionTime = TimeOfDay(hour: 2, minute: 0)

    // readiness
    /// `readiness.min_free_bytes`: /readyz fails when the data directory's filesystem has less free space.
    public var readinessMinFreeBytes: Int64 = 256 << 20
    /// `readiness.max_rollup_lag_seconds`: /readyz fails when a dirty bucket has waited longer.
    public var readinessMaxRollupLagSeconds = 900

    // webhooks
    /// `webhooks.allow_private_targets`: allow endpoints on loopback/private/link-local addresses.
    public var webhookAllowPrivateTargets = false
    /// `webhooks.max_attempts`: attempts per delivery before it is dead.
    public var webhookMaxAttempts = 14
    /// `webhooks.backoff_base_ms`: first retry delay (doubles per attempt, ±20 % jitter).
    public var webhookBackoffBaseMs: Int64 = 30_000
    /// `webhooks.backoff_max_ms`: longest retry delay.
    public var webhookBackoffMaxMs: Int64 = 14_400_000
    /// `webhooks.timeout_ms`: per-attempt timeout.
    public var webhookTimeoutMs: Int64 = 10_000

    // logging
    /// `log.level`: trace, debug, info, notice, warning, error, critical.
    public var logLevel = "info"
    /// `log.format`: `text` (swift-log's one-line text) or `json` (one JSON object per line, TokentraHTTP's `JSONLogHandler`).
    public var logFormat = "text"

    public init() {}
}

/// A UTC time of day, `HH:MM`.
public struct TimeOfDay: Sendable, Hashable, CustomStringConvertible {
    public var hour: Int
    public var minute: Int
    public init(hour: Int, minute: Int) {
        self.hour = hour
        self.minute = minute
    }

    /// Parses `HH:MM` (00:00 to 23:59).
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
            (0...23).contains(h), (0...59).contains(m)
        else { return nil }
        hour = h
        minute = m
    }

    public var description: String {
        (hour < 10 ? "0" : "") + String(hour) + ":" + (minute < 10 ? "0" : "") + String(minute)
    }
}
