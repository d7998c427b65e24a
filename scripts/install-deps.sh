#!/usr/bin/env bash
# Installs the system packages tokentra builds and tests against (Debian/Ubuntu), only when missing:
#   libzstd-dev   segment compression (CZstd)
#   zlib1g-dev    gzip request bodies (CZlib, Sources/TokentraHTTP/Ingest/Gzip.swift)
#   libsqlite3-dev the SQLite index (GRDB)
#   pkg-config    finds libzstd
#   prometheus    with --test only (`make test`), for its promtool: the tests run
#                 `promtool check metrics` on /metrics. Debian has no promtool-only package; the
#                 Prometheus server it brings is stopped and disabled again on a systemd host.
#   chromium      with --test only: the overview page test renders `GET /` in headless
#                 Chromium (Tests/TokentraHTTPTests/Overview/OverviewChromiumTests.swift).
set -euo pipefail
tests=false
[ "${1:-}" = "--test" ] && tests=true
need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists libzstd 2>/dev/null || need+=(libzstd-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
installed_prometheus=false
if $tests && ! command -v chromium >/dev/null 2>&1; then
    need+=(chromium)
fi
if $tests && ! command -v promtool >/dev/null 2>&1; then
    need+=(prometheus)
    installed_prometheus=true
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if $installed_prometheus && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
