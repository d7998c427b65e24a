# tokentra: `make run` starts the daemon on ./data; `make test` runs the whole test suite.
SWIFT ?= swift
DATA_DIR ?= ./data

.PHONY: deps build release run test bench clean

deps:
	./scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product tokentra

run: release
	.build/release/tokentra serve --data-dir $(DATA_DIR)

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: release
	./scripts/bench-ingest.sh

clean:
	rm -rf .build
