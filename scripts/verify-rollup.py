#!/usr/bin/env python3
"""Check `tokentra rollup export` against an exact DuckDB computation over the raw NDJSON.

Usage: verify-rollup.py EVENTS.ndjson ROLLUP_HOUR.csv ROLLUP_DAY.csv

The CSVs come from `tokentra rollup export --granularity hour|day --format csv` on a data directory
that ingested EVENTS.ndjson (deduplicated by (org_id, request_id)) and ran `tokentra rollup run`.
Checks, per (org, bucket, provider, model):
  - request/error/cache-hit counts, token sums and costs are exactly equal (DECIMAL(38,10));
  - hourly p99 rank error (distance from 0.99 to the ranks the estimate occupies) for buckets of
    >= 100 events, and daily p50/p95/p99 relative error against exact quantile_cont.
Needs the duckdb Python package (/work/.venv/bin/python has it).
"""
import sys
import duckdb

events, hour_csv, day_csv = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"""
CREATE TABLE ev AS
SELECT * FROM (
  SELECT org_id, request_id, timestamp::TIMESTAMPTZ AS ts, provider, model,
         coalesce(input_tokens, 0) AS input_tokens, coalesce(output_tokens, 0) AS output_tokens,
         coalesce(cached_tokens, 0) AS cached_tokens,
         coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0) + coalesce(cached_tokens, 0)) AS total_tokens,
         coalesce(input_cost, '0')::DECIMAL(38,10) AS input_cost, coalesce(output_cost, '0')::DECIMAL(38,10) AS output_cost,
         coalesce(cached_cost, '0')::DECIMAL(38,10) AS cached_cost, coalesce(total_cost, '0')::DECIMAL(38,10) AS total_cost,
         latency_ms, coalesce(is_error, false) AS is_error, coalesce(was_cached, false) AS was_cached,
         row_number() OVER (PARTITION BY org_id, request_id ORDER BY timestamp) AS rn
  FROM read_json('{events}', format = 'newline_delimited', columns = {{
    'org_id': 'VARCHAR', 'request_id': 'VARCHAR', 'timestamp': 'VARCHAR', 'provider': 'VARCHAR', 'model': 'VARCHAR',
    'input_tokens': 'BIGINT', 'output_tokens': 'BIGINT', 'cached_tokens': 'BIGINT', 'total_tokens': 'BIGINT',
    'input_cost': 'VARCHAR', 'output_cost': 'VARCHAR', 'cached_cost': 'VARCHAR', 'total_cost': 'VARCHAR',
    'latency_ms': 'BIGINT', 'is_error': 'BOOLEAN', 'was_cached': 'BOOLEAN'}})
) WHERE rn = 1
""")
print("distinct events:", con.execute("SELECT count(*) FROM ev").fetchone()[0])

def load(name, path):
    con.execute(f"""CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', header = true, all_varchar = true)""")

load("rh", hour_csv)
load("rd", day_csv)
measures = ["request_count", "error_count", "cache_hit_count", "input_tokens", "output_tokens", "cached_tokens",
            "total_tokens", "input_cost", "output_cost", "cached_cost", "total_cost"]

for name, unit, label in [("rh", "hour", "strftime(date_trunc('hour', ts), '%Y-%m-%dT%H:00:00Z')"),
                          ("rd", "day", "strftime(date_trunc('day', ts), '%Y-%m-%d')")]:
    con.execute(f"""
    CREATE TABLE x_{name} AS
    SELECT org_id, {label} AS bucket, provider, model, count(*) AS request_count,
           count(*) FILTER (WHERE is_error) AS error_count, count(*) FILTER (WHERE was_cached) AS cache_hit_count,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cached_tokens) AS cached_tokens,
           sum(total_tokens) AS total_tokens, sum(input_cost) AS input_cost, sum(output_cost) AS output_cost,
           sum(cached_cost) AS cached_cost, sum(total_cost) AS total_cost,
           quantile_cont(latency_ms, 0.5) AS p50, quantile_cont(latency_ms, 0.95) AS p95, quantile_cont(latency_ms, 0.99) AS p99
    FROM ev GROUP BY ALL""")
    rows_exact = con.execute(f"SELECT count(*) FROM x_{name}").fetchone()[0]
    rows_ours = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    cmp = " OR ".join(
        f"x.{m}::DECIMAL(38,10) IS DISTINCT FROM r.{m}::DECIMAL(38,10)" for m in measures)
    bad = con.execute(f"""
        SELECT count(*) FROM x_{name} x FULL OUTER JOIN {name} r USING (org_id, bucket, provider, model)
        WHERE x.request_count IS NULL OR r.request_count IS NULL OR {cmp}""").fetchone()[0]
    total = con.execute(f"SELECT sum(total_cost::DECIMAL(38,10)) FROM {name}").fetchone()[0]
    print(f"{unit}: {rows_ours} rows (exact: {rows_exact}); rows with any count/token/cost mismatch: {bad}; total_cost {total}")

