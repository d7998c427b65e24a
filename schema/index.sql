-- tokentra SQLite index schema: the result of running every migration in
-- Sources/UsageIndex (append-only, never edited). Generated; checked by IndexSchemaTests.
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
CREATE TABLE "budget_crossings" (
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
CREATE TABLE dirty_hours (
    org_id TEXT NOT NULL,
    hour_start INTEGER NOT NULL,
    marked_at INTEGER NOT NULL, recompute INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (org_id, hour_start)
) WITHOUT ROWID;
CREATE TABLE evaluation_marks (
    org_id TEXT NOT NULL,
    hour_start INTEGER NOT NULL,
    generation INTEGER NOT NULL,
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
CREATE TABLE notification_events (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE price_versions (
    version INTEGER PRIMARY KEY,
    imported_at INTEGER NOT NULL,
    imported_by TEXT NOT NULL,
    source TEXT NOT NULL,
    entries INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE quarantined_segments (
    file TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    day TEXT NOT NULL,
    quarantined_file TEXT NOT NULL,
    rows INTEGER NOT NULL,
    reason TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
) WITHOUT ROWID;
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
, event_hours INTEGER NOT NULL DEFAULT 16777215, unrolled_hours INTEGER NOT NULL DEFAULT 0);
CREATE TABLE wal_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed_through INTEGER NOT NULL
);
CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT, probe INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;
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
    created_at INTEGER NOT NULL, probe_resume_at INTEGER,
    UNIQUE (event_id, webhook_id)
);
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
CREATE INDEX alert_history_alert ON alert_history(alert_id, id);
CREATE INDEX alerts_org ON alerts(org_id);
CREATE INDEX api_keys_org ON api_keys(org_id);
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE INDEX budgets_org ON budgets(org_id);
CREATE INDEX job_runs_job ON job_runs(job, id);
CREATE INDEX notification_events_org ON notification_events(org_id, created_at);
CREATE INDEX reprice_audit_org ON reprice_audit(org_id, id);
CREATE INDEX segments_org_day ON segments(org_id, day);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, id);
CREATE INDEX webhooks_org ON webhooks(org_id);
