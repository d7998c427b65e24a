import GRDB

/// A segment file moved out of the store because it could not be read.
public struct QuarantinedSegment: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "quarantined_segments"
    public var orgID: String
    public var day: String
    /// Where the file was registered (relative to the data directory).
    public var file: String
    /// Where it is now (relative to the data directory).
    public var quarantinedFile: String
    public var rows: Int
    public var reason: String
    public var quarantinedAt: Int64

    public enum CodingKeys: String, CodingKey {
        case orgID = "org_id", day, file, quarantinedFile = "quarantined_file", rows, reason
        case quarantinedAt = "quarantined_at"
    }

    public init(orgID: String, day: String, file: String, quarantinedFile: String, rows: Int, reason: String, quarantinedAt: Int64) {
        self.orgID = orgID
        self.day = day
        self.file = file
        self.quarantinedFile = quarantinedFile
        self.rows = rows
        self.reason = reason
        self.quarantinedAt = quarantinedAt
    }
}

extension IndexDatabase {
    static func createQuarantineTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE quarantined_segments (
                file TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                day TEXT NOT NULL,
                quarantined_file TEXT NOT NULL,
                rows INTEGER NOT NULL,
                reason TEXT NOT NULL,
                quarantined_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            """)
    }

    /// Replaces `inputs` by `output` in one transaction (compaction). Fails, changing nothing, when
    /// any input is no longer registered (retention or another compaction removed it meanwhile),
    /// or when, for some hour, some inputs' events are rolled up and others' are not (the output
    /// could not say which of its events the rollups hold; the next rollup run settles it).
    ///
    /// The output's ``SegmentRecord/unrolledHours`` are the inputs' as they are now, inside the
    /// transaction, so a rollup run committing meanwhile is never missed. (That rollup bookkeeping
    /// stays here, not in Rollups' `RollupStore`: it must be read and carried over in the same
    /// transaction that swaps the segments.)
    /// - Returns: the registered output (with its id).
    public func commitCompaction(output: SegmentRecord, replacing inputs: [Int64]) throws -> SegmentRecord? {
        try writer.write { db in
            var rolled: UInt32 = 0, unrolled: UInt32 = 0
            for id in inputs {
                guard let row = try Row.fetchOne(db, sql: "SELECT event_hours, unrolled_hours FROM segments WHERE id = ?", arguments: [id]) else {
                    throw DatabaseError(resultCode: .SQLITE_ABORT, message: "segment \(id) is no longer registered")
                }
                let events: UInt32 = row["event_hours"], open: UInt32 = row["unrolled_hours"]
                unrolled |= events & open
                rolled |= events & ~open
                try db.execute(sql: "DELETE FROM segments WHERE id = ?", arguments: [id])
            }
            guard rolled & unrolled == 0 else {
                throw DatabaseError(resultCode: .SQLITE_ABORT, message: "the inputs' events of some hour are partly rolled up")
            }
            var out = output
            out.unrolledHours = unrolled & out.eventHours
            try out.insert(db)
            return out
        }
    }

    /// Unregisters a segment and records it as quarantined, in one transaction.
    public func quarantine(segmentID: Int64, record: QuarantinedSegment) throws {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM segments WHERE id = ?", arguments: [segmentID])
            try record.insert(db, onConflict: .replace)
        }
    }

    /// Every quarantined segment, oldest first.
    public func quarantinedSegments() throws -> [QuarantinedSegment] {
        try writer.read { db in
            // A read-only open of an index from before migration v5 has no such table: nothing quarantined.
            guard try db.tableExists(QuarantinedSegment.databaseTableName) else { return [] }
            return try QuarantinedSegment.order(Column("quarantined_at"), Column("file")).fetchAll(db)
        }
    }
}

// The catalog's side of a rollup run (Rollups' `RollupStore`), inside its transactions: the run
// reads the catalog with its dirty marks in one snapshot, and clears the unrolled hours it settled
// in the transaction that writes its rows.
extension IndexDatabase {
    /// Every segment, ordered by org, day and id, and the largest segment id (0 when there is
    /// none), read in the caller's transaction.
    public static func catalog(_ db: Database) throws -> (segments: [SegmentRecord], maxSegmentID: Int64) {
        let segments = try SegmentRecord.order(SegmentRecord.Columns.orgID, SegmentRecord.Columns.day, Column("id")).fetchAll(db)
        let maxID = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM segments") ?? 0
        return (segments, maxID)
    }

    /// Clears the `hours` bits of a segment's ``SegmentRecord/unrolledHours`` (its events of those
    /// hours are now in the rollups), in the caller's write transaction.
    /// - Returns: `false` when the segment is no longer registered (compaction replaced it).
    public static func clearUnrolledHours(_ db: Database, segmentID: Int64, hours: UInt32) throws -> Bool {
        let settle = try db.cachedStatement(sql: "UPDATE segments SET unrolled_hours = unrolled_hours & ~? WHERE id = ?")
        try settle.execute(arguments: [Int64(hours), segmentID])
        return db.changesCount != 0
    }

    /// The (org, day) of every segment registered after segment `id`, in the caller's transaction.
    public static func segmentDays(_ db: Database, registeredAfter id: Int64) throws -> [(orgID: String, day: String)] {
        try Row.fetchAll(db, sql: "SELECT DISTINCT org_id, day FROM segments WHERE id > ?", arguments: [id]).map {
            (orgID: $0["org_id"], day: $0["day"])
        }
    }
}

extension IndexDatabase {
    /// The (org, UTC day start ms) pairs that have hourly rollups but no raw segment: their raw
    /// events were deleted by retention (or quarantined) after they were rolled up.
    public func rawRetiredDays() throws -> Set<RetiredDay> {
        try writer.read { db in
            let rolled = try Row.fetchAll(db, sql: """
                SELECT DISTINCT org_id, (hour_start - ((hour_start % 86400000) + 86400000) % 86400000) AS day_start
                FROM rollup_hourly
                """)
            var raw = Set<String>()
            for row in try Row.fetchAll(db, sql: "SELECT DISTINCT org_id, day FROM segments") {
                raw.insert((row["org_id"] as String) + "|" + (row["day"] as String))
            }
            var out = Set<RetiredDay>()
            for row in rolled {
                let org: String = row["org_id"], start: Int64 = row["day_start"]
                if !raw.contains(org + "|" + Self.dayString(start)) { out.insert(RetiredDay(orgID: org, dayStartMs: start)) }
            }
            return out
        }
    }
}

/// An (org, UTC day) whose raw events are gone but whose rollups remain.
public struct RetiredDay: Hashable, Sendable {
    public var orgID: String
    public var dayStartMs: Int64
    public init(orgID: String, dayStartMs: Int64) {
        self.orgID = orgID
        self.dayStartMs = dayStartMs
    }
}