# Hourly p99 rank error for buckets of >= 100 events.
con.execute("""
CREATE TABLE hb AS
SELECT r.org_id, r.bucket, r.provider, r.model, r.p99_latency_ms::DOUBLE AS est, r.request_count::BIGINT AS n
FROM rh r WHERE r.request_count::BIGINT >= 100""")
res = con.execute("""
WITH ranks AS (
  SELECT hb.org_id, hb.bucket, hb.provider, hb.model, hb.n, hb.est,
         count(*) FILTER (WHERE e.latency_ms < hb.est) AS below,
         count(*) FILTER (WHERE e.latency_ms <= hb.est) AS upto
  FROM hb JOIN ev e ON e.org_id = hb.org_id AND e.provider = hb.provider AND e.model = hb.model
   AND strftime(date_trunc('hour', e.ts), '%Y-%m-%dT%H:00:00Z') = hb.bucket
  GROUP BY ALL)
SELECT count(*), max(greatest(below::DOUBLE / n - 0.99, 0.99 - upto::DOUBLE / n, 0)),
       avg(greatest(below::DOUBLE / n - 0.99, 0.99 - upto::DOUBLE / n, 0)),
       count(*) FILTER (WHERE greatest(below::DOUBLE / n - 0.99, 0.99 - upto::DOUBLE / n, 0) > 0.0001)
FROM ranks""").fetchone()
print(f"hourly p99 over {res[0]} buckets with >= 100 events: max rank error {res[1]:.6%}, mean {res[2]:.6%}, buckets above 0.01%: {res[3]}")

# Daily p99 (merged hourly digests) against the exact p99 of the day's raw values, with the
# digest's definition (inverse empirical CDF: value at rank ceil(q*n), midpoint when q*n is an
# integer) and with PERCENTILE_CONT's linear interpolation (quantile_cont).
con.execute("""
CREATE TABLE dx AS
SELECT org_id, strftime(date_trunc('day', ts), '%Y-%m-%d') AS bucket, provider, model, count(*) AS n,
       list_sort(list(latency_ms::DOUBLE)) AS v
FROM ev GROUP BY ALL HAVING count(*) >= 100""")
for q, col in [(0.5, "p50_latency_ms"), (0.95, "p95_latency_ms"), (0.99, "p99_latency_ms")]:
    res = con.execute(f"""
    WITH e AS (
      SELECT dx.*, r.{col}::DOUBLE AS est, x.p{int(q * 100)} AS cont,
             CASE WHEN {q} * n = floor({q} * n) AND {q} * n < n
                  THEN (v[({q} * n)::BIGINT] + v[({q} * n)::BIGINT + 1]) / 2
                  ELSE v[ceil({q} * n)::BIGINT] END AS disc
      FROM dx JOIN rd r USING (org_id, bucket, provider, model) JOIN x_rd x USING (org_id, bucket, provider, model))
    SELECT count(*), max(abs(est - disc) / disc), quantile_cont(abs(est - disc) / disc, 0.5),
           count(*) FILTER (WHERE abs(est - disc) / disc > 0.01),
           max(abs(est - cont) / cont), quantile_cont(abs(est - cont) / cont, 0.5),
           count(*) FILTER (WHERE abs(est - cont) / cont > 0.01)
    FROM e""").fetchone()
    print(f"daily p{int(q * 100)} over {res[0]} buckets with >= 100 events: vs exact (same definition) max {res[1]:.4%}, "
          f"median {res[2]:.4%}, > 1%: {res[3]}; vs quantile_cont max {res[4]:.4%}, median {res[5]:.4%}, > 1%: {res[6]}")
