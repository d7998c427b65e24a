import Foundation
import Hummingbird
import Logging
import Prometheus
import SegmentStore
import TokentraCore
import UsageIndex

#if canImport(Glibc)
import Glibc
#endif

/// Readiness thresholds.
public struct ReadinessSettings: Sendable {
    /// Minimum free bytes on the data directory's filesystem.
    public var minFreeBytes: Int64 = 256 << 20
    /// Maximum time a dirty bucket may wait for its rollup.
    public var maxRollupLagSeconds = 900
    public init() {}
}

/// `/healthz` (the process answers), `/readyz` (it can take writes now) and `/metrics`.
struct HealthController: Sendable {
    let store: SegmentStore
    let state: DaemonState
    let metrics: TokentraMetrics
    let registry: PrometheusCollectorRegistry?
    let settings: ReadinessSettings
    let logger: Logger
    let wallClock: @Sendable () -> Int64

    var routes: [RouteSpec] {
        [
            RouteSpec(path: "/healthz", method: .get) { _, _ in Response.json(.ok, #"{"status":"ok"}"#) },
            RouteSpec(path: "/readyz", method: .get) { _, _ in try await self.readiness() },
            RouteSpec(path: "/metrics", method: .get) { _, _ in try await self.metricsText() },
        ]
    }

    /// The outcome of the readiness checks.
    struct Readiness {
        var reasons: [String] = []
        /// Problems that do not stop the daemon from serving (it answers 200 with status "degraded").
        var degraded: [String] = []
        var checks: [(String, Bool, String)] = []
        var ready: Bool { reasons.isEmpty }

        mutating func check(_ name: String, _ ok: Bool, _ detail: String) {
            checks.append((name, ok, detail))
            if !ok { reasons.append(detail) }
        }
    }

    func evaluate() async -> Readiness {
        var r = Readiness()
        let dir = store.configuration.dataDirectory
        r.check("shutdown", !state.isStopping, state.isStopping ? "shutting down" : "running")
        r.check("store", state.isStoreOpen, state.isStoreOpen ? "open" : "segment store is not open")
        let walWritable = access(dir + "/wal", W_OK) == 0
        r.check("wal", walWritable, walWritable ? "writable" : "WAL directory \(dir)/wal is not writable")
        if let free = Self.freeBytes(dir) {
            let enough = free >= settings.minFreeBytes
            if enough { state.clearStorageFull() }
            r.check("disk", enough, enough ? "\(free) bytes free" : "disk space low: \(free) bytes free on the data directory's filesystem, need at least \(settings.minFreeBytes)")
        } else {
            r.check("disk", false, "cannot read the free space of \(dir): \(String(cString: strerror(errno)))")
        }
        if let since = state.storageFullSinceMs {
            r.check("storage_full", false, "storage full: writes fail with ENOSPC since \(UTCTimestamp.format(since))")
        }
        if let q = try? store.index.quarantinedSegments(), !q.isEmpty {
            let detail = "\(q.count) segment(s) quarantined (unreadable, moved to quarantine/; run `tokentra verify`): "
                + q.prefix(3).map { "\($0.file): \($0.reason)" }.joined(separator: "; ")
            r.checks.append(("segments", false, detail))
            r.degraded.append(detail)
        } else {
            r.checks.append(("segments", true, "every registered segment readable"))
        }
        let now = wallClock()
        do {
            let (lag, pending) = try rollupLag(now: now)
            let ok = lag <= Double(settings.maxRollupLagSeconds)
            r.check("rollup_lag", ok, ok ? "\(Int(lag)) s (\(pending) buckets pending)" : "rollup lag \(Int(lag)) s exceeds \(settings.maxRollupLagSeconds) s (\(pending) buckets pending)")
        } catch {
            r.check("rollup_lag", false, "cannot read the rollup state: \(error)")
        }
        return r
    }

    func rollupLag(now: Int64) throws -> (Double, Int) {
        let (oldest, pending) = try store.index.oldestPendingRollup(now: now)
        let lag = oldest.map { max(0, Double(now - $0) / 1000) } ?? 0
        metrics.updateRollupLag(seconds: lag, pending: pending)
        return (lag, pending)
    }

    func readiness() async throws -> Response {
        let r = await evaluate()
        let reason = r.reasons.joined(separator: "; ")
        var w = JSONWriter()
        w.object { o in
            o.field("status", r.ready ? (r.degraded.isEmpty ? "ready" : "degraded") : "not_ready")
            if !r.ready { o.field("reason", reason) }
            o.field("checks", object: { c in
                for (name, ok, detail) in r.checks {
                    c.field(name, object: { $0.field("ok", ok); $0.field("detail", detail) })
                }
            })
            if !r.ready { o.field("error", object: { $0.field("code", "NOT_READY"); $0.field("message", reason) }) }
        }
        if r.ready { return Response.json(.ok, w.text) }
        logger.debug("not ready", metadata: ["readiness.reason": "\(reason)"])
        return Response.json(.serviceUnavailable, w.text)
    }

    func metricsText() async throws -> Response {
        guard let registry else {
            throw APIError(.notFound, code: "NOT_FOUND", message: "metrics are not enabled")
        }
        metrics.updateWAL(store.walStatistics)
        let unsealed = await store.unsealedCount
        metrics.updateDedup(ids: await store.dedupEntries, days: await store.dedupCachedDays, bytes: await store.dedupMemoryBytes,
                            memtableBytes: await store.memtableBytes, quarantined: (try? store.index.quarantinedSegments().count) ?? 0)
        if let totals = try? store.index.segmentTotals() {
            metrics.updateStore(unsealed: unsealed, segments: totals.count, bytes: totals.bytes, rows: totals.rows)
        }
        _ = try? rollupLag(now: wallClock())
        let buffer = MetricsExposition.render(registry)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }

    /// Free bytes available to unprivileged users on the filesystem of `path`.
    static func freeBytes(_ path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}
