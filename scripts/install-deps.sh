#!/usr/bin/env bash
# Installs the system packages tokentra builds and tests against (Debian/Ubuntu), only when missing:
#   libzstd-dev   segment compression (CZstd)
#   zlib1g-dev    gzip request bodies (CZlib, Sources/TokentraHTTP/Ingest/Gzip.swift)
#   libsqlite3-dev the SQLite index (GRDB)
#   pkg-config    finds libzstd
#   prometheus    only for its promtool: the tests run `promtool check metrics` on /metrics
#                 (the package's server is not started: apt's policy-rc.d or `systemctl disable`)
set -euo pipefail
need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists libzstd 2>/dev/null || need+=(libzstd-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
