import GRDB

/// A price table imported with `tokentra prices import`: its version, when and by whom, and the
/// table itself in the `prices.json` format (schema/price-table.md).
public struct StoredPriceVersion: Sendable, Equatable {
    public var version: Int
    public var importedAt: Int64
    /// `cli` or `key:<key id>`.
    public var importedBy: String
    /// Where it came from (the file name given to `prices import`).
    public var source: String
    public var entries: Int
    /// The table as `prices.json` text.
    public var json: String

    public init(version: Int, importedAt: Int64, importedBy: String, source: String, entries: Int, json: String) {
        self.version = version
        self.importedAt = importedAt
        self.importedBy = importedBy
        self.source = source
        self.entries = entries
        self.json = json
    }
}

/// One `tokentra reprice` run, as recorded in `reprice_audit`.
public struct RepriceAuditRow: Sendable, Equatable {
    public var id: Int64?
    /// When the run committed (ms since the epoch).
    public var at: Int64
    /// `cli` or `key:<key id>`.
    public var actor: String
    public var orgID: String
    /// The repriced range `[fromMs, toMs)`.
    public var fromMs: Int64
    public var toMs: Int64
    public var priceVersion: Int
    public var includeClientCosts: Bool
    /// Events in the range, and how many of them got new costs.
    public var events: Int
    public var changedEvents: Int
    /// Total cost of the range's events before and after, in 1e-10 USD.
    public var oldTotal: Int128
    public var newTotal: Int128
    /// Per-model old and new totals as JSON (written by the caller with `JSONWriter`).
    public var modelsJSON: String

    public init(id: Int64? = nil, at: Int64, actor: String, orgID: String, fromMs: Int64, toMs: Int64, priceVersion: Int,
                includeClientCosts: Bool, events: Int, changedEvents: Int, oldTotal: Int128, newTotal: Int128,
                modelsJSON: String) {
        self.id = id
        self.at = at
        self.actor = actor
        self.orgID = orgID
        self.fromMs = fromMs
        self.toMs = toMs
        self.priceVersion = priceVersion
        self.includeClientCosts = includeClientCosts
        self.events = events
        self.changedEvents = changedEvents
        self.oldTotal = oldTotal
        self.newTotal = newTotal
        self.modelsJSON = modelsJSON
    }
}

