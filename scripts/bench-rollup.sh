#!/usr/bin/env bash
# Times `tokentra rollup run` on generated data:
#   1. full hourly + daily rollup of everything but the last 10k lines (best of RUNS runs, each on a
#      fresh copy of the ingested data directory);
#   2. incremental run after ingesting the last 10k lines (they include late events);
#   3. checks that the incremental result has the sums and counts of a full rebuild
#      (`rollup run --rebuild`) exactly, and reports how far its merged percentiles are from it.
#
# Usage: scripts/bench-rollup.sh [EVENTS.ndjson]      (default /work/data/ev-5M.ndjson)
#   TOKENTRA=path/to/tokentra  (default .build/release/tokentra; build with
#                               `swift build -c release --product tokentra`)
#   WORK=dir                   (scratch directory; default a new one under /tmp, removed at the end)
#   RUNS=n                     (full-rollup repetitions, default 3)
# Generate data with:
#   /work/.venv/bin/python /work/shared/bench/gen_events.py --events 5000000 --days 30 --seed 42 --out /work/data/ev-5M.ndjson
set -euo pipefail

EVENTS=${1:-/work/data/ev-5M.ndjson}
BIN=$(realpath "${TOKENTRA:-.build/release/tokentra}")
RUNS=${RUNS:-3}
NOW=2026-11-20T00:00:00Z
KEEP=${WORK:+1}
WORK=${WORK:-$(mktemp -d /tmp/tokentra-bench-rollup.XXXXXX)}
mkdir -p "$WORK"
[ -z "$KEEP" ] && trap 'rm -rf "$WORK"' EXIT

lines=$(wc -l < "$EVENTS")
echo "events file: $EVENTS ($lines lines); binary: $BIN; work: $WORK"
head -n $((lines - 10000)) "$EVENTS" > "$WORK/base.ndjson"
tail -n 10000 "$EVENTS" > "$WORK/tail.ndjson"
# Ingest in chunks of 200k lines, one process each (keeps each ingest's memtable small).
(cd "$WORK" && split -l 200000 -d -a 4 base.ndjson chunk.)
start=$(date +%s.%N)
for f in "$WORK"/chunk.*; do
  "$BIN" ingest --data-dir "$WORK/base" --now "$NOW" "$f" > /dev/null
done
echo "ingest: $(echo "$(date +%s.%N) - $start" | bc) s"
rm -f "$WORK"/chunk.* "$WORK/base.ndjson"

best=""
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/d"
  cp -r "$WORK/base" "$WORK/d"
  t0=$(date +%s.%N)
  out=$("$BIN" rollup run --data-dir "$WORK/d" --now "$NOW")
  wall=$(echo "$(date +%s.%N) - $t0" | bc)
  echo "full rollup run $i: $out (process wall ${wall} s, store open included)"
  s=$(echo "$out" | sed 's/.*"seconds":\([0-9.]*\).*/\1/')
  if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s; fi
done
echo "full rollup: best ${best} s (rollup itself, as printed)"
sqlite3 "$WORK/d/index.sqlite" "SELECT 'hourly rows', count(*), 'bytes', sum(length(slices)) + sum(length(latency_digest)), 'max digest', max(length(latency_digest)) FROM rollup_hourly; SELECT 'daily rows', count(*), 'bytes', sum(length(slices)) + sum(length(latency_digest)), 'max digest', max(length(latency_digest)) FROM rollup_daily;" 2>/dev/null || true

"$BIN" ingest --data-dir "$WORK/d" --now "$NOW" "$WORK/tail.ndjson" > /dev/null
out=$("$BIN" rollup run --data-dir "$WORK/d" --now "$NOW")
echo "incremental rollup after 10k more events: $out"
out=$("$BIN" rollup run --data-dir "$WORK/d" --now "$NOW")
echo "second run: $out"

for g in hour day; do "$BIN" rollup export --data-dir "$WORK/d" --granularity $g --format csv > "$WORK/inc-$g.csv"; done
"$BIN" rollup run --data-dir "$WORK/d" --now "$NOW" --rebuild > /dev/null
for g in hour day; do
  "$BIN" rollup export --data-dir "$WORK/d" --granularity $g --format csv > "$WORK/full-$g.csv"
  # Folded rows have the sums of a rebuild exactly; their digests are merges, so percentiles are
  # compared with a tolerance (and reported).
  python3 - "$WORK/inc-$g.csv" "$WORK/full-$g.csv" "$g" <<'PY' || exit 1
import csv, sys
inc = list(csv.DictReader(open(sys.argv[1])))
full = list(csv.DictReader(open(sys.argv[2])))
assert len(inc) == len(full), f"{len(inc)} rows vs {len(full)}"
pct = [c for c in inc[0] if c.startswith("p") and c.endswith("_ms")]
worst, n = 0.0, 0
for a, b in zip(inc, full):
    for c in a:
        if c in pct or c.startswith("avg_"):
            continue
        if a[c] != b[c]:
            sys.exit(f"MISMATCH in {sys.argv[3]} rows: {c} {a[c]} vs {b[c]} at {a['org_id']} {a['bucket']}")
    for c in pct:
        if a[c] not in ("", "null") and b[c] not in ("", "null") and float(b[c]) > 0:
            worst = max(worst, abs(float(a[c]) - float(b[c])) / float(b[c])); n += 1
print(f"incremental == full rebuild in every sum and count ({sys.argv[3]} rows: {len(full)}); "
      f"percentiles: largest relative difference {worst * 100:.3f}% over {n}")
PY
done
