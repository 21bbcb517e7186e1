# The two commands of the README: `make run` and `make test`. Everything else helps them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := $(VENV)/.tools-installed
RUN_ENV := $(VENV)/.run-installed
SERVICES := $(PYTHON) scripts/services.py
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint services services-cluster services-down bench chaos clean run-docker clean-docker \
	image-requirements

# Nox and uv, in the repository's own virtual environment.
$(TOOLS):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q "nox==2026.10.20" "uv==0.13.8"
	touch $@

# The whole pipeline (API + indexer) on the embedded sqlite backends, in the foreground.
# Editable installs, so that `make run` always serves the code of the checkout. The Redis queue
# and the Elasticsearch store too: with `make services`, the same .venv runs the production
# shape (DEVELOPERS.md, "Test servers").
$(RUN_ENV): $(TOOLS) $(wildcard packages/*/pyproject.toml)
	$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python \
		-e ./packages/core -e ./packages/api-flask -e ./packages/indexer \
		-e "./packages/queue-redis[hiredis]" -e ./packages/store-elastic
	touch $@

run: $(RUN_ENV)
	$(VENV)/bin/hitcount serve

# Every test, against real Redis, Elasticsearch 8 and 9 and a 3-node Elasticsearch 9 cluster started by
# scripts/services.py.
test: $(TOOLS)
	$(SERVICES) up
	$(VENV)/bin/nox --parallel 2

# The performance targets, against real Redis and Elasticsearch 9 (and the clusters); prints one table (minutes).
bench: $(TOOLS)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(SERVICES) up redis elastic9 redis-cluster elastic-cluster
	$(VENV)/bin/nox -s bench

# The chaos run's long mode (tests/chaos/run.py): 30 minutes of overlapping faults, 15 on the single-node
# shape and 15 on the clusters, on servers of its own; make test runs 1.5 minutes of it. CHAOS_ARGS adds
# options, e.g. `make chaos CHAOS_ARGS="--seed 1234"` to replay a run.
CHAOS_MINUTES ?= 30
chaos: $(TOOLS)
	$(VENV)/bin/nox -s chaos -- --minutes $(CHAOS_MINUTES) --shape both $(CHAOS_ARGS)

lint: $(TOOLS)
	$(VENV)/bin/nox -s lint mypy

services:
	$(SERVICES) up

# The clusters alone: a Redis Cluster (3 masters, 3 replicas) and a 3-node Elasticsearch 9 cluster
# (README.md, "Running on clusters"); `make services` and `make test` start them too.
services-cluster:
	$(SERVICES) up redis-cluster elastic-cluster

services-down:
	$(SERVICES) down

# The production shape (docker-compose.yml) in the background; its passwords come from deploy/.env.
COMPOSE := docker compose --env-file deploy/.env
run-docker:
	@test -f deploy/.env || { echo "deploy/.env is missing: copy deploy/.env.example and set its passwords" >&2; exit 1; }
	$(COMPOSE) up --build --detach --wait

# deploy/requirements.txt: every third-party package of the image (deploy/requirements.in), pinned with its
# hashes, for the Dockerfile's Python on Linux. Run it after changing a package's dependencies; uv keeps the
# versions already pinned, `make image-requirements LOCK_ARGS=--upgrade` takes the newest releases.
IMAGE_PYTHON := $(shell sed -n 's/^FROM python:\([0-9]*\.[0-9]*\)\..*/\1/p' Dockerfile)
image-requirements: $(TOOLS)
	$(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version $(IMAGE_PYTHON) --python-platform linux \
		$(patsubst packages/%/,--no-emit-package hitcount-%,$(wildcard packages/*/)) $(LOCK_ARGS) \
		--custom-compile-command "make image-requirements" --output-file deploy/requirements.txt deploy/requirements.in

# Stops that stack and deletes its containers and data volumes (the hits, the spool, Redis's queue).
clean-docker:
	@test -f deploy/.env || { echo "deploy/.env is missing: copy deploy/.env.example and set its passwords" >&2; exit 1; }
	$(COMPOSE) down --volumes --remove-orphans

# Also deletes Elasticsearch's files kept outside the checkout (when it is not traversable by their user).
clean:
	$(SERVICES) clean
	rm -rf $(VENV) .nox var
