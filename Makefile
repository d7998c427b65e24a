# tokentra: `make run` starts the daemon on ./data; `make test` runs the whole test suite.
SWIFT ?= swift
DATA_DIR ?= ./data

.PHONY: deps test-python build release run test bench clean

deps:
	./scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product tokentra

run: release
	.build/release/tokentra serve --data-dir $(DATA_DIR)

# The real OpenTelemetry Python SDK for the OTLP tests (.venv-test/, pinned, from PyPI).
test-python:
	./scripts/test-python-env.sh

test: deps test-python
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: release
	./scripts/bench-ingest.sh

clean:
	rm -rf .build
