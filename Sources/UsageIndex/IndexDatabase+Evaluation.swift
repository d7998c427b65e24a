import GRDB

// Migration "v10-notification-revisions" and what it adds:
// - budget crossings keyed also by the amount and the basis (period, zone, scope) they were
//   computed for, so that a budget changed mid-period notifies correctly for its new definition;
// - evaluation marks: the (org, hour) buckets that sealed new events since the last evaluation, so
//   that late events for any past period are evaluated (not only the previous one);
// - probe attempts: one delivery per endpoint in backoff is tried once per evaluation cycle.

/// An (org, UTC hour) that received new events since the notification evaluator last looked.
public struct EvaluationMark: Sendable, Hashable {
    public var orgID: String
    public var hourStart: Int64
    /// Bumped by every seal that marks the hour again (a mark is cleared only if unchanged).
    public var generation: Int64
}

extension IndexDatabase {
    /// The body of migration `v10-notification-revisions` (append-only, never edited).
    static func addNotificationRevisions(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE budget_crossings_new (
                org_id TEXT NOT NULL,
                budget_id TEXT NOT NULL,
                period_start INTEGER NOT NULL,
                threshold INTEGER NOT NULL,
                amount_units INTEGER NOT NULL,
                basis TEXT NOT NULL,
                event_id TEXT NOT NULL,
                crossed_at INTEGER NOT NULL,
                spend_units INTEGER NOT NULL,
                PRIMARY KEY (org_id, budget_id, period_start, threshold, basis, amount_units)
            ) WITHOUT ROWID;
            INSERT INTO budget_crossings_new
                SELECT c.org_id, c.budget_id, c.period_start, c.threshold, COALESCE(b.amount_units, 0),
                       COALESCE(b.period || '|' || b.time_zone || '|' || COALESCE(b.scope_type || '=' || b.scope_value, ''), ''),
                       c.event_id, c.crossed_at, c.spend_units
                FROM budget_crossings c LEFT JOIN budgets b ON b.id = c.budget_id AND b.org_id = c.org_id;
            DROP TABLE budget_crossings;
            ALTER TABLE budget_crossings_new RENAME TO budget_crossings;
            CREATE TABLE evaluation_marks (
                org_id TEXT NOT NULL,
                hour_start INTEGER NOT NULL,
                generation INTEGER NOT NULL,
                PRIMARY KEY (org_id, hour_start)
            ) WITHOUT ROWID;
            ALTER TABLE webhook_deliveries ADD COLUMN probe_resume_at INTEGER;
            ALTER TABLE webhook_attempts ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;
            """)
    }

    /// Marks the hours of newly sealed events for the notification evaluator (inside the seal's transaction).
    static func markForEvaluation(_ db: Database, _ dirty: Set<DirtyHour>) throws {
        guard !dirty.isEmpty else { return }
        let generation = (try Int64.fetchOne(db, sql: "SELECT MAX(generation) FROM evaluation_marks") ?? 0) + 1
        let insert = try db.cachedStatement(sql: """
            INSERT INTO evaluation_marks (org_id, hour_start, generation) VALUES (?, ?, ?)
            ON CONFLICT DO UPDATE SET generation = excluded.generation
            """)
        for d in dirty { try insert.execute(arguments: [d.orgID, d.hourStart, generation]) }
    }

    /// The hours marked since the last evaluation (oldest first).
    public func evaluationMarks() throws -> [EvaluationMark] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evaluation_marks ORDER BY org_id, hour_start").map {
                EvaluationMark(orgID: $0["org_id"], hourStart: $0["hour_start"], generation: $0["generation"])
            }
        }
    }

    /// Clears the marks an evaluation handled (a mark set again since it was read stays).
    public func clearEvaluationMarks(_ marks: [EvaluationMark]) throws {
        guard !marks.isEmpty else { return }
        try writer.write { db in
            let delete = try db.cachedStatement(sql: "DELETE FROM evaluation_marks WHERE org_id = ? AND hour_start = ? AND generation = ?")
            for m in marks { try delete.execute(arguments: [m.orgID, m.hourStart, m.generation]) }
        }
    }

    /// For every enabled endpoint whose pending deliveries are all waiting for their backoff (none
    /// due, none in flight), makes its oldest pending delivery due now as a probe: if the probe
    /// fails, the delivery goes back to its backoff schedule (``recordAttempt(deliveryID:_:delivered:retryAt:)``
    /// restores `probe_resume_at` and does not count the probe against the attempt limit); if it
    /// succeeds, the endpoint's other deliveries are released. One probe per endpoint per call.
    /// An endpoint whose next regular retry is due within `minWaitMs` (the cycle length: it comes
    /// before the next probe anyway) is not probed.
    /// - Returns: the number of probes scheduled.
    @discardableResult
    public func scheduleProbes(now: Int64, minWaitMs: Int64 = 0) throws -> Int {
        try writer.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT d.webhook_id AS webhook_id, MIN(d.id) AS oldest FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                WHERE d.status = 'pending' AND w.enabled = 1
                GROUP BY d.webhook_id
                HAVING MIN(d.next_attempt_at) > ? AND MAX(d.attempts) > 0
                """, arguments: [now + max(0, minWaitMs)])
            for row in rows {
                let id: Int64 = row["oldest"]
                try db.execute(
                    sql: """
                        UPDATE webhook_deliveries SET probe_resume_at = next_attempt_at, next_attempt_at = ?
                        WHERE id = ? AND status = 'pending' AND probe_resume_at IS NULL
                        """,
                    arguments: [now, id])
            }
            return rows.count
        }
    }
}
