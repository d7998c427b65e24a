import GRDB
import TokentraCore

/// The SQLite index (GRDB): the catalog of segment files, the WAL checkpoint, dirty rollup
/// buckets, and (in later migrations) rollups, API keys, retention and job runs.
///
/// The index owns the connection (``writer``, shared by the modules that store tables in it) and
/// every migration. The rollup tables' reads and writes are the Rollups module's `RollupStore`.
///
/// SQLite is the source of truth for which segment files exist: a file the index does not list
/// is not part of the store. A `DatabasePool` in WAL mode lets readers run beside the writer.
///
/// ```swift
/// let index = try IndexDatabase(path: "data/index.sqlite")
/// let segments = try index.segments(orgID: "org_a")
/// ```
public final class IndexDatabase: Sendable {
    public let writer: any DatabaseWriter

    /// Opens (creating if needed) the index at `path` and applies every pending migration.
    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        writer = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(writer)
    }

    /// Whether writes may overlap reads from other threads (a `DatabasePool`, WAL mode).
    public var supportsConcurrentReads: Bool { writer is DatabasePool }

    /// Opens an existing index without changing it (no migrations; writes fail). For `verify`.
    public init(readOnlyPath path: String) throws {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        writer = try DatabaseQueue(path: path, configuration: config)
    }

    /// An in-memory index for tests.
    public init() throws {
        writer = try DatabaseQueue()
        try Self.migrator.migrate(writer)
    }

    /// Migrations are append-only and never edited; schema/index.sql is their snapshot.
    public static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-segments") { db in
            try db.execute(sql: """
                CREATE TABLE segments (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    org_id TEXT NOT NULL,
                    day TEXT NOT NULL,
                    file TEXT NOT NULL UNIQUE,
                    rows INTEGER NOT NULL,
                    bytes INTEGER NOT NULL,
                    min_ts INTEGER NOT NULL,
                    max_ts INTEGER NOT NULL,
                    unpriced_rows INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX segments_org_day ON segments(org_id, day);
                CREATE TABLE wal_checkpoint (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    sealed_through INTEGER NOT NULL
                );
                INSERT INTO wal_checkpoint (id, sealed_through) VALUES (1, 0);
                CREATE TABLE dirty_hours (
                    org_id TEXT NOT NULL,
                    hour_start INTEGER NOT NULL,
                    marked_at INTEGER NOT NULL,
                    PRIMARY KEY (org_id, hour_start)
                ) WITHOUT ROWID;
                CREATE TABLE meta (
                    key TEXT PRIMARY KEY,
                    value TEXT NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        m.registerMigration("v2-rollups") { db in
            try createRollupTables(db)
        }
        m.registerMigration("v3-api-keys") { db in
            try createAPIKeyTables(db)
        }
        m.registerMigration("v4-retention") { db in
            try createRetentionTables(db)
        }
        m.registerMigration("v5-quarantine") { db in
            try createQuarantineTable(db)
        }
        m.registerMigration("v6-latency-count") { db in
            try addLatencyCountAndTTFTDigest(db)
        }
        m.registerMigration("v7-notifications") { db in
            try createNotificationTables(db)
        }
        m.registerMigration("v8-rollup-fold") { db in
            // Existing segments: hours unknown (all), every event rolled up or covered by a dirty
            // mark, and existing marks recompute their hours from all segments.
            try db.execute(sql: """
                ALTER TABLE segments ADD COLUMN event_hours INTEGER NOT NULL DEFAULT 16777215;
                ALTER TABLE segments ADD COLUMN unrolled_hours INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE dirty_hours ADD COLUMN recompute INTEGER NOT NULL DEFAULT 1;
                """)
        }
        m.registerMigration("v9-price-versions-audit") { db in
            try createRepricingTables(db)
        }
        m.registerMigration("v10-notification-revisions") { db in
            try addNotificationRevisions(db)
        }
        return m
    }

    /// The schema as SQL text (for the schema/index.sql snapshot test).
    public func schemaSQL() throws -> String {
        try writer.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT sql FROM sqlite_master
                WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%'
                ORDER BY type DESC, name
                """)
            return rows.map { ($0["sql"] as String) + ";\n" }.joined()
        }
    }
}

