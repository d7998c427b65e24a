import Prometheus

/// The `/metrics` text: the registry's exposition with a `# HELP` line before every family.
///
/// swift-metrics has no place for help text, so the Prometheus factory registers every family
/// without one; ``MetricsExposition/render(_:)`` inserts `# HELP name text` from ``help`` before
/// each `# TYPE name ...` line. Every family the daemon exports must have an entry here (a test
/// runs `promtool check metrics`, which reports a family without help text).
enum MetricsExposition {
    /// Help text by Prometheus family name (after the factory's dot → underscore rewrite).
    static let help: [String: String] = [
        "tokentra_build_info": "Always 1; the version and commit of the running binary as labels.",
        "tokentra_ingest_events_total": "Events received over HTTP, by result (stored, duplicate, rejected) and rejection reason.",
        "tokentra_ingest_batch_size": "Events per ingest request.",
        "tokentra_ingest_ack_duration_seconds": "Time from request received to its events durable in the WAL.",
        "tokentra_ingest_storage_full_total": "Ingest requests rejected because the disk was full.",
        "tokentra_wal_fsyncs_total": "fsync calls on the write-ahead log.",
        "tokentra_wal_fsync_seconds_total": "Time spent in fsync on the write-ahead log.",
        "tokentra_wal_written_bytes_total": "Bytes written to the write-ahead log.",
        "tokentra_wal_last_fsync_seconds": "Duration of the most recent WAL fsync.",
        "tokentra_store_unsealed_events": "Acknowledged events not yet sealed into segments.",
        "tokentra_segments": "Live segment files.",
        "tokentra_segment_bytes": "Bytes in live segment files.",
        "tokentra_segment_rows": "Events in live segment files.",
        "tokentra_segments_quarantined": "Segment files quarantined after a failed checksum.",
        "tokentra_dedup_cached_ids": "Request ids held in the in-memory dedup cache.",
        "tokentra_dedup_cached_partitions": "(org, UTC day) partitions whose request ids are in the dedup cache.",
        "tokentra_dedup_memory_bytes": "Memory used by the dedup cache.",
        "tokentra_memtable_bytes": "Memory used by unsealed events.",
        "tokentra_job_duration_seconds": "Duration of scheduled jobs, by job.",
        "tokentra_job_runs_total": "Scheduled job runs, by job and result (ok, error, skipped).",
        "tokentra_rollup_lag_seconds": "Age of the oldest dirty bucket waiting for its rollup.",
        "tokentra_rollup_pending_buckets": "Dirty hourly/daily buckets waiting for their rollup.",
        "tokentra_retention_freed_bytes_total": "Bytes of segment files deleted by retention.",
        "tokentra_retention_segments_deleted_total": "Segment files deleted by retention.",
        "tokentra_retention_last_success_timestamp_seconds": "Unix time of the last successful retention run.",
        "tokentra_http_requests_total": "HTTP requests answered, by route, method and status.",
        "tokentra_http_request_duration_seconds": "HTTP request duration, by route.",
        "tokentra_otlp_spans_total": "OTLP spans received on /v1/traces, by result (stored, duplicate, skipped, rejected) and reason.",
        "tokentra_otlp_requests_total": "OTLP export requests on /v1/traces, by result (ok, partial, invalid).",
        "tokentra_webhook_deliveries_total": "Webhook delivery attempts, by result (delivered, failed = will retry, dead).",
        "tokentra_webhook_outbox_depth": "Webhook deliveries waiting in the outbox (pending).",
        "tokentra_webhook_outbox_oldest_pending_age_seconds": "Age of the oldest pending webhook delivery (0 when none).",
        "tokentra_webhook_outbox_dead": "Webhook deliveries that used every attempt (dead letters).",
    ]

    /// The registry's text with `# HELP` lines added.
    static func render(_ registry: PrometheusCollectorRegistry) -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity(16 * 1024)
        registry.emit(into: &raw)
        var out: [UInt8] = []
        out.reserveCapacity(raw.count + 4096)
        let typePrefix = Array("# TYPE ".utf8)
        var lineStart = 0
        while lineStart < raw.count {
            var lineEnd = lineStart
            while lineEnd < raw.count && raw[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let line = raw[lineStart..<lineEnd]
            if line.starts(with: typePrefix) {
                let rest = line.dropFirst(typePrefix.count)
                let name = String(decoding: rest.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                if let text = help[name] {
                    out.append(contentsOf: "# HELP \(name) \(text)\n".utf8)
                }
            }
            out.append(contentsOf: line)
            out.append(UInt8(ascii: "\n"))
            lineStart = lineEnd + 1
        }
        return out
    }
}
