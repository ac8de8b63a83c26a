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
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml requirements.lock
	@if [ -z "$(PYTHON)" ] && [ ! -x "$(PY)" ]; then echo "Python >= 3.11 is needed (none found on PATH)"; exit 1; fi
	@[ -x "$(PY)" ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint requirements.lock --editable '.[dev]'
	@touch $@

install: $(INSTALLED)  ## create the virtualenv and install everything

run-locally: $(INSTALLED)  ## serve on http://127.0.0.1:8000 (SQLite, in-process cache and worker)
	$(PY) -m webapp serve

.PHONY: run-worker
run-worker: $(INSTALLED)  ## Dramatiq job workers for BROKER_URL (WORKER_PROCESSES x WORKER_THREADS)
	$(PY) -m webapp worker

test: $(INSTALLED)  ## run the tests (services that are not running are skipped, unless REQUIRE_SERVICES=1)
	$(PY) -m pytest $(PYTEST_ARGS)

# tests/fuzz is left out of `make test` (pyproject.toml, norecursedirs) and runs only when
# named. -p no:cacheprovider: a fuzz run leaves nothing behind that changes the next one.
.PHONY: fuzz
fuzz: $(INSTALLED)  ## schemathesis against the app's own OpenAPI document, on SQLite and MariaDB (about 2 min)
	$(PY) -m pytest tests/fuzz -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: faults
faults: $(INSTALLED)  ## the fault suite: private MariaDB/Redis killed and stalled under load (about 4 min) -> test-results/faults.json
	$(PY) -m pytest tests/faults $(PYTEST_ARGS)

lint: $(INSTALLED) k8s-validate  ## black --check, ruff, mypy --strict, hadolint, Kubernetes manifests
	$(VENV)/bin/black --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

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

# --- benchmark ------------------------------------------------------------------------
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: bench

bench: $(INSTALLED)  ## throughput with wrk, signed in: cache hit, cache off, HTML page, LOG_LEVEL INFO vs WARNING (about 5 min) -> docs/benchmarks.md
	@command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(PY) bench/run.py

.PHONY: bench-import
bench-import: $(INSTALLED)  ## 100,000 tasks imported from CSV by a worker vs bulk INSERT, and exported (MariaDB) -> docs/benchmarks.md
	$(PY) bench/import_bench.py

.PHONY: bench-restore
bench-restore: $(INSTALLED)  ## 100,000 tasks restored by a worker via RabbitMQ vs one raw UPDATE (MariaDB) -> docs/benchmarks.md
	$(PY) bench/restore_bench.py

.PHONY: bench-accounts
bench-accounts: $(INSTALLED)  ## one account's list, cache off: 1,000,000 tasks of 2,000 accounts vs its own only (MariaDB, wrk; about 6 min) -> docs/benchmarks.md
	@command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(PY) bench/accounts_bench.py

.PHONY: bench-live
bench-live: $(INSTALLED)  ## 1,000 open GET /events streams on one worker: write-to-last-client delay, RSS, idle CPU (about 2 min) -> docs/benchmarks.md
	$(PY) bench/live_bench.py

# --- cluster (docker-compose.yml) ---------------------------------------------------
# `docker compose` (the plugin of a Docker install) or Debian's `docker-compose`.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
CLUSTER_ENV ?= .env
# Left empty in .env.template so that no secret is ever committed; generated on first use.
CLUSTER_SECRETS := SECRET_KEY MYSQL_ROOT_PASSWORD MYSQL_PASSWORD RABBITMQ_DEFAULT_PASS

.PHONY: cluster-env run-in-cluster cluster-down cluster-smoke

# An older .env (say, from `make run-locally` days) gets the variables it lacks appended.
# sed -i.bak, not -i: the same command works with BSD sed (macOS).
cluster-env:  ## create .env from .env.template when missing, and fill its empty secrets
	@[ -f "$(CLUSTER_ENV)" ] || { cp .env.template "$(CLUSTER_ENV)" && echo "created $(CLUSTER_ENV) from .env.template"; }
	@[ -z "$$(tail -c1 "$(CLUSTER_ENV)")" ] || echo >> "$(CLUSTER_ENV)"
	@grep -E '^[A-Z_]+=' .env.template | while IFS= read -r line; do \
		grep -q "^$${line%%=*}=" "$(CLUSTER_ENV)" && continue; \
		echo "$$line" >> "$(CLUSTER_ENV)"; echo "added $${line%%=*} to $(CLUSTER_ENV) from .env.template"; \
	done
	@for name in $(CLUSTER_SECRETS); do \
		grep -qE "^$$name=.+" "$(CLUSTER_ENV)" && continue; \
		value=$$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n'); \
		sed -i.bak "s/^$$name=.*/$$name=$$value/" "$(CLUSTER_ENV)" && rm -f "$(CLUSTER_ENV).bak"; \
		echo "generated a random $$name in $(CLUSTER_ENV)"; \
	done

# App replicas behind the proxy, and worker containers: docker-compose.yml's
# deploy.replicas (a test keeps these defaults equal to them).
REPLICAS ?= 2
WORKERS ?= 1

run-in-cluster: cluster-env  ## MySQL, Redis, RabbitMQ, migrate, nginx, app x REPLICAS and worker x WORKERS in Docker (port from .env)
	$(COMPOSE) up --build --scale app=$(REPLICAS) --scale worker=$(WORKERS)

cluster-down:  ## stop the cluster (its data stays in volumes; add `-v` by hand to drop it)
	$(COMPOSE) down

cluster-smoke: $(INSTALLED)  ## check Dockerfile and compose file, then run their commands natively
	$(PY) -m pytest tests/cluster $(PYTEST_ARGS)

# --- Kubernetes (deploy/kubernetes) ---------------------------------------------------
# The Kubernetes version whose API schemas the manifests must satisfy: the newest minor
# that the pinned kubernetes-validate ships (it validates offline, no cluster). Raise it
# with kubernetes-validate. tests/cluster/test_kubernetes.py reads it from here.
KUBERNETES_VERSION := 1.37.0
KUBECTL ?= kubectl
KUSTOMIZATIONS := deploy/kubernetes/base $(patsubst %/kustomization.yaml,%,$(sort $(wildcard deploy/kubernetes/overlays/*/kustomization.yaml)))

.PHONY: k8s-validate

# kubernetes-validate only warns (exit 0) about a kind it has no schema for, e.g. a
# misspelt apiVersion; here anything but a pass fails.
k8s-validate: $(INSTALLED)  ## render deploy/kubernetes (kubectl kustomize), validate offline against Kubernetes' schemas
	@command -v $(KUBECTL) >/dev/null || { echo "kubectl is needed: \`kubectl kustomize\` renders deploy/kubernetes"; exit 1; }
	@set -o pipefail; for dir in $(KUSTOMIZATIONS); do \
		echo "$(KUBECTL) kustomize $$dir | kubernetes-validate --strict -k $(KUBERNETES_VERSION) -"; \
		report=$$($(KUBECTL) kustomize "$$dir" | $(VENV)/bin/kubernetes-validate --strict -k $(KUBERNETES_VERSION) -) \
			|| { echo "$$report"; exit 1; }; \
		if grep -v '^INFO ' <<< "$$report"; then exit 1; fi; \
		grep -q '^INFO ' <<< "$$report" || { echo "$$dir rendered no object"; exit 1; }; \
		echo "  $$(grep -c '^INFO ' <<< "$$report") objects valid for Kubernetes $(KUBERNETES_VERSION)"; \
	done
