import GRDB

// Alert rules, their state and history (migration "v7-notifications"). A transition
// (ok → triggered, triggered → ok) is a conditional update of the rule's state, written in one
// transaction with its history row and its event (and the event's outbox rows), so it happens
// once however often or concurrently the evaluation runs.

/// One alert rule as stored.
public struct AlertRecord: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "alerts"
    /// `alert_` + 24 hex digits.
    public var id: String
    public var orgID: String
    public var name: String
    /// `spend_threshold`, `budget_warning`, `forecast`, `anomaly`, `rate_spike`, `error_rate`, `latency`.
    public var type: String
    /// The threshold as exact decimal text (USD, percent, z-score, multiplier, ratio or ms by type).
    public var threshold: String
    public var period: String?
    public var windowMinutes: Int?
    public var percentile: Int?
    public var budgetID: String?
    public var scopeType: String?
    public var scopeValue: String?
    public var timeZone: String
    public var cooldownSeconds: Int
    public var enabled: Bool
    /// `ok` or `triggered`.
    public var state: String
    public var lastTriggeredAt: Int64?
    public var lastEvaluatedAt: Int64?
    public var lastValue: String?
    public var createdAt: Int64
    public var updatedAt: Int64

    public enum CodingKeys: String, CodingKey {
        case id, name, type, threshold, period, percentile, enabled, state
        case orgID = "org_id"
        case windowMinutes = "window_minutes"
        case budgetID = "budget_id"
        case scopeType = "scope_type"
        case scopeValue = "scope_value"
        case timeZone = "time_zone"
        case cooldownSeconds = "cooldown_seconds"
        case lastTriggeredAt = "last_triggered_at"
        case lastEvaluatedAt = "last_evaluated_at"
        case lastValue = "last_value"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public init(id: String, orgID: String, name: String, type: String, threshold: String, timeZone: String, cooldownSeconds: Int,
                enabled: Bool, createdAt: Int64) {
        self.id = id
        self.orgID = orgID
        self.name = name
        self.type = type
        self.threshold = threshold
        self.timeZone = timeZone
        self.cooldownSeconds = cooldownSeconds
        self.enabled = enabled
        self.state = "ok"
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }
}

/// One transition of an alert.
public struct AlertHistoryEntry: Sendable, Equatable {
    public var id: Int64
    public var alertID: String
    /// `triggered` or `resolved`.
    public var kind: String
    public var at: Int64
    public var value: String?
    public var threshold: String
    public var message: String
    public var eventID: String
    public init(id: Int64 = 0, alertID: String, kind: String, at: Int64, value: String?, threshold: String, message: String, eventID: String) {
        self.id = id
        self.alertID = alertID
        self.kind = kind
        self.at = at
        self.value = value
        self.threshold = threshold
        self.message = message
        self.eventID = eventID
    }
}

extension IndexDatabase {
    public func insertAlert(_ alert: AlertRecord) throws {
        try writer.write { db in try alert.insert(db) }
    }

    /// The alerts of an org (or of every org), oldest first.
    public func alerts(orgID: String?) throws -> [AlertRecord] {
        try writer.read { db in
            if let orgID {
                return try AlertRecord.fetchAll(db, sql: "SELECT * FROM alerts WHERE org_id = ? ORDER BY created_at, id", arguments: [orgID])
            }
            return try AlertRecord.fetchAll(db, sql: "SELECT * FROM alerts ORDER BY org_id, created_at, id")
        }
    }

    /// The alert `id` of `orgID` (`nil` when it does not exist or belongs to another org).
    public func alert(id: String, orgID: String) throws -> AlertRecord? {
        try writer.read { db in
            try AlertRecord.fetchOne(db, sql: "SELECT * FROM alerts WHERE id = ? AND org_id = ?", arguments: [id, orgID])
        }
    }

    /// Replaces the definition of an alert of its org (state and last values are kept).
    public func updateAlert(_ alert: AlertRecord) throws -> Bool {
        try writer.write { db in
            guard let current = try AlertRecord.fetchOne(db, sql: "SELECT * FROM alerts WHERE id = ? AND org_id = ?", arguments: [alert.id, alert.orgID])
            else { return false }
            var next = alert
            next.state = current.state
            next.lastTriggeredAt = current.lastTriggeredAt
            next.lastEvaluatedAt = current.lastEvaluatedAt
            next.lastValue = current.lastValue
            try next.update(db)
            return true
        }
    }

    public func deleteAlert(id: String, orgID: String) throws -> Bool {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM alerts WHERE id = ? AND org_id = ?", arguments: [id, orgID])
            guard db.changesCount == 1 else { return false }
            try db.execute(sql: "DELETE FROM alert_history WHERE alert_id = ?", arguments: [id])
            return true
        }
    }

    /// The transitions of an alert, newest first.
    public func alertHistory(alertID: String, orgID: String, limit: Int = 100) throws -> [AlertHistoryEntry] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alert_history WHERE alert_id = ? AND org_id = ? ORDER BY id DESC LIMIT ?",
                             arguments: [alertID, orgID, limit]).map {
                AlertHistoryEntry(id: $0["id"], alertID: $0["alert_id"], kind: $0["kind"], at: $0["at"], value: $0["value"],
                                  threshold: $0["threshold"], message: $0["message"], eventID: $0["event_id"])
            }
        }
    }

    /// Records an evaluation without a transition (the value seen).
    public func recordAlertEvaluation(id: String, at: Int64, value: String?) throws {
        try writer.write { db in
            try db.execute(sql: "UPDATE alerts SET last_evaluated_at = ?, last_value = ? WHERE id = ?", arguments: [at, value, id])
        }
    }

    /// Moves an alert from `from` to `to` (`ok`/`triggered`) if it is still in `from`, recording
    /// the history entry and emitting the event in the same transaction.
    /// - Returns: whether the transition happened.
    public func transitionAlert(id: String, from: String, to: String, entry: AlertHistoryEntry, event: NotificationEvent,
                                attemptLimit: Int) throws -> Bool {
        try writer.write { db in
            try db.execute(
                sql: """
                    UPDATE alerts SET state = ?, last_evaluated_at = ?, last_value = ?,
                        last_triggered_at = CASE WHEN ? = 'triggered' THEN ? ELSE last_triggered_at END
                    WHERE id = ? AND state = ?
                    """,
                arguments: [to, entry.at, entry.value, to, entry.at, id, from])
            guard db.changesCount == 1 else { return false }
            try db.execute(
                sql: "INSERT INTO alert_history (alert_id, org_id, kind, at, value, threshold, message, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [id, event.orgID, entry.kind, entry.at, entry.value, entry.threshold, entry.message, entry.eventID])
            try emit(event, in: db, attemptLimit: attemptLimit)
            return true
        }
    }
}
