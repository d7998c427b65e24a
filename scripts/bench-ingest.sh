#!/usr/bin/env bash
# Times a durable bulk ingest of the shared generator's events and reports bytes per event.
# Usage: scripts/bench-ingest.sh [EVENTS] (default 1000000). Needs python3 with numpy+pyarrow
# (see ../shared/bench/README.md); the generated file is cached under bench-data/.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
gen=../shared/bench/gen_events.py
mkdir -p bench-data
file=bench-data/ev-$events.ndjson
py=${PYTHON:-python3}
[ -f "$file" ] || "$py" "$gen" --events "$events" --days 30 --seed 42 --out "$file"
swift build -c release --product tokentra >/dev/null
bin=.build/release/tokentra
dir=$(mktemp -d /tmp/tokentra-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
start=$(date +%s.%N)
"$bin" ingest --data-dir "$dir" --now 2026-11-20T00:00:00Z "$file" > "$dir.ingest.json"
end=$(date +%s.%N)
lines=$(wc -l < "$file")
echo "ingest: $(cat "$dir.ingest.json" | head -c 200)"
python3 - "$lines" "$start" "$end" <<'PY'
import sys
lines, s, e = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"lines {lines}  wall {e-s:.2f} s  {lines/(e-s):,.0f} events/s (durable, including seal)")
PY
"$bin" verify --data-dir "$dir" --format json
rm -f "$dir.ingest.json"
