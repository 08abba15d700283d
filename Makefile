# `make run` and `make test` are all a fresh machine needs (Python 3.11).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test fuzz lint format migrate clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install only when the pinned requirements change.
$(VENV)/.installed: requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Web (gunicorn), worker and beat in the foreground on embedded defaults
# (SQLite + filesystem broker under var/) unless DATABASE_URL / REDIS_URL are set.
# The last run's per-process metric files are dropped: /metrics starts from zero.
run: install
	rm -f "$${PROMETHEUS_MULTIPROC_DIR:-$${DATA_DIR:-var}/metrics}"/*.db
	export DEBUG=$${DEBUG:-1} HOST=$(HOST) PATH="$(CURDIR)/$(BIN):$$PATH" \
	  PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} && \
	$(BIN)/python manage.py migrate --noinput && \
	$(BIN)/python manage.py seed_demo --url http://$(HOST):$(PORT) && \
	exec $(BIN)/python -m config.procfile -f Procfile start -p $(PORT) web worker beat

# The browser tests drive Debian's Chromium: installed here when it is missing,
# as root or with password-less sudo; otherwise one line says what to run.
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo"; else \
	  echo "make test: the browser tests need Chromium; run 'sudo apt-get install -y chromium', then 'make test' again." >&2; \
	  exit 1; fi; \
	echo "Chromium is missing: installing Debian's chromium package for the browser tests"; \
	$$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

test: install $(CHROMIUM)
	$(BIN)/pytest

# schemathesis over the whole OpenAPI schema against gunicorn on a fresh PostgreSQL
# database (FUZZ_DATABASE_URL; dropped afterwards): any server error or response
# off its documented schema fails it. FUZZ_MAX_EXAMPLES (25 per operation and
# phase) and FUZZ_SEED run it longer or differently; see .ci/fuzz.py.
fuzz: install
	$(BIN)/python .ci/fuzz.py

# ruff (PLC0415 included: imports at the top) and import-linter: apps import only
# downward (config < accounts < contacts < outreach < automations < hub), and no
# two modules of a package import each other (pyproject.toml's contracts).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: install
	$(BIN)/python manage.py migrate --noinput

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

# Re-pin requirements*.txt after editing pyproject.toml's dependencies.
lock: install
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --no-header --quiet -o requirements.txt
	$(BIN)/uv pip compile pyproject.toml --group dev --python-version 3.11 --no-header --quiet -o requirements-dev.txt
