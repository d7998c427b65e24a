#!/usr/bin/env bash
# Makes .venv-test/: the real OpenTelemetry Python SDK and its OTLP/HTTP protobuf exporter (pinned,
# from PyPI), used by the OTLP ingest tests (Tests/TokentraHTTPTests/OTLPProcessTests.swift).
# Idempotent: a venv that already has the pinned versions is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-test
PY=${PYTHON:-python3}
PINS=(opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-proto==1.45.2
      opentelemetry-exporter-otlp-proto-common==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2)
stamp="$VENV/.pins"
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PINS[*]}" ]; then
    exit 0
fi
if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then
    echo "python3 with venv/ensurepip missing: installing python3 python3-venv" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-venv
    PY=python3
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
echo "${PINS[*]}" > "$stamp"
