-- tokentra SQLite index schema: the result of running every migration in
-- Sources/UsageIndex (append-only, never edited). Generated; checked by IndexSchemaTests.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash BLOB NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    rate_limit_minute INTEGER,
    rate_limit_day INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE TABLE dirty_hours (
    org_id TEXT NOT NULL,
    hour_start INTEGER NOT NULL,
    marked_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, hour_start)
) WITHOUT ROWID;
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
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE quarantined_segments (
    file TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    day TEXT NOT NULL,
    quarantined_file TEXT NOT NULL,
    rows INTEGER NOT NULL,
    reason TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE retention_policies (
    org_id TEXT PRIMARY KEY,
    raw_days INTEGER NOT NULL CHECK (raw_days >= 1),
    hourly_days INTEGER NOT NULL CHECK (hourly_days >= 1),
    daily_days INTEGER NOT NULL CHECK (daily_days >= 1),
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE rollup_daily (
    org_id TEXT NOT NULL,
    day TEXT NOT NULL,
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
    computed_at INTEGER NOT NULL, latency_count INTEGER, ttft_digest BLOB,
    PRIMARY KEY (org_id, day)
);
CREATE TABLE rollup_hourly (
    org_id TEXT NOT NULL,
    hour_start INTEGER NOT NULL,
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
    computed_at INTEGER NOT NULL, latency_count INTEGER, ttft_digest BLOB,
    PRIMARY KEY (org_id, hour_start)
);
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
CREATE TABLE wal_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed_through INTEGER NOT NULL
);
CREATE INDEX api_keys_org ON api_keys(org_id);
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE INDEX job_runs_job ON job_runs(job, id);
CREATE INDEX segments_org_day ON segments(org_id, day);
