# Two commands matter: `make run` and `make test`. Both set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8

TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
BIN := $(VENV)/bin
# The protoc plugins from mypy-protobuf and the buf binary live in the venv.
export PATH := $(abspath $(BIN)):$(PATH)
export UV_PROJECT_ENVIRONMENT := $(VENV)

PROTO_FILES := $(shell find protos/ticketing -name '*.proto')
STUBS_STAMP := gen/.stamp

.PHONY: install stubs lint format test test-sqlite bench-smoke run demo top migrate bench soak clean help

help:
	@echo "make run    install, migrate and start the whole stack on SQLite"
	@echo "            (SIM=1: with the Chatwoot simulator instead of a real Chatwoot)"
	@echo "make demo   start the stack with the Chatwoot simulator, play one escalation, stop"
	@echo "make top    live status of a running \`make run\`: throughput, outbox, SLA risk, agent load"
	@echo "make test   install and run the whole suite (SQLite and PostgreSQL)"
	@echo "make bench-smoke  each benchmark run briefly end to end (CI runs it after make test)"
	@echo "make soak   the reliability soak: 20,000 webhooks while processes fail (10-15 min)"
	@echo "make lint   ruff, mypy, buf lint/format/breaking"
	@echo "make stubs  regenerate Python stubs from protos/"
	@echo "make bench  every benchmark figure against its bare baseline, one table (PostgreSQL;"
	@echo "            ~15 min; BENCH_ARGS=--quick for a smoke run)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

$(STUBS_STAMP): $(VENV)/.synced $(PROTO_FILES) scripts/gen_stubs.sh
	bash scripts/gen_stubs.sh
	@touch $@

install: $(VENV)/.synced $(STUBS_STAMP)

stubs: $(VENV)/.synced
	bash scripts/gen_stubs.sh
	@touch $(STUBS_STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd protos && buf lint && buf format --diff --exit-code
	bash scripts/buf_breaking.sh

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	cd protos && buf format -w

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

# Each benchmark run end to end, briefly, checking only correctness (a few minutes of
# process start-ups): kept out of `make test` so the suite stays under 10 minutes.
bench-smoke: install
	$(BIN)/pytest -m bench_smoke tests/bench $(PYTEST_ARGS)

# Embedded mode only, for a laptop without PostgreSQL. CI never uses it.
test-sqlite: install
	TEST_BACKENDS=sqlite $(BIN)/pytest $(PYTEST_ARGS)

migrate: install
	$(BIN)/python -m ticket_service migrate
	$(BIN)/python -m escalation_service migrate

# `make run SIM=1` adds the Chatwoot simulator (chatwoot_sim/) in place of a real Chatwoot.
run: install
	$(BIN)/python -m devstack $(if $(filter-out 0,$(SIM)),--chatwoot-sim)

# Ports picked by the OS and files in var/demo, so it runs beside `make run`.
demo: install
	$(BIN)/python -m devstack.demo

# Watches what `make run` started (same addresses); Ctrl+C stops it.
top: install
	$(BIN)/python -m devstack.top

# Needs PostgreSQL at 127.0.0.1:5432 (or TEST_DATABASE_URL); see bench/README.md.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# The full reliability soak (bench/soak.py) on a PostgreSQL cluster of its own; the test
# suite runs a short one. SOAK_ARGS="--deliveries 5000" for a medium one.
soak: install
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) gen var .pytest_cache .mypy_cache .ruff_cache
