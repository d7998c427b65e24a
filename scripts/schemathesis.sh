#!/usr/bin/env bash
# Hostile-input test: runs schemathesis (property-based fuzzing from schema/openapi.yaml) against
# a fresh `tokentra serve` on 127.0.0.1 and reports whether any response was a 5xx.
#
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES] [extra schemathesis args...]
#   env: BIN (default .build/debug/tokentra, built if missing), VENV (default ../.venv, i.e. /work/.venv)
# schemathesis is installed into the venv with pip on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-200}
shift || true
venv=${VENV:-$(cd .. && pwd)/.venv}
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q schemathesis
fi
bin=${BIN:-.build/debug/tokentra}
[ -x "$bin" ] || swift build --product tokentra
dir=$(mktemp -d /tmp/tokentra-fuzz.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
key=$("$bin" keys create --data-dir "$dir/data" --org org_fuzz --name fuzz --scopes sdk:write --rate-minute 0 --rate-day 0 --format json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
TOKENTRA_LOG_LEVEL=error TOKENTRA_READINESS_MIN_FREE_BYTES=0 "$bin" serve --data-dir "$dir/data" --port 0 > "$dir/out" 2> "$dir/err" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$dir/out")
[ -n "$url" ] || { cat "$dir/err"; exit 1; }
echo "fuzzing $url with up to $examples examples per operation"
set +e
"$venv/bin/schemathesis" run schema/openapi.yaml --url "$url" \
    -H "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$examples" --seed 42 --request-timeout 10 --workers 2 \
    --report junit --report-dir "$dir/report" "$@" 2>&1 | tee "$dir/schemathesis.log"
rc=${PIPESTATUS[0]}
set -e
echo
if grep -q "Server error" "$dir/schemathesis.log" || grep -qE '"status": ?5[0-9][0-9]' "$dir/report"/* 2>/dev/null; then
    echo "RESULT: 5xx responses found (see above)"
else
    echo "RESULT: no 5xx responses"
fi
if grep -qiE "fatal|panic|Signal [0-9]" "$dir/err"; then
    echo "daemon stderr:"
    cat "$dir/err"
fi
kill -0 "$pid" 2>/dev/null && echo "daemon still running after the run" || echo "DAEMON DIED"
exit "$rc"
