# Two commands matter: `make run` (serve the API locally) and `make test` (run the tests).
# Both set up everything they need on a fresh machine: .venv from the lock requirements-dev.txt,
# node_modules (Azurite, the test OIDC provider, Web PubSub's JS client, playwright-core) from
# package.json, and (for `make test`) Debian's chromium for the real-browser test.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071
PYTEST_ARGS ?=
RUN_ARGS ?=
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM  # tests/realtime/test_browser.py launches this executable

.PHONY: help setup browser run test check lint typecheck infra-check wheel-check migration-check lock lock-check test-hardening bench clean

help:
	@echo "make run        serve the API on http://127.0.0.1:$(PORT)/api (embedded PostgreSQL + Azurite)"
	@echo "make test       run the test suite against real PostgreSQL and Azurite"
	@echo "make test-hardening   fuzzing, fault and multi-instance suites (minutes)"
	@echo "make check      ruff, mypy and the offline infrastructure checks"
	@echo "make bench      benchmarks (seeds trackly_bench with 100,000 issues on first use)"
	@echo "make browser    install Debian's chromium for the browser test (make test runs it)"
	@echo "make wheel-check   runtime wheels load on the Functions image (part of make check)"
	@echo "make lock      re-resolve the locks (*.txt) from their inputs (*.in); UPGRADE='name ...' to move pins"

# Installs only from the locks (pinned, hashed; uv is in the dev lock). The lock is complete, so
# --no-deps: pip installs exactly what it lists and nothing it would resolve by itself.
$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-worker.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.txt
	# The worker conformance suite (tests/worker): see requirements-worker.in for the flag.
	$(PY) -m pip install --quiet --require-hashes --no-deps --ignore-requires-python -r requirements-worker.txt
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

# The headless browser the live-updates browser test drives (Debian's chromium; playwright-core
# uses it as is, nothing is downloaded).
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

run: setup
	$(PY) -m trackly serve --port $(PORT) $(RUN_ARGS)

test: setup browser
	$(PY) -m pytest --ignore=tests/hardening -n 2 $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check trackly function_app.py migrations

typecheck: $(VENV)/.installed
	$(PY) -m mypy trackly function_app.py

infra-check:
	bash scripts/check_infra.sh

# Every runtime dependency resolves to a wheel the Functions Python 3.11 image (glibc 2.31) loads.
wheel-check: $(VENV)/.installed
	$(PY) scripts/check_wheels.py resolve requirements.txt

# No migration that takes a long lock on an existing table or breaks the running release unless
# it is marked `# lock-reviewed: <why>` (trackly/schema_lint.py, docs/operations.md).
migration-check: $(VENV)/.installed
	$(PY) -m trackly.schema_lint

# The locks: `make lock` re-resolves requirements*.txt from requirements*.in (keeping every pin that
# still fits; UPGRADE="sqlalchemy alembic" moves those), `make lock-check` fails on a stale lock.
# Neither needs a working .venv (a merge may have left the locks broken): uv comes from the pin in
# the dev lock, into .venv if .venv lacks it.
UPGRADE ?=
UV_PIN = $$(grep -m1 -o '^uv==[^ ]*' requirements-dev.txt 2>/dev/null || echo uv)

$(VENV)/bin/uv:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(UV_PIN)"

lock: $(VENV)/bin/uv
	$(PY) scripts/locks.py lock $(if $(strip $(UPGRADE)),--upgrade $(UPGRADE))

lock-check: $(VENV)/bin/uv
	$(PY) scripts/locks.py check

check: lint typecheck infra-check wheel-check lock-check migration-check

test-hardening: setup
	$(PY) -m pytest tests/hardening $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench.run
	$(PY) -m bench.concurrency

clean:
	rm -rf $(VENV) node_modules .trackly .mypy_cache .ruff_cache .pytest_cache
