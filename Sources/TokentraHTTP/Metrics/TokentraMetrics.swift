import CoreMetrics
import Prometheus
import SegmentStore
import Synchronization
import TokentraCore

/// Every metric the daemon exports, created once from one `MetricsFactory`.
///
/// Names are dotted (`tokentra.ingest.events.total`); the Prometheus factory made by
/// ``makePrometheusFactory(registry:)`` turns the dots into underscores, so `/metrics` shows
/// `tokentra_ingest_events_total{result="stored"}`. Names follow the Prometheus naming guide:
/// counters end in `_total`, units are base units (`_seconds`, `_bytes`) before it; every family
/// needs help text in ``MetricsExposition/help``.
///
/// | metric | type | dimensions |
/// |---|---|---|
/// | `tokentra_build_info` | gauge (always 1) | `version`, `commit` |
/// | `tokentra_ingest_events_total` | counter | `result` (stored, duplicate, rejected), `reason` (error code for rejected) |
/// | `tokentra_ingest_batch_size` | histogram | |
/// | `tokentra_ingest_ack_duration_seconds` | histogram | (request received → durable in the WAL) |
/// | `tokentra_ingest_storage_full_total` | counter | |
/// | `tokentra_otlp_spans_total` | counter | `result` (stored, duplicate, skipped, rejected), `reason` (skip reason or error code) |
/// | `tokentra_otlp_requests_total` | counter | `result` (ok, partial, invalid) |
/// | `tokentra_wal_fsyncs_total`, `tokentra_wal_fsync_seconds_total`, `tokentra_wal_written_bytes_total` | counter | |
/// | `tokentra_wal_last_fsync_seconds` | gauge | |
/// | `tokentra_store_unsealed_events`, `tokentra_segments`, `tokentra_segment_bytes`, `tokentra_segment_rows` | gauge | |
/// | `tokentra_job_duration_seconds` | histogram | `job` |
/// | `tokentra_job_runs_total` | counter | `job`, `result` (ok, error, skipped) |
/// | `tokentra_rollup_lag_seconds`, `tokentra_rollup_pending_buckets` | gauge | |
/// | `tokentra_retention_freed_bytes_total`, `tokentra_retention_segments_deleted_total` | counter | |
/// | `tokentra_retention_last_success_timestamp_seconds` | gauge | |
/// | `tokentra_http_requests_total` | counter | `route`, `method`, `status` |
/// | `tokentra_http_request_duration_seconds` | histogram | `route` |
public final class TokentraMetrics: Sendable {
    let factory: any MetricsFactory
    let eventsStored: CoreMetrics.Counter
    let eventsDuplicate: CoreMetrics.Counter
    let rejected = Mutex<[String: CoreMetrics.Counter]>([:])
    let otlp = Mutex<[String: CoreMetrics.Counter]>([:])
    let batchSize: CoreMetrics.Recorder
    let ackDuration: CoreMetrics.Timer
    let storageFull: CoreMetrics.Counter
    let walFsyncs: CoreMetrics.Counter
    let walFsyncSeconds: CoreMetrics.FloatingPointCounter
    let walBytes: CoreMetrics.Counter
    let walLastFsync: CoreMetrics.Gauge
    let unsealed: CoreMetrics.Gauge
    let segments: CoreMetrics.Gauge
    let segmentBytes: CoreMetrics.Gauge
    let segmentRows: CoreMetrics.Gauge
    let quarantined: CoreMetrics.Gauge
    let dedupIDs: CoreMetrics.Gauge
    let dedupDays: CoreMetrics.Gauge
    let dedupBytes: CoreMetrics.Gauge
    let memtableBytes: CoreMetrics.Gauge
    let rollupLag: CoreMetrics.Gauge
    let rollupPending: CoreMetrics.Gauge
    let retentionBytesFreed: CoreMetrics.Counter
    let retentionSegmentsDeleted: CoreMetrics.Counter
    let retentionLastSuccess: CoreMetrics.Gauge
    let buildInfo: CoreMetrics.Gauge
    let jobs = Mutex<[String: (CoreMetrics.Timer, CoreMetrics.Counter, CoreMetrics.Counter, CoreMetrics.Counter)]>([:])
    let http = Mutex<[HTTPKey: CoreMetrics.Counter]>([:])
    let httpDurations = Mutex<[String: CoreMetrics.Timer]>([:])
    let lastWAL = Mutex<(fsyncs: Int, bytes: Int, nanoseconds: UInt64)>((0, 0, 0))

