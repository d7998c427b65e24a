import GRDB

// The rollup tables' schema (migrations "v2-rollups" and "v6-latency-count"). Their storage API
// (reads and writes of rollup_hourly, rollup_daily and the dirty_hours marks a rollup run
// consumes) is the Rollups module's `RollupStore` (Sources/Rollups/Storage), on this index's
// database handle; the layout of the rows is documented in schema/rollups.md.
extension IndexDatabase {
    /// The body of migration `v6-latency-count`: how many events of a bucket reported a latency
    /// (NULL in older rows, where all did) and the bucket's time-to-first-token digest.
    static func addLatencyCountAndTTFTDigest(_ db: Database) throws {
        for table in ["rollup_hourly", "rollup_daily"] {
            try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN latency_count INTEGER")
            try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN ttft_digest BLOB")
        }
    }

    /// The body of migration `v2-rollups` (registered by ``migrator``; append-only, never edited).
    static func createRollupTables(_ db: Database) throws {
        for table in ["rollup_hourly", "rollup_daily"] {
            let key = table == "rollup_hourly" ? "hour_start INTEGER NOT NULL" : "day TEXT NOT NULL"
            let keyName = table == "rollup_hourly" ? "hour_start" : "day"
            try db.execute(sql: """
                CREATE TABLE \(table) (
                    org_id TEXT NOT NULL,
                    \(key),
                    request_count INTEGER NOT NULL,
                    error_count INTEGER NOT NULL,
                    cache_hit_count INTEGER NOT NULL,
                    unpriced_count INTEGER NOT NULL,
                    input_tokens INTEGER,
                    output_tokens INTEGER,
                    cached_tokens INTEGER,
                    total_tokens INTEGER,
                    input_cost INTEGER,
                    output_cost INTEGER,
                    cached_cost INTEGER,
                    total_cost INTEGER,
                    latency_sum_ms INTEGER,
                    ttft_count INTEGER NOT NULL,
                    ttft_sum_ms INTEGER,
                    latency_digest BLOB NOT NULL,
                    slices BLOB NOT NULL,
                    computed_at INTEGER NOT NULL,
                    PRIMARY KEY (org_id, \(keyName))
                );
                """)
        }
        try db.execute(sql: """
            CREATE TABLE job_runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job TEXT NOT NULL,
                started_at INTEGER NOT NULL,
                finished_at INTEGER,
                buckets INTEGER NOT NULL DEFAULT 0,
                events INTEGER NOT NULL DEFAULT 0,
                error TEXT,
                details TEXT
            );
            CREATE INDEX job_runs_job ON job_runs(job, id);
            """)
    }
}
