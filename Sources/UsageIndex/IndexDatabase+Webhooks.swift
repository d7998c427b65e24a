import GRDB

// Webhook endpoints, notification events and the durable outbox (migration "v7-notifications").
// An event and its outbox rows (one per subscribed endpoint) are written in the transaction that
// decides the event (a budget crossing, an alert transition), so a crash either leaves both or
// neither; the delivery worker then works the outbox until each row is delivered or dead.

/// One webhook endpoint as stored.
public struct WebhookRecord: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "webhooks"
    /// `wh_` + 24 hex digits.
    public var id: String
    public var orgID: String
    public var url: String
    /// Comma-separated event types, or `*` for every type.
    public var events: String
    /// The HMAC-SHA256 signing secret (needed to sign, so stored as is; shown once by the API).
    public var secret: String
    public var description: String
    public var enabled: Bool
    public var createdAt: Int64
    public var updatedAt: Int64

    public enum CodingKeys: String, CodingKey {
        case id, url, events, secret, description, enabled
        case orgID = "org_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public init(id: String, orgID: String, url: String, events: String, secret: String, description: String, enabled: Bool,
                createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.orgID = orgID
        self.url = url
        self.events = events
        self.secret = secret
        self.description = description
        self.enabled = enabled
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether the endpoint subscribes to `type`.
    public func subscribes(to type: String) -> Bool {
        events == "*" || events.split(separator: ",").contains { $0 == type }
    }
}

/// A notification event (`budget.warning`, `alert.triggered`, ...) with its final JSON body.
public struct NotificationEvent: Sendable, Equatable {
    /// `evt_` + 24 hex digits.
    public var id: String
    public var orgID: String
    public var type: String
    public var createdAt: Int64
    /// The webhook payload exactly as sent and signed.
    public var body: String
    public init(id: String, orgID: String, type: String, createdAt: Int64, body: String) {
        self.id = id
        self.orgID = orgID
        self.type = type
        self.createdAt = createdAt
        self.body = body
    }
}

/// One outbox row: an event to deliver to one endpoint.
public struct WebhookDelivery: Sendable, Equatable {
    public var id: Int64
    public var eventID: String
    public var eventType: String
    public var webhookID: String
    public var orgID: String
    /// `pending`, `delivered` or `dead`.
    public var status: String
    public var attempts: Int
    public var attemptLimit: Int
    public var nextAttemptAt: Int64
    public var lastAttemptAt: Int64?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var deliveredAt: Int64?
    public var createdAt: Int64
    /// Set while the delivery is a probe (``IndexDatabase/scheduleProbes(now:)``): when its backoff
    /// would have made it due; a failed probe goes back to it.
    public var probeResumeAt: Int64?

    init(_ row: Row) {
        id = row["id"]
        eventID = row["event_id"]
        eventType = row["type"]
        webhookID = row["webhook_id"]
        orgID = row["org_id"]
        status = row["status"]
        attempts = row["attempts"]
        attemptLimit = row["attempt_limit"]
        nextAttemptAt = row["next_attempt_at"]
        lastAttemptAt = row["last_attempt_at"]
        lastStatusCode = row["last_status_code"]
        lastError = row["last_error"]
        deliveredAt = row["delivered_at"]
        createdAt = row["created_at"]
        probeResumeAt = row["probe_resume_at"]
    }
}

/// One attempt of a delivery.
public struct WebhookAttempt: Sendable, Equatable {
    public var attempt: Int
    public var startedAt: Int64
    public var durationMs: Int64
    public var statusCode: Int?
    public var error: String?
    /// Whether it was a per-cycle probe of an endpoint in backoff (not counted against the attempt limit).
    public var probe: Bool
    public init(attempt: Int, startedAt: Int64, durationMs: Int64, statusCode: Int?, error: String?, probe: Bool = false) {
        self.attempt = attempt
        self.startedAt = startedAt
        self.durationMs = durationMs
        self.statusCode = statusCode
        self.error = error
        self.probe = probe
    }
}

/// A due delivery with what is needed to send it.
public struct DueDelivery: Sendable {
    public var delivery: WebhookDelivery
    public var url: String
    public var secret: String
    public var body: String
    public var eventCreatedAt: Int64
}