    struct HTTPKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        eventsStored = CoreMetrics.Counter(label: "tokentra.ingest.events.total", dimensions: [("result", "stored"), ("reason", "")], factory: factory)
        eventsDuplicate = CoreMetrics.Counter(label: "tokentra.ingest.events.total", dimensions: [("result", "duplicate"), ("reason", "")], factory: factory)
        batchSize = CoreMetrics.Recorder(label: "tokentra.ingest.batch.size", dimensions: [], aggregate: true, factory: factory)
        ackDuration = CoreMetrics.Timer(label: "tokentra.ingest.ack.duration.seconds", dimensions: [], factory: factory)
        storageFull = CoreMetrics.Counter(label: "tokentra.ingest.storage_full.total", dimensions: [], factory: factory)
        walFsyncs = CoreMetrics.Counter(label: "tokentra.wal.fsyncs.total", dimensions: [], factory: factory)
        walFsyncSeconds = CoreMetrics.FloatingPointCounter(label: "tokentra.wal.fsync.seconds.total", dimensions: [], factory: factory)
        walBytes = CoreMetrics.Counter(label: "tokentra.wal.written.bytes.total", dimensions: [], factory: factory)
        walLastFsync = CoreMetrics.Gauge(label: "tokentra.wal.last_fsync.seconds", dimensions: [], factory: factory)
        unsealed = CoreMetrics.Gauge(label: "tokentra.store.unsealed_events", dimensions: [], factory: factory)
        segments = CoreMetrics.Gauge(label: "tokentra.segments", dimensions: [], factory: factory)
        segmentBytes = CoreMetrics.Gauge(label: "tokentra.segment.bytes", dimensions: [], factory: factory)
        segmentRows = CoreMetrics.Gauge(label: "tokentra.segment.rows", dimensions: [], factory: factory)
        quarantined = CoreMetrics.Gauge(label: "tokentra.segments.quarantined", dimensions: [], factory: factory)
        dedupIDs = CoreMetrics.Gauge(label: "tokentra.dedup.cached_ids", dimensions: [], factory: factory)
        dedupDays = CoreMetrics.Gauge(label: "tokentra.dedup.cached_partitions", dimensions: [], factory: factory)
        dedupBytes = CoreMetrics.Gauge(label: "tokentra.dedup.memory.bytes", dimensions: [], factory: factory)
        memtableBytes = CoreMetrics.Gauge(label: "tokentra.memtable.bytes", dimensions: [], factory: factory)
        rollupLag = CoreMetrics.Gauge(label: "tokentra.rollup.lag.seconds", dimensions: [], factory: factory)
        rollupPending = CoreMetrics.Gauge(label: "tokentra.rollup.pending_buckets", dimensions: [], factory: factory)
        retentionBytesFreed = CoreMetrics.Counter(label: "tokentra.retention.freed.bytes.total", dimensions: [], factory: factory)
        retentionSegmentsDeleted = CoreMetrics.Counter(label: "tokentra.retention.segments_deleted.total", dimensions: [], factory: factory)
        retentionLastSuccess = CoreMetrics.Gauge(label: "tokentra.retention.last_success.timestamp.seconds", dimensions: [], factory: factory)
        buildInfo = CoreMetrics.Gauge(
            label: "tokentra.build_info", dimensions: [("version", BuildInfo.version), ("commit", BuildInfo.commit)], factory: factory)
        buildInfo.record(1)
    }

    /// Records a successful retention run: what it freed, and when (Unix seconds).
    public func recordRetention(bytesFreed: Int, segmentsDeleted: Int, at nowMs: Int64) {
        retentionBytesFreed.increment(by: Int64(bytesFreed))
        retentionSegmentsDeleted.increment(by: Int64(segmentsDeleted))
        retentionLastSuccess.record(Double(nowMs) / 1000)
    }

    /// A Prometheus factory for ``TokentraMetrics``: dots become underscores, and the batch size
    /// and duration histograms get buckets that fit them.
    public static func makePrometheusFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (name.replacingDots(), labels)
        }
        factory.valueHistogramBuckets["tokentra_ingest_batch_size"] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000]
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
            .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        return factory
    }

    // MARK: Ingest

    func recordBatch(size: Int, stored: Int, duplicates: Int, rejectedCodes: [String]) {
        batchSize.record(size)
        if stored > 0 { eventsStored.increment(by: stored) }
        if duplicates > 0 { eventsDuplicate.increment(by: duplicates) }
        guard !rejectedCodes.isEmpty else { return }
        var counts: [String: Int] = [:]
        for c in rejectedCodes { counts[c, default: 0] += 1 }
        for (code, n) in counts { rejectedCounter(code).increment(by: n) }
    }

    func rejectedCounter(_ reason: String) -> CoreMetrics.Counter {
        rejected.withLock { all in
            if let c = all[reason] { return c }
            let c = CoreMetrics.Counter(label: "tokentra.ingest.events.total", dimensions: [("result", "rejected"), ("reason", reason)], factory: factory)
            all[reason] = c
            return c
        }
    }

    // MARK: OTLP

    /// Counts the spans of one OTLP export request by outcome.
    func recordOTLPSpans(stored: Int, duplicates: Int, skipped: [String: Int], rejectedCodes: [String]) {
        if stored > 0 { otlpCounter("tokentra.otlp.spans.total", result: "stored").increment(by: stored) }
        if duplicates > 0 { otlpCounter("tokentra.otlp.spans.total", result: "duplicate").increment(by: duplicates) }
        for (reason, n) in skipped where n > 0 { otlpCounter("tokentra.otlp.spans.total", result: "skipped", reason: reason).increment(by: n) }
        var counts: [String: Int] = [:]
        for c in rejectedCodes { counts[c, default: 0] += 1 }
        for (code, n) in counts { otlpCounter("tokentra.otlp.spans.total", result: "rejected", reason: code).increment(by: n) }
    }

    /// Counts one OTLP export request: `ok`, `partial` (some spans rejected) or `invalid` (400).
    func recordOTLPRequest(_ result: String) {
        otlpCounter("tokentra.otlp.requests.total", result: result).increment()
    }

    func otlpCounter(_ label: String, result: String, reason: String? = nil) -> CoreMetrics.Counter {
        let id = label + "|" + result + "|" + (reason ?? "")
        return otlp.withLock { all in
            if let c = all[id] { return c }
            var dims = [("result", result)]
            if label.hasPrefix("tokentra.otlp.spans") { dims.append(("reason", reason ?? "")) }
            let c = CoreMetrics.Counter(label: label, dimensions: dims, factory: factory)
            all[id] = c
            return c
        }
    }

    // MARK: Jobs

    func recordJob(_ name: String, nanoseconds: UInt64, result: String) {
        let (timer, ok, failed, skipped) = jobs.withLock { all in
            if let j = all[name] { return j }
            let j = (
                CoreMetrics.Timer(label: "tokentra.job.duration.seconds", dimensions: [("job", name)], factory: factory),
                CoreMetrics.Counter(label: "tokentra.job.runs.total", dimensions: [("job", name), ("result", "ok")], factory: factory),
                CoreMetrics.Counter(label: "tokentra.job.runs.total", dimensions: [("job", name), ("result", "error")], factory: factory),
                CoreMetrics.Counter(label: "tokentra.job.runs.total", dimensions: [("job", name), ("result", "skipped")], factory: factory)
            )
            all[name] = j
            return j
        }
        switch result {
        case "ok":
            ok.increment()
            timer.recordNanoseconds(Int64(clamping: nanoseconds))
        case "skipped": skipped.increment()
        default:
            failed.increment()
            timer.recordNanoseconds(Int64(clamping: nanoseconds))
        }
    }

    // MARK: HTTP

    func recordHTTP(route: String, method: String, status: Int, nanoseconds: UInt64) {
        let key = HTTPKey(route: route, method: method, status: status)
        let counter = http.withLock { all in
            if let c = all[key] { return c }
            let c = CoreMetrics.Counter(
                label: "tokentra.http.requests.total", dimensions: [("route", route), ("method", method), ("status", String(status))],
                factory: factory)
            all[key] = c
            return c
        }
        counter.increment()
        let timer = httpDurations.withLock { all in
            if let t = all[route] { return t }
            let t = CoreMetrics.Timer(label: "tokentra.http.request.duration.seconds", dimensions: [("route", route)], factory: factory)
            all[route] = t
            return t
        }
        timer.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    // MARK: Sampled state

    /// Updates the WAL counters from the log's cumulative statistics.
    func updateWAL(_ stats: WriteAheadLog.Stats) {
        let previous = lastWAL.withLock { last in
            let p = last
            last = (stats.fsyncs, stats.bytesWritten, stats.fsyncNanoseconds)
            return p
        }
        if stats.fsyncs > previous.fsyncs { walFsyncs.increment(by: stats.fsyncs - previous.fsyncs) }
        if stats.bytesWritten > previous.bytes { walBytes.increment(by: stats.bytesWritten - previous.bytes) }
        if stats.fsyncNanoseconds > previous.nanoseconds {
            walFsyncSeconds.increment(by: Double(stats.fsyncNanoseconds - previous.nanoseconds) / 1e9)
        }
        walLastFsync.record(Double(stats.lastFsyncNanoseconds) / 1e9)
    }

    func updateDedup(ids: Int, days: Int, bytes: Int, memtableBytes: Int, quarantined: Int) {
        dedupIDs.record(ids)
        dedupDays.record(days)
        dedupBytes.record(bytes)
        self.memtableBytes.record(memtableBytes)
        self.quarantined.record(quarantined)
    }

    func updateStore(unsealed: Int, segments: Int, bytes: Int, rows: Int) {
        self.unsealed.record(unsealed)
        self.segments.record(segments)
        segmentBytes.record(bytes)
        segmentRows.record(rows)
    }

    func updateRollupLag(seconds: Double, pending: Int) {
        rollupLag.record(seconds)
        rollupPending.record(pending)
    }
}

extension String {
    func replacingDots() -> String {
        String(decoding: utf8.map { $0 == UInt8(ascii: ".") ? UInt8(ascii: "_") : $0 }, as: UTF8.self)
    }
}
