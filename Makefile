# `make run` and `make test` are all a fresh machine needs (Python 3.11).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format migrate clean lock

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
run: install
	export DEBUG=$${DEBUG:-1} HOST=$(HOST) PATH="$(CURDIR)/$(BIN):$$PATH" && \
	$(BIN)/python manage.py migrate --noinput && \
	$(BIN)/python manage.py seed_demo --url http://$(HOST):$(PORT) && \
	exec $(BIN)/honcho -f Procfile start -p $(PORT) web worker beat

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
