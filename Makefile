# EnergyLab: the commands of the README. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ENERGYLAB_HTTP_PORT ?= 8000
# `make run` and `make demo` are for a developer's machine: debug unless told otherwise.
RUN_ENV := ENERGYLAB_DEBUG=$${ENERGYLAB_DEBUG:-true}
# Tests use the local PostgreSQL (pytest-django creates test_energylab) unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/energylab
# The unit tier reaches no service: its URLs point at a closed port (2), so that a test, or a
# process it starts, that tries fails there, whatever runs on this machine.
NO_SERVICES := ENERGYLAB_DATABASE_URL=postgres://postgres@127.0.0.1:2/none \
	ENERGYLAB_REDIS_URL=redis://127.0.0.1:2/0 ENERGYLAB_INFLUXDB_URL=http://127.0.0.1:2
# Test processes of `make test`: 2 halves its time on CI's 2 cores (every test keeps to its own
# database, Redis keys or private Redis, and InfluxDB database).
TEST_PROCESSES ?= 2
XDIST = -n $(TEST_PROCESSES) --dist worksteal
# The API suite runs a second time on SQLite, the embedded default: events take the ORM path
# there, where PostgreSQL's step event is one call of a database function (events.services).
API_TESTS := tests/integration/events tests/integration/security \
	tests/integration/collectors/test_api_servers.py

.PHONY: help install services services-stop migrate run demo test test-fast bench lint format docs-api clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv and install EnergyLab, its SDK and the dev tools

$(STAMP): requirements/base.txt requirements/dev.txt requirements/legacy-client.txt pyproject.toml sdk/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "EnergyLab needs Python 3.11+"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.txt -e sdk/ -e .
	@# The old Functest/Xtesting client, for compatibility tests: without its heavy dependencies.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements/legacy-client.txt
	@touch $@

services:  ## start InfluxDB and Redis when they are not running (installs influxdb if missing)
	@bash scripts/services.sh start

services-stop:  ## stop the services that `make services` started
	@bash scripts/services.sh stop

migrate: install services  ## apply database migrations
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input

run: migrate  ## run web server, worker and beat in the foreground (Ctrl-C stops all)
	PATH=$(abspath $(BIN)):$$PATH $(RUN_ENV) $(BIN)/honcho -f Procfile start

demo: migrate  ## simulated lab + web + worker + beat, a recorded scenario, its report (DEMO_EXIT=1 exits after it)
	$(RUN_ENV) DEMO_EXIT=$(DEMO_EXIT) $(BIN)/python scripts/demo.py

bench: install  ## every benchmark (~10 min): one table of figures beside their goals, JSON in var/bench/
	@bash scripts/services.sh start
	@command -v wrk >/dev/null || (apt-get install -y -qq wrk >/dev/null 2>&1 || echo "bench: wrk missing, events bench skipped")
	$(BIN)/python bench/all.py

lint: install  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	ENERGYLAB_DEBUG=true $(BIN)/mypy .
	ENERGYLAB_DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

docs-api: install  ## regenerate docs/openapi.yaml, the API reference, from the code
	ENERGYLAB_DEBUG=true $(BIN)/python manage.py spectacular --validate --file docs/openapi.yaml

format: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install  ## install, start services, lint, then run the whole test suite (and the API suite on SQLite)
	@ENERGYLAB_DATABASE_URL=$${ENERGYLAB_DATABASE_URL:-$(TEST_DATABASE_URL)} bash scripts/services.sh start
	@bash scripts/system-packages.sh
	$(MAKE) --no-print-directory lint
	@# $(TEST_PROCESSES) processes (pytest-xdist): the e2e and reliability tiers mostly wait on
	@# their workers, BMCs and clocks. worksteal, not loadfile: schemathesis's tests share one
	@# node id, and loadfile drops all but one of them.
	ENERGYLAB_DATABASE_URL=$${ENERGYLAB_DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/pytest $(XDIST)
	ENERGYLAB_DATABASE_URL=sqlite:///$(CURDIR)/var/test.sqlite3 $(BIN)/pytest -q $(XDIST) $(API_TESTS)

test-fast: install  ## the unit tier only (tests/unit, sdk/tests): no service, under a minute
	@# One process per core (pytest-xdist): the tier's time is mostly subprocesses and waits.
	$(NO_SERVICES) $(BIN)/pytest -n auto tests/unit sdk/tests

clean:  ## remove the venv and caches (keeps var/: data, keys)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
