# tokentra: `make run` starts the daemon on ./data; `make test` runs the whole test suite;
# `make install` puts the release binary in $(PREFIX)/bin (default /usr/local/bin).
SWIFT ?= swift
DATA_DIR ?= ./data
PREFIX ?= /usr/local

.PHONY: deps test-deps test-python build release run install test bench clean

deps:
	./scripts/install-deps.sh

# The test tools too (promtool, from Debian's prometheus package; Debian's chromium for the overview page test).
test-deps:
	./scripts/install-deps.sh --test

build: deps
	$(SWIFT) build

# The release binary carries the git commit it was built from (`tokentra --version`,
# tokentra_build_info): scripts/stamp-build.sh writes the gitignored
# Sources/TokentraCore/Generated/BuildStamp.swift, compiled only with -DTOKENTRA_STAMPED.
release: deps
	./scripts/stamp-build.sh >/dev/null
	$(SWIFT) build -c release --product tokentra -Xswiftc -DTOKENTRA_STAMPED

run: release
	.build/release/tokentra serve --data-dir $(DATA_DIR)

install: release
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 .build/release/tokentra $(DESTDIR)$(PREFIX)/bin/tokentra

# The real OpenTelemetry Python SDK for the OTLP tests (.venv-test/, pinned, from PyPI).
test-python:
	./scripts/test-python-env.sh

test: test-deps test-python
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: release
	./scripts/bench-ingest.sh

clean:
	rm -rf .build