extension IndexDatabase {
    /// Writes an event and one pending outbox row per enabled endpoint of its org subscribed to its type.
    public func emit(_ event: NotificationEvent, in db: Database, attemptLimit: Int) throws {
        try db.execute(
            sql: "INSERT INTO notification_events (id, org_id, type, created_at, body) VALUES (?, ?, ?, ?, ?)",
            arguments: [event.id, event.orgID, event.type, event.createdAt, event.body])
        let hooks = try WebhookRecord.fetchAll(db, sql: "SELECT * FROM webhooks WHERE org_id = ? AND enabled = 1 ORDER BY id", arguments: [event.orgID])
        for hook in hooks where hook.subscribes(to: event.type) {
            try db.execute(
                sql: """
                    INSERT INTO webhook_deliveries (event_id, webhook_id, org_id, status, attempts, attempt_limit, next_attempt_at, created_at)
                    VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)
                    """,
                arguments: [event.id, hook.id, event.orgID, attemptLimit, event.createdAt, event.createdAt])
        }
    }

    /// The events of an org, newest first (at most `limit`).
    public func notificationEvents(orgID: String, limit: Int = 100) throws -> [NotificationEvent] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM notification_events WHERE org_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                             arguments: [orgID, limit]).map {
                NotificationEvent(id: $0["id"], orgID: $0["org_id"], type: $0["type"], createdAt: $0["created_at"], body: $0["body"])
            }
        }
    }

    // MARK: Endpoints

    public func insertWebhook(_ hook: WebhookRecord) throws {
        try writer.write { db in try hook.insert(db) }
    }

    public func webhooks(orgID: String) throws -> [WebhookRecord] {
        try writer.read { db in
            try WebhookRecord.fetchAll(db, sql: "SELECT * FROM webhooks WHERE org_id = ? ORDER BY created_at, id", arguments: [orgID])
        }
    }

    /// The endpoint `id` of `orgID` (`nil` when it does not exist or belongs to another org).
    public func webhook(id: String, orgID: String) throws -> WebhookRecord? {
        try writer.read { db in
            try WebhookRecord.fetchOne(db, sql: "SELECT * FROM webhooks WHERE id = ? AND org_id = ?", arguments: [id, orgID])
        }
    }

    /// Replaces an endpoint of its org. Returns `false` when it does not exist in that org.
    public func updateWebhook(_ hook: WebhookRecord) throws -> Bool {
        try writer.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM webhooks WHERE id = ? AND org_id = ?", arguments: [hook.id, hook.orgID]) == 1
            else { return false }
            try hook.update(db)
            return true
        }
    }

    /// Deletes an endpoint and its outbox rows. Returns `false` when it does not exist in that org.
    public func deleteWebhook(id: String, orgID: String) throws -> Bool {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM webhooks WHERE id = ? AND org_id = ?", arguments: [id, orgID])
            guard db.changesCount == 1 else { return false }
            try db.execute(sql: "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = ?)", arguments: [id])
            try db.execute(sql: "DELETE FROM webhook_deliveries WHERE webhook_id = ?", arguments: [id])
            return true
        }
    }

    // MARK: Outbox

    static let deliverySelect = """
        SELECT d.*, e.type AS type, e.body AS body, e.created_at AS event_created_at, w.url AS url, w.secret AS secret
        FROM webhook_deliveries d JOIN notification_events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id
        """

    /// Pending deliveries due at `now` (oldest first) of enabled endpoints, at most `limit` (a disabled
    /// endpoint's deliveries wait until it is enabled again).
    public func dueDeliveries(now: Int64, limit: Int) throws -> [DueDelivery] {
        try writer.read { db in
            try Row.fetchAll(db, sql: Self.deliverySelect + " WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.enabled = 1 ORDER BY d.next_attempt_at, d.id LIMIT ?",
                             arguments: [now, limit]).map {
                DueDelivery(delivery: WebhookDelivery($0), url: $0["url"], secret: $0["secret"], body: $0["body"], eventCreatedAt: $0["event_created_at"])
            }
        }
    }

    /// When the next pending delivery is due, if any.
    public func nextDeliveryDue() throws -> Int64? {
        try writer.read { db in try Int64.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'") }
    }

    /// Records one attempt: delivered (2xx), retried at `retryAt`, or dead when `retryAt` is `nil` and it failed.
    /// A delivered attempt makes the endpoint's other pending deliveries due at once. A probe
    /// (``WebhookAttempt/probe``) adds one to the delivery's attempt limit, so probing never uses
    /// up the retry schedule. Only a pending row changes (an attempt finishing after a redeliver
    /// or delete changes nothing).
    public func recordAttempt(deliveryID: Int64, _ attempt: WebhookAttempt, delivered: Bool, retryAt: Int64?) throws {
        try writer.write { db in
            let status = delivered ? "delivered" : (retryAt == nil ? "dead" : "pending")
            try db.execute(
                sql: """
                    UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_attempt_at = ?,
                        last_status_code = ?, last_error = ?, delivered_at = ?, attempt_limit = attempt_limit + ?, probe_resume_at = NULL
                    WHERE id = ? AND status = 'pending' AND attempts = ?
                    """,
                arguments: [status, attempt.attempt, retryAt ?? attempt.startedAt, attempt.startedAt, attempt.statusCode, attempt.error,
                            delivered ? attempt.startedAt + attempt.durationMs : nil, attempt.probe ? 1 : 0, deliveryID, attempt.attempt - 1])
            guard db.changesCount == 1 else { return }
            if delivered {
                // The endpoint answers again: its other pending deliveries go now instead of after their backoff.
                try db.execute(
                    sql: """
                        UPDATE webhook_deliveries SET next_attempt_at = MIN(next_attempt_at, ?)
                        WHERE webhook_id = (SELECT webhook_id FROM webhook_deliveries WHERE id = ?) AND status = 'pending'
                        """,
                    arguments: [attempt.startedAt, deliveryID])
            }
            try db.execute(
                sql: "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, probe) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [deliveryID, attempt.attempt, attempt.startedAt, attempt.durationMs, attempt.statusCode, attempt.error, attempt.probe])
        }
    }

    /// The deliveries of an endpoint, newest first, with their attempts.
    public func deliveries(webhookID: String, orgID: String, limit: Int) throws -> [(WebhookDelivery, [WebhookAttempt])] {
        try writer.read { db in
            let rows = try Row.fetchAll(db, sql: Self.deliverySelect + " WHERE d.webhook_id = ? AND d.org_id = ? ORDER BY d.id DESC LIMIT ?",
                                        arguments: [webhookID, orgID, limit])
            return try rows.map { row in
                let d = WebhookDelivery(row)
                let attempts = try Row.fetchAll(db, sql: "SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt", arguments: [d.id]).map {
                    WebhookAttempt(attempt: $0["attempt"], startedAt: $0["started_at"], durationMs: $0["duration_ms"],
                                   statusCode: $0["status_code"], error: $0["error"], probe: $0["probe"])
                }
                return (d, attempts)
            }
        }
    }

    /// Outcome of ``redeliver(deliveryID:webhookID:orgID:now:extraAttempts:)``.
    public enum RedeliverOutcome: Sendable, Equatable {
        case scheduled, notFound, alreadyDelivered
    }

    /// Schedules a dead (or pending) delivery for an attempt now, with `extraAttempts` more attempts.
    /// A delivered one is never sent again.
    public func redeliver(deliveryID: Int64, webhookID: String, orgID: String, now: Int64, extraAttempts: Int) throws -> RedeliverOutcome {
        try writer.write { db in
            guard let status = try String.fetchOne(
                db, sql: "SELECT status FROM webhook_deliveries WHERE id = ? AND webhook_id = ? AND org_id = ?",
                arguments: [deliveryID, webhookID, orgID])
            else { return .notFound }
            if status == "delivered" { return .alreadyDelivered }
            try db.execute(
                sql: "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, attempt_limit = attempts + ?, probe_resume_at = NULL WHERE id = ?",
                arguments: [now, extraAttempts, deliveryID])
            return .scheduled
        }
    }

    /// Outbox depth (pending rows), the creation time of the oldest pending row, and rows by status.
    public func outboxStatistics() throws -> (pending: Int, oldestPendingCreatedAt: Int64?, dead: Int, delivered: Int) {
        try writer.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT SUM(status = 'pending') AS p, MIN(CASE WHEN status = 'pending' THEN created_at END) AS o,
                       SUM(status = 'dead') AS d, SUM(status = 'delivered') AS ok FROM webhook_deliveries
                """)
            return (row?["p"] ?? 0, row?["o"], row?["d"] ?? 0, row?["ok"] ?? 0)
        }
    }
}
