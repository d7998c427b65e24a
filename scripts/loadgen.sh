#!/usr/bin/env bash
# HTTP ingest load test: starts a release `tokentra serve` on a fresh data directory, creates an
# unlimited key, and drives POST /api/v1/sdk/ingest with wrk (BATCH events per request, every
# event new), then reports events/s, latency percentiles (time to the durable ack), and the
# daemon's CPU time and peak RSS.
#
# Usage: scripts/loadgen.sh [-c CONNECTIONS] [-t THREADS] [-d SECONDS] [-b BATCH] [-D DATA_DIR] [--otlp] [--debug]
# --otlp drives POST /v1/traces instead: OTLP/HTTP protobuf bodies of BATCH (default 512) GenAI
# spans encoded by the real OpenTelemetry Python SDK (scripts/otlp-bench-body.py, needs
# .venv-test from scripts/test-python-env.sh), every span new (scripts/loadgen-otlp.lua).
# -D serves an existing data directory (e.g. one holding 30 days of history) instead of a fresh one;
# the load then goes to today's (org, day), so the history must not cost memory.
# ORG=... sends the load as another org (default org_load). Each run's request ids differ (RUN).
# Needs wrk (apt-get install wrk). Sends traffic to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=8 threads=1 duration=15 batch= config=release datadir= otlp=
while [ $# -gt 0 ]; do
    case "$1" in
        -c) connections=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        -d) duration=$2; shift 2 ;;
        -b) batch=$2; shift 2 ;;
        -D) datadir=$2; shift 2 ;;
        --debug) config=debug; shift ;;
        --otlp) otlp=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
batch=${batch:-$([ -n "$otlp" ] && echo 512 || echo 100)}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ "$config" = debug ] || swift build -c release --product tokentra >/dev/null
bin=.build/$config/tokentra
dir=$(mktemp -d /tmp/tokentra-load.XXXXXX)
data=${datadir:-$dir/data}
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
key=$("$bin" keys create --data-dir "$data" --org "${ORG:-org_load}" --name load --rate-minute 0 --rate-day 0 --format json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
TOKENTRA_LOG_LEVEL=${TOKENTRA_LOG_LEVEL:-warning} "$bin" serve --data-dir "$data" --port 0 > "$dir/out" 2> "$dir/err" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$dir/out")
[ -n "$port" ] || { cat "$dir/err"; exit 1; }
ticks=$(getconf CLK_TCK)
cpu_start=$(awk '{print $14+$15}' /proc/$pid/stat)
start=$(date +%s.%N)
script=scripts/loadgen.lua path=/api/v1/sdk/ingest metric=tokentra_ingest_events_total
if [ -n "$otlp" ]; then
    ./scripts/test-python-env.sh
    .venv-test/bin/python scripts/otlp-bench-body.py "$dir/otlp-body.pb" "$batch"
    script=scripts/loadgen-otlp.lua path=/v1/traces metric=tokentra_otlp_spans_total
fi
TOKENTRA_KEY=$key RUN=$((RANDOM % 4096)) BATCH=$batch OTLP_BODY="$dir/otlp-body.pb" /usr/bin/time -f "%U %S" -o "$dir/wrk.cpu" wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$script" \
    "http://127.0.0.1:$port$path" > "$dir/wrk.txt"
end=$(date +%s.%N)
cpu_end=$(awk '{print $14+$15}' /proc/$pid/stat)
rss=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
cat "$dir/wrk.txt"
curl -s "http://127.0.0.1:$port/metrics" > "$dir/metrics.txt"
stored=$(awk -F' ' "/^$metric\\{result=\"stored\"/ {print \$2}" "$dir/metrics.txt")
grep -E '^tokentra_(dedup|memtable|store_unsealed|segments |wal_|otlp_)' "$dir/metrics.txt" || true
python3 - "$dir/wrk.txt" "$batch" "$start" "$end" "$cpu_start" "$cpu_end" "$ticks" "$rss" "${stored:-0}" "$connections" "$dir/wrk.cpu" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
batch = int(sys.argv[2]); wall = float(sys.argv[4]) - float(sys.argv[3])
cpu = (float(sys.argv[6]) - float(sys.argv[5])) / float(sys.argv[7])
rss_mb = int(sys.argv[8]) / 1024; stored = float(sys.argv[9]); conns = sys.argv[10]
client_cpu = sum(float(x) for x in open(sys.argv[11]).read().split()[-2:])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
lat = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)", text, re.M))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"\nconnections {conns}, batch {batch}: {rps:,.0f} requests/s = {rps*batch:,.0f} events/s (stored by the daemon: {stored:,.0f})")
print(f"ack latency p50 {lat.get('50')}  p90 {lat.get('90')}  p99 {lat.get('99')}")
print(f"daemon CPU {cpu:.1f} s over {wall:.1f} s wall = {cpu/wall:.2f} cores; peak RSS {rss_mb:.0f} MiB; wrk CPU {client_cpu/wall:.2f} cores")
if non2xx: print(f"non-2xx responses: {non2xx.group(1)}")
PY
