#!/usr/bin/env bash
# Times the dashboard questions in-process (`tokentra query ... --timing-runs N`: query + JSON, p50
# and p95 over N runs) on a data directory, then asks DuckDB the same questions of the same NDJSON
# file in the same run (scripts/duckdb-queries.py), and prints both totals for an exact check.
#
# Usage: scripts/bench-query.sh DATA_DIR EVENTS.ndjson ORG FROM TO [RUNS]
#   DATA_DIR: ingested and rolled up from EVENTS.ndjson (e.g. WORK=/tmp/br scripts/bench-rollup.sh
#             EVENTS.ndjson leaves one in /tmp/br/d)
#   TOKENTRA=path/to/tokentra (default .build/release/tokentra); PYTHON (default .venv/bin/python)
set -euo pipefail
DATA=$1 EVENTS=$2 ORG=$3 FROM=$4 TO=$5 RUNS=${6:-200}
BIN=${TOKENTRA:-.build/release/tokentra}
PY=${PYTHON:-.venv/bin/python}

q() {
  local name=$1; shift
  local line
  line=$("$BIN" query "$@" --data-dir "$DATA" --org "$ORG" --from "$FROM" --to "$TO" --format json \
         --timing-runs "$RUNS" 2>&1 >/dev/null | grep timing)
  echo "tokentra $name: ${line#timing: }"
}
q "30 daily points + p95 (UTC)" usage
q "30 daily points + p95 (Asia/Tokyo)" usage --tz Asia/Tokyo
q "30 daily points + p95 (Asia/Kolkata)" usage --tz Asia/Kolkata
q "30 daily points + p95 (Asia/Kathmandu)" usage --tz Asia/Kathmandu
q "breakdown by model, 30 days" models
q "team=search, breakdown by model, 30 days (raw segments)" models --team search
q "user_id top-20, 30 days (raw segments)" breakdown --by user_id --limit 20
"$BIN" query usage --data-dir "$DATA" --org "$ORG" --from "$FROM" --to "$TO" --format json \
  | "$PY" -c 'import json,sys; d=json.load(sys.stdin)["data"]; print("tokentra check: total_cost", d["total_cost"], "over", d["total_requests"], "events")'
"$PY" scripts/duckdb-queries.py "$EVENTS" "$ORG" "$FROM" "$TO" 20