/// Why a replacement of segments was not committed.
public struct SegmentReplacementConflict: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension IndexDatabase {
    /// Migration v8: imported price tables and the reprice audit trail.
    static func createRepricingTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE price_versions (
                version INTEGER PRIMARY KEY,
                imported_at INTEGER NOT NULL,
                imported_by TEXT NOT NULL,
                source TEXT NOT NULL,
                entries INTEGER NOT NULL,
                json TEXT NOT NULL
            );
            CREATE TABLE reprice_audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at INTEGER NOT NULL,
                actor TEXT NOT NULL,
                org_id TEXT NOT NULL,
                from_ms INTEGER NOT NULL,
                to_ms INTEGER NOT NULL,
                price_version INTEGER NOT NULL,
                include_client_costs INTEGER NOT NULL,
                events INTEGER NOT NULL,
                changed_events INTEGER NOT NULL,
                old_total_units TEXT NOT NULL,
                new_total_units TEXT NOT NULL,
                models TEXT NOT NULL
            );
            CREATE INDEX reprice_audit_org ON reprice_audit(org_id, id);
            """)
    }

    // MARK: Price versions

    /// Stores an imported price table. Importing a version again with the same table changes
    /// nothing (returns `false`); with a different table it fails.
    /// - Throws: ``PriceVersionConflict`` when the version holds another table.
    public func importPriceVersion(_ v: StoredPriceVersion, sameTable: (String) -> Bool) throws -> Bool {
        try writer.write { db in
            if let existing = try String.fetchOne(db, sql: "SELECT json FROM price_versions WHERE version = ?",
                                                  arguments: [v.version]) {
                guard sameTable(existing) else {
                    throw PriceVersionConflict(
                        description: "price version \(v.version) is already imported with different prices; give the changed table a new version")
                }
                return false
            }
            try db.execute(sql: """
                INSERT INTO price_versions (version, imported_at, imported_by, source, entries, json) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [v.version, v.importedAt, v.importedBy, v.source, v.entries, v.json])
            return true
        }
    }

    /// Every imported price table, by version.
    public func priceVersions() throws -> [StoredPriceVersion] {
        try writer.read { db in
            guard try db.tableExists("price_versions") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT * FROM price_versions ORDER BY version").map {
                StoredPriceVersion(version: $0["version"], importedAt: $0["imported_at"], importedBy: $0["imported_by"],
                                   source: $0["source"], entries: $0["entries"], json: $0["json"])
            }
        }
    }

    // MARK: Segment replacement

    /// Replaces segments by their rewritten versions in one transaction: for each day, unregisters
    /// its `inputs` and registers its `output`, marks `dirty` hours for a **recomputation**
    /// (`recompute = 1`: their stored rollup rows hold the old values, so folding would be wrong)
    /// and records `audit`. Fails, changing nothing, when any replaced segment is no longer
    /// registered (compaction or retention changed the day meanwhile).
    ///
    /// An output's ``SegmentRecord/unrolledHours`` are its inputs' as they are now, inside the
    /// transaction (as ``commitCompaction(output:replacing:)`` does): events no rollup holds yet
    /// stay marked as such, so a rollup run that committed meanwhile is never missed.
    /// - Returns: the registered outputs (with ids) and the audit row's id.
    public func commitReplacement(
        _ days: [(output: SegmentRecord, inputs: [Int64])], dirty: Set<DirtyHour>, audit: RepriceAuditRow?, now: Int64
    ) throws -> (segments: [SegmentRecord], auditID: Int64?) {
        try writer.write { db in
            var inserted: [SegmentRecord] = []
            for (output, inputs) in days {
                var unrolled: UInt32 = 0
                for id in inputs {
                    guard let row = try Row.fetchOne(db, sql: "SELECT event_hours, unrolled_hours FROM segments WHERE id = ?",
                                                     arguments: [id]) else {
                        throw SegmentReplacementConflict(description: "segment \(id) is no longer registered")
                    }
                    unrolled |= (row["event_hours"] as UInt32) & (row["unrolled_hours"] as UInt32)
                    try db.execute(sql: "DELETE FROM segments WHERE id = ?", arguments: [id])
                }
                var out = output
                out.unrolledHours = unrolled & out.eventHours
                try out.insert(db)
                inserted.append(out)
            }
            for d in dirty {
                try db.execute(
                    sql: "INSERT INTO dirty_hours (org_id, hour_start, marked_at, recompute) VALUES (?, ?, ?, 1) ON CONFLICT DO UPDATE SET marked_at = excluded.marked_at, recompute = 1",
                    arguments: [d.orgID, d.hourStart, now])
            }
            var auditID: Int64?
            if let a = audit {
                try db.execute(sql: """
                    INSERT INTO reprice_audit (at, actor, org_id, from_ms, to_ms, price_version, include_client_costs,
                        events, changed_events, old_total_units, new_total_units, models)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [a.at, a.actor, a.orgID, a.fromMs, a.toMs, a.priceVersion, a.includeClientCosts,
                                     a.events, a.changedEvents, String(a.oldTotal), String(a.newTotal), a.modelsJSON])
                auditID = db.lastInsertedRowID
            }
            return (inserted, auditID)
        }
    }

    // MARK: Audit

    /// The reprice audit rows of `orgID` (all orgs when `nil`), oldest first.
    public func repriceAudit(orgID: String? = nil) throws -> [RepriceAuditRow] {
        try writer.read { db in
            guard try db.tableExists("reprice_audit") else { return [] }
            let rows = orgID == nil
                ? try Row.fetchAll(db, sql: "SELECT * FROM reprice_audit ORDER BY id")
                : try Row.fetchAll(db, sql: "SELECT * FROM reprice_audit WHERE org_id = ? ORDER BY id", arguments: [orgID])
            return rows.map { r in
                RepriceAuditRow(
                    id: r["id"], at: r["at"], actor: r["actor"], orgID: r["org_id"], fromMs: r["from_ms"], toMs: r["to_ms"],
                    priceVersion: r["price_version"], includeClientCosts: r["include_client_costs"], events: r["events"],
                    changedEvents: r["changed_events"], oldTotal: Int128(r["old_total_units"] as String) ?? 0,
                    newTotal: Int128(r["new_total_units"] as String) ?? 0, modelsJSON: r["models"])
            }
        }
    }
}

/// A price version imported twice with different prices.
public struct PriceVersionConflict: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
