# Tasks — the two commands a newcomer needs are `make run-locally` and `make test`.
# Inside an active virtualenv, targets use it; otherwise they create .venv and install
# into it (from requirements.lock, so installs are reproducible).

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The newest CPython >= 3.11 on PATH, unless PYTHON is given.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)

ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := .venv
endif
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: help install run-locally test lint format migrate migration lock test-matrix

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml requirements.lock
	@if [ -z "$(PYTHON)" ] && [ ! -x "$(PY)" ]; then echo "Python >= 3.11 is needed (none found on PATH)"; exit 1; fi
	@[ -x "$(PY)" ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint requirements.lock --editable '.[dev]'
	@touch $@

install: $(INSTALLED)  ## create the virtualenv and install everything

run-locally: $(INSTALLED)  ## serve on http://127.0.0.1:8000 (SQLite, in-process cache and worker)
	$(PY) -m webapp serve

test: $(INSTALLED)  ## run the tests (services that are not running are skipped, unless REQUIRE_SERVICES=1)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)  ## black --check, ruff, mypy --strict
	$(VENV)/bin/black --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

format: $(INSTALLED)  ## format and fix imports
	$(VENV)/bin/ruff check --fix --select I .
	$(VENV)/bin/black .

migrate: $(INSTALLED)  ## upgrade the database to the migration head (honours DB_RESET_ON_START)
	$(PY) -m webapp migrate

migration: $(INSTALLED)  ## new migration from the models: make migration m="add a column"
	@if [ -z "$(m)" ]; then echo 'usage: make migration m="what changes"'; exit 1; fi
	$(PY) -m webapp migrate
	$(PY) -m webapp make-migration "$(m)"

lock:  ## re-resolve requirements.lock from pyproject.toml (newest versions)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^tasks-webapp' > requirements.lock
	rm -rf .lock-venv

test-matrix: $(INSTALLED)  ## the test suite on every CPython >= 3.11 found (nox)
	$(VENV)/bin/nox --session tests
