#!/usr/bin/env bash
# Durable bulk ingest of the shared generator's events, timed against DuckDB loading the same file
# in the same run (A B A B ..., medians and the per-pair ratio), with peak RSS and bytes per event.
#
# Usage: scripts/bench-ingest.sh [EVENTS] [RUNS]   (defaults 1000000, 3)
# Needs python3 with numpy, pyarrow and duckdb (pip install numpy pyarrow duckdb; see
# ../shared/bench/README.md). The generated file is cached under bench-data/.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
runs=${2:-3}
py=${PYTHON:-python3}
gen=../shared/bench/gen_events.py
mkdir -p bench-data
file=bench-data/ev-$events.ndjson
[ -f "$file" ] || "$py" "$gen" --events "$events" --days 30 --seed 42 --out "$file"
swift build -c release --product tokentra >/dev/null
bin=.build/release/tokentra
work=$(mktemp -d /tmp/tokentra-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

cat > "$work/duck.py" <<'PY'
import sys, duckdb
con = duckdb.connect(sys.argv[2])
con.execute(f"CREATE TABLE events AS SELECT * FROM read_json('{sys.argv[1]}', format='newline_delimited')")
con.execute("CHECKPOINT")
n = con.execute("SELECT count(*) FROM events").fetchone()[0]
print(n)
PY

: > "$work/results"
for i in $(seq 1 "$runs"); do
    rm -rf "$work/t" "$work/d.duckdb"*
    /usr/bin/time -f "%e %M" -o "$work/t.time" "$bin" ingest --data-dir "$work/t" --now 2026-11-20T00:00:00Z "$file" > "$work/t.json"
    /usr/bin/time -f "%e %M" -o "$work/d.time" "$py" "$work/duck.py" "$file" "$work/d.duckdb" > "$work/d.out"
    tbytes=$(du -sb "$work/t" | cut -f1)
    dbytes=$(du -sb "$work/d.duckdb" | cut -f1)
    echo "$(cat "$work/t.time") $(cat "$work/d.time") $tbytes $dbytes" >> "$work/results"
done
"$bin" verify --data-dir "$work/t" > "$work/verify.json" || true
"$py" - "$work/results" "$file" "$work/t.json" "$work/verify.json" "$work/d.out" <<'PY'
import json, statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
lines = sum(1 for _ in open(sys.argv[2], "rb"))
ingest = json.load(open(sys.argv[3])); verify = json.load(open(sys.argv[4]))
duck_rows = int(open(sys.argv[5]).read().strip())
med = lambda k: statistics.median(r[k] for r in rows)
t_wall, t_rss, d_wall, d_rss, t_bytes, d_bytes = (med(k) for k in range(6))
ratios = sorted((lines / r[0]) / (lines / r[2]) for r in rows)
print(f"file {sys.argv[2]}: {lines:,} lines; tokentra processed {ingest['processed']:,} + duplicates {ingest['duplicates']:,}"
      f" (DuckDB loaded {duck_rows:,} rows, no dedup)")
print(f"tokentra ingest : median {t_wall:.2f} s = {lines / t_wall:,.0f} events/s, peak RSS {t_rss / 1024:.0f} MiB,"
      f" {t_bytes / ingest['processed']:.1f} B/event on disk (verify ok={verify['ok']})")
print(f"DuckDB load     : median {d_wall:.2f} s = {lines / d_wall:,.0f} events/s, peak RSS {d_rss / 1024:.0f} MiB,"
      f" {d_bytes / duck_rows:.1f} B/event on disk")
print(f"speed ratio tokentra/DuckDB per pair: {', '.join(f'{x:.2f}' for x in ratios)} (median {statistics.median(ratios):.2f}); {len(rows)} pairs")
PY
