import GRDB

// Budgets and their threshold crossings (migrations "v7-notifications", "v10-notification-revisions").
// A crossing row is the proof that the event for (org, budget, period start, threshold, basis,
// amount) was emitted: its primary key makes a second emission impossible, and it is written in the
// same transaction as the event and its outbox rows (``IndexDatabase/emit(_:in:attemptLimit:)``).

/// One budget as stored.
public struct BudgetRecord: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "budgets"

    /// `budget_` + 24 hex digits.
    public var id: String
    public var orgID: String
    public var name: String
    /// The amount in units of 1e-10 USD.
    public var amountUnits: Int64
    /// `daily`, `weekly`, `monthly` or `quarterly`.
    public var period: String
    /// IANA time zone of the period boundaries.
    public var timeZone: String
    /// `team`, `project`, `feature`, `environment`, `cost_center`, `model`; `nil`: the whole org.
    public var scopeType: String?
    public var scopeValue: String?
    /// Percentages, ascending, comma-separated (`50,80,100`).
    public var alertThresholds: String
    public var hardLimit: Bool
    /// `active` or `paused` (paused budgets emit no events).
    public var status: String
    public var createdAt: Int64
    public var updatedAt: Int64

    public enum CodingKeys: String, CodingKey {
        case id, name, period, status
        case orgID = "org_id"
        case amountUnits = "amount_units"
        case timeZone = "time_zone"
        case scopeType = "scope_type"
        case scopeValue = "scope_value"
        case alertThresholds = "alert_thresholds"
        case hardLimit = "hard_limit"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    /// What a budget's spend means: period, time zone and scope (`monthly|UTC|team=web`). A
    /// crossing counts only for the basis it was computed on (the same formula as migration v9's).
    public var basis: String {
        "\(period)|\(timeZone)|" + (scopeType.flatMap { t in scopeValue.map { "\(t)=\($0)" } } ?? "")
    }

    public init(
        id: String, orgID: String, name: String, amountUnits: Int64, period: String, timeZone: String, scopeType: String?,
        scopeValue: String?, alertThresholds: String, hardLimit: Bool, status: String, createdAt: Int64, updatedAt: Int64
    ) {
        self.id = id
        self.orgID = orgID
        self.name = name
        self.amountUnits = amountUnits
        self.period = period
        self.timeZone = timeZone
        self.scopeType = scopeType
        self.scopeValue = scopeValue
        self.alertThresholds = alertThresholds
        self.hardLimit = hardLimit
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A recorded threshold crossing of a budget in one period.
public struct BudgetCrossing: Sendable, Equatable {
    public var budgetID: String
    public var periodStart: Int64
    /// The threshold in percent; ``forecastThreshold`` for the forecast event.
    public var threshold: Int
    public var eventID: String
    public var crossedAt: Int64
    public var spendUnits: Int64
    /// The budget amount (1e-10 USD) the threshold was reached for.
    public var amountUnits: Int64
    /// ``BudgetRecord/basis`` at the crossing.
    public var basis: String
    /// The pseudo-threshold under which `budget.forecast` is recorded (once per period).
    public static let forecastThreshold = -1

    public init(budgetID: String, periodStart: Int64, threshold: Int, eventID: String, crossedAt: Int64, spendUnits: Int64,
                amountUnits: Int64, basis: String) {
        self.budgetID = budgetID
        self.periodStart = periodStart
        self.threshold = threshold
        self.eventID = eventID
        self.crossedAt = crossedAt
        self.spendUnits = spendUnits
        self.amountUnits = amountUnits
        self.basis = basis
    }
}

extension IndexDatabase {
    /// The body of migration `v7-notifications` (registered by ``migrator``; append-only, never edited).
    static func createNotificationTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE budgets (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                name TEXT NOT NULL,
                amount_units INTEGER NOT NULL,
                period TEXT NOT NULL,
                time_zone TEXT NOT NULL,
                scope_type TEXT,
                scope_value TEXT,
                alert_thresholds TEXT NOT NULL,
                hard_limit INTEGER NOT NULL,
                status TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE INDEX budgets_org ON budgets(org_id);
            CREATE TABLE budget_crossings (
                org_id TEXT NOT NULL,
                budget_id TEXT NOT NULL,
                period_start INTEGER NOT NULL,
                threshold INTEGER NOT NULL,
                event_id TEXT NOT NULL,
                crossed_at INTEGER NOT NULL,
                spend_units INTEGER NOT NULL,
                PRIMARY KEY (org_id, budget_id, period_start, threshold)
            ) WITHOUT ROWID;
            CREATE TABLE alerts (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                name TEXT NOT NULL,
                type TEXT NOT NULL,
                threshold TEXT NOT NULL,
                period TEXT,
                window_minutes INTEGER,
                percentile INTEGER,
                budget_id TEXT,
                scope_type TEXT,
                scope_value TEXT,
                time_zone TEXT NOT NULL,
                cooldown_seconds INTEGER NOT NULL,
                enabled INTEGER NOT NULL,
                state TEXT NOT NULL,
                last_triggered_at INTEGER,
                last_evaluated_at INTEGER,
                last_value TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE INDEX alerts_org ON alerts(org_id);
            CREATE TABLE alert_history (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                alert_id TEXT NOT NULL,
                org_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                at INTEGER NOT NULL,
                value TEXT,
                threshold TEXT NOT NULL,
                message TEXT NOT NULL,
                event_id TEXT NOT NULL
            );
            CREATE INDEX alert_history_alert ON alert_history(alert_id, id);
            CREATE TABLE webhooks (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                url TEXT NOT NULL,
                events TEXT NOT NULL,
                secret TEXT NOT NULL,
                description TEXT NOT NULL,
                enabled INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE INDEX webhooks_org ON webhooks(org_id);
            CREATE TABLE notification_events (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                type TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                body TEXT NOT NULL
            );
            CREATE INDEX notification_events_org ON notification_events(org_id, created_at);
            CREATE TABLE webhook_deliveries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id TEXT NOT NULL,
                webhook_id TEXT NOT NULL,
                org_id TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                attempt_limit INTEGER NOT NULL,
                next_attempt_at INTEGER NOT NULL,
                last_attempt_at INTEGER,
                last_status_code INTEGER,
                last_error TEXT,
                delivered_at INTEGER,
                created_at INTEGER NOT NULL,
                UNIQUE (event_id, webhook_id)
            );
            CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
            CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, id);
            CREATE TABLE webhook_attempts (
                delivery_id INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                started_at INTEGER NOT NULL,
                duration_ms INTEGER NOT NULL,
                status_code INTEGER,
                error TEXT,
                PRIMARY KEY (delivery_id, attempt)
            ) WITHOUT ROWID;
            """)
    }

    /// Stores a new budget.
    public func insertBudget(_ budget: BudgetRecord) throws {
        try writer.write { db in try budget.insert(db) }
    }

    /// The budgets of an org (or of every org), oldest first.
    public func budgets(orgID: String?) throws -> [BudgetRecord] {
        try writer.read { db in
            if let orgID {
                return try BudgetRecord.fetchAll(db, sql: "SELECT * FROM budgets WHERE org_id = ? ORDER BY created_at, id", arguments: [orgID])
            }
            return try BudgetRecord.fetchAll(db, sql: "SELECT * FROM budgets ORDER BY org_id, created_at, id")
        }
    }

    /// The budget `id` of `orgID` (`nil` when it does not exist or belongs to another org).
    public func budget(id: String, orgID: String) throws -> BudgetRecord? {
        try writer.read { db in
            try BudgetRecord.fetchOne(db, sql: "SELECT * FROM budgets WHERE id = ? AND org_id = ?", arguments: [id, orgID])
        }
    }

    /// Replaces a budget of `orgID`. Returns `false` when it does not exist in that org.
    public func updateBudget(_ budget: BudgetRecord) throws -> Bool {
        try writer.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM budgets WHERE id = ? AND org_id = ?", arguments: [budget.id, budget.orgID]) == 1
            else { return false }
            try budget.update(db)
            return true
        }
    }

    /// Deletes a budget of `orgID` with its crossings. Returns `false` when it does not exist in that org.
    public func deleteBudget(id: String, orgID: String) throws -> Bool {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM budgets WHERE id = ? AND org_id = ?", arguments: [id, orgID])
            guard db.changesCount == 1 else { return false }
            try db.execute(sql: "DELETE FROM budget_crossings WHERE budget_id = ? AND org_id = ?", arguments: [id, orgID])
            return true
        }
    }

    /// The crossings recorded for a budget (every period), oldest first.
    public func budgetCrossings(budgetID: String, orgID: String) throws -> [BudgetCrossing] {
        try writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM budget_crossings WHERE budget_id = ? AND org_id = ? ORDER BY period_start, crossed_at, threshold",
                arguments: [budgetID, orgID]
            ).map {
                BudgetCrossing(budgetID: $0["budget_id"], periodStart: $0["period_start"], threshold: $0["threshold"],
                               eventID: $0["event_id"], crossedAt: $0["crossed_at"], spendUnits: $0["spend_units"],
                               amountUnits: $0["amount_units"], basis: $0["basis"])
            }
        }
    }

    /// Records a crossing and, only if it is new, emits its event (event row and one outbox row per
    /// subscribed webhook), all in one transaction.
    ///
    /// A crossing is new unless the same threshold of the same period and basis was already
    /// notified for an amount ≤ this one at a spend that already reached this threshold of this
    /// amount. So an unchanged budget notifies each threshold once; a raised amount repeats no
    /// threshold whose new level the notified spend already covered (a threshold reached later at
    /// the higher level is notified then); a lowered amount notifies the thresholds reached at the
    /// new amount once.
    /// - Returns: whether the crossing is new (the event was emitted).
    public func recordCrossing(orgID: String, _ crossing: BudgetCrossing, event: NotificationEvent, attemptLimit: Int) throws -> Bool {
        try writer.write { db in
            let earlier = try Row.fetchAll(
                db, sql: """
                    SELECT amount_units, spend_units FROM budget_crossings
                    WHERE org_id = ? AND budget_id = ? AND period_start = ? AND threshold = ? AND basis = ? AND amount_units <= ?
                    """,
                arguments: [orgID, crossing.budgetID, crossing.periodStart, crossing.threshold, crossing.basis, crossing.amountUnits])
            // Exact (Int128): the notified spend covers this threshold of this amount.
            let level = Int128(crossing.threshold) * Int128(crossing.amountUnits)
            if earlier.contains(where: { Int128($0["spend_units"] as Int64) * 100 >= level }) { return false }
            try db.execute(
                sql: """
                    INSERT INTO budget_crossings (org_id, budget_id, period_start, threshold, amount_units, basis, event_id, crossed_at, spend_units)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                    """,
                arguments: [orgID, crossing.budgetID, crossing.periodStart, crossing.threshold, crossing.amountUnits, crossing.basis,
                            crossing.eventID, crossing.crossedAt, crossing.spendUnits])
            guard db.changesCount == 1 else { return false }
            try emit(event, in: db, attemptLimit: attemptLimit)
            return true
        }
    }
}
