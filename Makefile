# devlog developer tasks. Every target installs what it needs first.
# The committed lock is requirements.lock (hashed, exported by uv without index URLs);
# uv.lock is a local by-product and stays out of git.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv on PATH, else the one `make install` puts in the user's site-packages (run as a module: pip's
# --user scripts folder is often not on PATH).
UV ?= $(if $(shell command -v uv 2>/dev/null),uv,$(PY) -m uv)
EXPORT := $(UV) export --format requirements-txt --all-packages --no-emit-workspace --all-groups --no-header --no-annotate --quiet
# Per-image hashed locks for the container images: each app's runtime dependencies, and the build backend.
DOCKER_EXPORT := $(UV) export --format requirements-txt --no-emit-workspace --no-header --no-annotate --quiet
DOCKER_LOCKS := requirements-collector.lock requirements-server.lock requirements-build.lock
define docker_locks
	$(DOCKER_EXPORT) --package devlog --no-dev -o $(1)/requirements-collector.lock
	$(DOCKER_EXPORT) --package devlog-server --no-dev -o $(1)/requirements-server.lock
	$(DOCKER_EXPORT) --only-group build -o $(1)/requirements-build.lock
endef

.PHONY: help install venv-system lock lock-check lock-drift lint fmt test test-all test-slow test-docker test-browser bench schema audit clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' Makefile | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.lock shared/pyproject.toml collector/pyproject.toml server/pyproject.toml
	@# (a system Python that refuses installs outside a venv, PEP 668, gets it in the user's site-packages)
	@$(UV) --version >/dev/null 2>&1 || $(PY) -m pip install --quiet 'uv==0.13.9' 2>/dev/null \
		|| $(PY) -m pip install --quiet --user 'uv==0.13.9' 2>/dev/null \
		|| $(PY) -m pip install --quiet --user --break-system-packages 'uv==0.13.9'
	$(UV) venv --quiet --allow-existing --python $(PY) $(VENV)
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e shared -e collector -e server
	@touch $@

install: $(BIN)/.installed ## create .venv with the three packages (editable) and locked dependencies

SYSTEM_PY ?= /usr/bin/python3
venv-system: install ## .venv-system: the same install on the machine's own CPython (for `bench/run_all.py --only collect-system`)
	@$(SYSTEM_PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
		|| { echo "venv-system: $(SYSTEM_PY) is missing or older than Python 3.11 (set SYSTEM_PY=...)" >&2; exit 1; }
	$(UV) venv --quiet --allow-existing --python $(SYSTEM_PY) .venv-system
	$(UV) pip install --quiet --python .venv-system/bin/python --require-hashes -r requirements.lock
	$(UV) pip install --quiet --python .venv-system/bin/python --no-deps --no-build-isolation -e shared -e collector -e server

lock: ## re-resolve and rewrite requirements.lock (and the container images' docker/requirements-*.lock)
	$(UV) lock --quiet
	$(EXPORT) -o requirements.lock
	$(call docker_locks,docker)

lock-check: install ## fail if the hashed locks do not satisfy the pyproject files (offline, deterministic)
	$(BIN)/python scripts/check_locks.py
	$(UV) pip check --python $(BIN)/python

lock-drift: ## show what a fresh resolution would change (needs the package index; informational)
	@$(UV) lock --quiet && $(EXPORT) -o /tmp/devlog-lock-drift.txt && diff -u requirements.lock /tmp/devlog-lock-drift.txt \
		&& echo "a fresh resolution matches requirements.lock"

lint: install ## ruff, formatting, mypy strict, import boundaries, schema drift
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/gen_event_schema.py --check

fmt: install ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install ## the default suite (unit, SQLite, Postgres, loopback e2e)
	$(BIN)/pytest -m "not docker and not slow"

test-slow: install ## long variants of the reliability suites
	$(BIN)/pytest -m "slow"

test-browser: install ## the dashboard's headless-Chromium suite alone (needs Debian's chromium)
	$(BIN)/pytest -m browser

test-all: test test-slow ## the test suite, then the long variants of the reliability suites

test-docker: install ## docker compose end-to-end suite (needs a Docker engine)
	$(BIN)/pytest -m docker tests/docker

bench: install ## run the benchmarks and rewrite docs/benchmarks.md
	$(BIN)/python bench/run_all.py

schema: install ## regenerate docs/event-schema.json
	$(BIN)/python scripts/gen_event_schema.py

# pip-audit reads the package index's per-release vulnerability data. Where the index mirror does not
# serve it (as on the project's sandboxed machines) packages are reported as skipped, not failed;
# set AUDIT_STRICT=--strict on a machine with full index access to make skips fatal.
audit: install ## audit the locked dependencies for known vulnerabilities (pip-audit)
	$(BIN)/pip-audit $(AUDIT_STRICT) --require-hashes --disable-pip -r requirements.lock

clean:
	rm -rf $(VENV) .venv-system .pytest_cache .mypy_cache .ruff_cache