/// One segment file in the catalog.
public struct SegmentRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "segments"
    public var id: Int64?
    public var orgID: String
    public var day: String
    /// Path relative to the data directory.
    public var file: String
    public var rows: Int
    public var bytes: Int
    public var minTs: Int64
    public var maxTs: Int64
    public var unpricedRows: Int
    public var createdAt: Int64
    /// Bit h set: the segment holds events of UTC hour h of its day.
    public var eventHours: UInt32
    /// Bit h set: the segment's events of hour h are not yet in the stored rollup rows (a rollup
    /// run folds them in and clears the bit). See schema/rollups.md, "Folding new events in".
    public var unrolledHours: UInt32

    public enum CodingKeys: String, CodingKey {
        case id, day, file, rows, bytes
        case orgID = "org_id"
        case minTs = "min_ts"
        case maxTs = "max_ts"
        case unpricedRows = "unpriced_rows"
        case createdAt = "created_at"
        case eventHours = "event_hours"
        case unrolledHours = "unrolled_hours"
    }

    public enum Columns {
        public static let orgID = Column(CodingKeys.orgID)
        public static let day = Column(CodingKeys.day)
        public static let file = Column(CodingKeys.file)
    }

    /// `eventHours` and `unrolledHours` have no default on purpose: a new segment's events are
    /// either new to the rollups (a seal: both equal) or already in them (none unrolled), and
    /// guessing wrong counts events twice or never.
    public init(id: Int64? = nil, orgID: String, day: String, file: String, rows: Int, bytes: Int,
                minTs: Int64, maxTs: Int64, unpricedRows: Int, createdAt: Int64, eventHours: UInt32, unrolledHours: UInt32) {
        self.id = id
        self.orgID = orgID
        self.day = day
        self.file = file
        self.rows = rows
        self.bytes = bytes
        self.minTs = minTs
        self.maxTs = maxTs
        self.unpricedRows = unpricedRows
        self.createdAt = createdAt
        self.eventHours = eventHours
        self.unrolledHours = unrolledHours
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// An (org, hour) whose raw data changed since its rollup was computed. A seal (``IndexDatabase/commitSeal(segments:replacing:dirty:sealedThrough:now:)``)
/// or a reprice marks it in `dirty_hours` in the catalog's own transaction; the rollup runs read
/// and clear the marks (`RollupStore` in the Rollups module).
public struct DirtyHour: Hashable, Sendable {
    public var orgID: String
    /// Start of the UTC hour, ms since the epoch.
    public var hourStart: Int64
    public init(orgID: String, hourStart: Int64) {
        self.orgID = orgID
        self.hourStart = hourStart
    }
}

extension IndexDatabase {
    /// Registers sealed segments, unregisters the segments they replace (merged into them), marks
    /// the new events' hours dirty and advances the WAL checkpoint, in one transaction.
    /// (The dirty marks are written here, not by Rollups' `RollupStore`, because they must commit
    /// with the segments that hold the new events.)
    public func commitSeal(
        segments: [SegmentRecord], replacing: [Int64] = [], dirty: Set<DirtyHour>, sealedThrough: UInt64, now: Int64
    ) throws -> [SegmentRecord] {
        try writer.write { db in
            for id in replacing {
                try db.execute(sql: "DELETE FROM segments WHERE id = ?", arguments: [id])
            }
            var inserted: [SegmentRecord] = []
            for var s in segments {
                try s.insert(db)
                inserted.append(s)
            }
            for d in dirty {
                try db.execute(
                    sql: "INSERT INTO dirty_hours (org_id, hour_start, marked_at, recompute) VALUES (?, ?, ?, 0) ON CONFLICT DO UPDATE SET marked_at = excluded.marked_at",
                    arguments: [d.orgID, d.hourStart, now])
            }
            try Self.markForEvaluation(db, dirty)
            try db.execute(sql: "UPDATE wal_checkpoint SET sealed_through = MAX(sealed_through, ?) WHERE id = 1",
                           arguments: [Int64(sealedThrough)])
            return inserted
        }
    }

    /// Records that every WAL file ≤ `sequence` is sealed (used when a seal had nothing to write).
    public func setWALSealedThrough(_ sequence: UInt64) throws {
        try writer.write { db in
            try db.execute(sql: "UPDATE wal_checkpoint SET sealed_through = MAX(sealed_through, ?) WHERE id = 1",
                           arguments: [Int64(sequence)])
        }
    }

    /// The highest WAL file number whose records are all in registered segments.
    public func walSealedThrough() throws -> UInt64 {
        try writer.read { db in
            UInt64(try Int64.fetchOne(db, sql: "SELECT sealed_through FROM wal_checkpoint WHERE id = 1") ?? 0)
        }
    }

    /// Segments, optionally restricted to one org and a day range (`YYYY-MM-DD`, inclusive).
    public func segments(orgID: String? = nil, fromDay: String? = nil, toDay: String? = nil) throws -> [SegmentRecord] {
        try writer.read { db in
            var request = SegmentRecord.all()
            if let orgID { request = request.filter(SegmentRecord.Columns.orgID == orgID) }
            if let fromDay { request = request.filter(SegmentRecord.Columns.day >= fromDay) }
            if let toDay { request = request.filter(SegmentRecord.Columns.day <= toDay) }
            return try request.order(SegmentRecord.Columns.orgID, SegmentRecord.Columns.day, Column("id")).fetchAll(db)
        }
    }

    /// Every org that has segments.
    public func orgIDs() throws -> [String] {
        try writer.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT org_id FROM segments ORDER BY org_id") }
    }

    /// Reads a `meta` value.
    public func meta(_ key: String) throws -> String? {
        try writer.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    /// Writes a `meta` value.
    public func setMeta(_ key: String, _ value: String) throws {
        try writer.write { db in
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                           arguments: [key, value])
        }
    }
}

extension IndexDatabase {
    /// Copies the whole index into a new SQLite file at `path` with SQLite's online backup API, in
    /// one step inside one read transaction: a consistent snapshot even while another process (the
    /// daemon) writes. The copy is left in rollback-journal mode as a single file (`IndexDatabase(path:)`
    /// switches it back to WAL when it is opened).
    /// - Throws: a GRDB error (the partial file is left for the caller to remove).
    public func backup(toPath path: String) throws {
        let destination = try DatabaseQueue(path: path)
        try writer.backup(to: destination)
        try destination.writeWithoutTransaction { db in
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE")
        }
        try destination.close()
    }

    /// Turns a file-level copy of a *closed* index (`index.sqlite` and, if it had one, its
    /// `index.sqlite-wal`, copied side by side to `path`) into a single self-contained file: SQLite
    /// replays the WAL copy into it and the journal mode becomes DELETE. For backups of a stopped
    /// directory, which must not open the source (a read-only open leaves `-wal`/`-shm` files behind).
    public static func consolidateCopy(atPath path: String) throws {
        let db = try DatabaseQueue(path: path)
        try db.writeWithoutTransaction { db in
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE")
        }
        try db.close()
    }
}
