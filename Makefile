# newsmon: `make run` (the whole pipeline live on the bundled sample) and `make test` (all tiers on a
# private stack). Everything else is a building block of those two.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK := $(PY) ops/local/stack.py
PYTEST_ARGS ?=
TEST_PROFILE ?= test
TEST_DIRS := tests/unit tests/integration tests/e2e $(wildcard tests/reliability)
# Benchmarks (tests/bench/<name>.py), their cache (corpora, lexicons) and the Quix Streams peer's venv.
BENCH_CACHE ?= $(or $(NEWSMON_BENCH_CACHE),$(HOME)/.cache/newsmon/bench)
BENCHMARKS ?= cost exporter latency pipeline scaleout startup tagging

.PHONY: help install venv stack-install run stop status test test-unit lint bench quix-venv clean reliability-long

help:
	@echo "make run    start Kafka, Redis, Prometheus, the worker and exporter; replay the sample articles"
	@echo "make stop   stop every process started by make run (and any leftover test stack)"
	@echo "make test   lint, then unit, integration and e2e tests on a private stack (ports 1xxxx)"
	@echo "make lint   ruff + mypy;  make test-unit  hermetic tests only;  make bench  benchmarks"
	@echo "make reliability-long   the fault matrix at full length"

# Rebuilt when the C extension changes: an editable install does not recompile it by itself.
$(BIN)/.installed: pyproject.toml streams/matching/_scan.c streams/stories/_sketch.c
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PY))"; exit 1; }
	$(STACK) build-tools
	@$(PY) -m venv $(VENV) || { echo "python3 -m venv failed: install it with: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/.installed

stack-install:
	$(STACK) install

install: venv stack-install

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-unit: venv
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

test: install lint
	$(STACK) --profile $(TEST_PROFILE) run --fresh -- $(BIN)/pytest -q -p no:cacheprovider -m "not long" $(TEST_DIRS) $(PYTEST_ARGS)

# The fault matrix at full length: 10,000 articles, 60 s outages, a receiver down for 3 minutes.
reliability-long: install
	$(STACK) --profile $(TEST_PROFILE) run --fresh -- env NEWSMON_RELIABILITY_ARTICLES=10000 \
	  NEWSMON_RELIABILITY_OUTAGE=60 NEWSMON_RELIABILITY_RECEIVER_OUTAGE=180 \
	  $(BIN)/pytest -q -p no:cacheprovider -o timeout=900 tests/reliability $(PYTEST_ARGS)

run: install
	@bash ops/local/run.sh

stop:
	$(STACK) down
	$(STACK) --profile test down
	$(STACK) --profile $(TEST_PROFILE) down

status:
	$(STACK) status

# The Quix Streams peer's own virtualenv (its pins clash with newsmon's); rebuilt when its pins change.
quix-venv: venv
	$(BIN)/python tests/bench/quix_peer.py --ensure-venv $(BENCH_CACHE)/quix-venv

bench: install quix-venv
	$(STACK) --profile test run --fresh -- env NEWSMON_BENCH_CACHE=$(BENCH_CACHE) \
	  bash -c 'for b in $(BENCHMARKS); do echo "== tests/bench/$$b.py"; $(BIN)/python tests/bench/$$b.py || exit 1; done'

clean: stop
	rm -rf .run
