import CoreMetrics

/// Webhook delivery metrics.
///
/// | metric | type | dimensions |
/// |---|---|---|
/// | `tokentra_webhook_deliveries_total` | counter | `result` (delivered, failed = will retry, dead) |
/// | `tokentra_webhook_outbox_depth` | gauge | (pending deliveries) |
/// | `tokentra_webhook_outbox_oldest_pending_age_seconds` | gauge | (age of the oldest pending delivery; 0 when none) |
/// | `tokentra_webhook_outbox_dead` | gauge | (deliveries that used every attempt) |
public final class WebhookMetrics: Sendable {
    let delivered: CoreMetrics.Counter
    let failed: CoreMetrics.Counter
    let dead: CoreMetrics.Counter
    let depth: CoreMetrics.Gauge
    let oldestAge: CoreMetrics.Gauge
    let deadRows: CoreMetrics.Gauge

    public init(factory: any MetricsFactory) {
        delivered = CoreMetrics.Counter(label: "tokentra.webhook.deliveries_total", dimensions: [("result", "delivered")], factory: factory)
        failed = CoreMetrics.Counter(label: "tokentra.webhook.deliveries_total", dimensions: [("result", "failed")], factory: factory)
        dead = CoreMetrics.Counter(label: "tokentra.webhook.deliveries_total", dimensions: [("result", "dead")], factory: factory)
        depth = CoreMetrics.Gauge(label: "tokentra.webhook.outbox.depth", dimensions: [], factory: factory)
        oldestAge = CoreMetrics.Gauge(label: "tokentra.webhook.outbox.oldest_pending_age_seconds", dimensions: [], factory: factory)
        deadRows = CoreMetrics.Gauge(label: "tokentra.webhook.outbox.dead", dimensions: [], factory: factory)
    }

    func record(delivered ok: Bool, dead isDead: Bool) {
        if ok { delivered.increment() } else if isDead { dead.increment() } else { failed.increment() }
    }

    func updateOutbox(pending: Int, oldestAgeSeconds: Double, dead: Int) {
        depth.record(pending)
        oldestAge.record(oldestAgeSeconds)
        deadRows.record(dead)
    }
}
