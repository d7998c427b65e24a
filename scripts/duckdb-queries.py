#!/usr/bin/env python3
"""The dashboard questions of scripts/bench-query.sh asked of DuckDB, on the same NDJSON file.

Usage: duckdb-queries.py EVENTS.ndjson ORG FROM TO [RUNS]
Loads the file into an in-memory table once (deduplicated by (org_id, request_id), like tokentra),
then prints the median wall time in ms of each query over RUNS runs, and one exact check value
(the total cost of ORG in [FROM, TO) as a Decimal string) so both sides can be compared.
"""
import statistics
import sys
import time

import duckdb

path, org, start, end = sys.argv[1:5]
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 20
con = duckdb.connect()
t0 = time.perf_counter()
con.execute(f"""
    CREATE TABLE events AS
    SELECT * EXCLUDE (rn) FROM (
        SELECT *, row_number() OVER (PARTITION BY org_id, request_id ORDER BY timestamp) AS rn
        FROM read_json('{path}', format='newline_delimited',
                       columns={{'request_id': 'VARCHAR', 'timestamp': 'TIMESTAMP', 'org_id': 'VARCHAR',
                                 'provider': 'VARCHAR', 'model': 'VARCHAR', 'input_tokens': 'BIGINT',
                                 'output_tokens': 'BIGINT', 'cached_tokens': 'BIGINT',
                                 'total_cost': 'DECIMAL(18,10)', 'latency_ms': 'DOUBLE',
                                 'time_to_first_token_ms': 'DOUBLE', 'feature': 'VARCHAR', 'team': 'VARCHAR',
                                 'user_id': 'VARCHAR', 'environment': 'VARCHAR'}})
    ) WHERE rn = 1
""")
print(f"duckdb load + dedup: {time.perf_counter() - t0:.2f} s", file=sys.stderr)

where = f"org_id = '{org}' AND timestamp >= TIMESTAMP '{start}' AND timestamp < TIMESTAMP '{end}'"
queries = {
    "hourly rollup (org, hour, provider, model) + p50/p95/p99": """
        SELECT org_id, date_trunc('hour', timestamp) h, provider, model, count(*), sum(total_cost),
               sum(input_tokens), sum(output_tokens), quantile_cont(latency_ms, [0.5, 0.95, 0.99])
        FROM events GROUP BY ALL""",
    "30 daily points + p95 (UTC)": f"""
        SELECT date_trunc('day', timestamp) d, count(*), sum(total_cost), quantile_cont(latency_ms, 0.95)
        FROM events WHERE {where} GROUP BY d ORDER BY d""",
    "30 daily points + p95 (Asia/Kolkata)": f"""
        SELECT date_trunc('day', timezone('Asia/Kolkata', timestamp::TIMESTAMPTZ)) d, count(*), sum(total_cost),
               quantile_cont(latency_ms, 0.95)
        FROM events WHERE {where} GROUP BY d ORDER BY d""",
    "breakdown by model, 30 days": f"""
        SELECT provider, model, count(*), sum(total_cost), quantile_cont(latency_ms, [0.5, 0.95, 0.99])
        FROM events WHERE {where} GROUP BY ALL ORDER BY 4 DESC""",
    "team=search, breakdown by model, 30 days": f"""
        SELECT provider, model, count(*), sum(total_cost), quantile_cont(latency_ms, [0.5, 0.95, 0.99])
        FROM events WHERE {where} AND team = 'search' GROUP BY ALL ORDER BY 4 DESC""",
    "user_id top-20, 30 days": f"""
        SELECT user_id, count(*), sum(total_cost), quantile_cont(latency_ms, [0.5, 0.95, 0.99])
        FROM events WHERE {where} GROUP BY ALL ORDER BY 3 DESC LIMIT 20""",
}
for name, sql in queries.items():
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        con.execute(sql).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    print(f"duckdb  {name}: median {statistics.median(times):.1f} ms over {runs} runs")
total = con.execute(f"SELECT sum(total_cost)::VARCHAR, count(*) FROM events WHERE {where}").fetchone()
print(f"duckdb  check: total_cost {total[0]} over {total[1]} events")
