# Two commands do all set-up: `make run` (the app at http://127.0.0.1:8000) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
PORT ?= 8000

.PHONY: venv run worker test test-sqlite test-postgres lint format bench clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Embedded default: SQLite and files under var/, a worker on the filesystem broker, demo data.
run: $(STAMP)
	mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_demo
	@echo "Starting workers and beat (logs: var/worker-*.log, var/beat.log) and the web server on http://127.0.0.1:$(PORT)"
	$(PY) -m celery -A config worker -Q cpu --pool solo -n cpu@%h --loglevel INFO > var/worker-cpu.log 2>&1 & \
	cpu=$$!; \
	$(PY) -m celery -A config worker -Q train --pool solo -n train@%h --loglevel INFO > var/worker-train.log 2>&1 & \
	train=$$!; \
	$(PY) -m celery -A config beat -s var/celerybeat-schedule --loglevel INFO > var/beat.log 2>&1 & \
	beat=$$!; trap 'kill $$cpu $$train $$beat 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# One worker per queue; `--pool solo` runs tasks in the worker's own process, so training can
# start DataLoader workers and imports can start their decode processes.
worker: $(STAMP)
	$(PY) -m celery -A config worker -Q cpu --pool solo -n cpu@%h --loglevel INFO & \
	$(PY) -m celery -A config worker -Q train --pool solo -n train@%h --loglevel INFO; wait

# The whole suite on SQLite (the embedded default) and, beside it, the Django side again on
# PostgreSQL (without the browser and the slow training tests, which don't depend on the
# database). The two passes share no state: the PostgreSQL one has its own var/ folder (the
# embedded broker, the SQLite files) and its own Redis database, and its output follows the
# SQLite pass's. Many tests wait on worker processes, so two passes on 2 cores take less
# wall time than one after the other. `make test-sqlite` / `make test-postgres` run one.
test: $(STAMP)
	@mkdir -p var/pg-pass
	@VAR_DIR=$(CURDIR)/var/pg-pass CURATION_TEST_REDIS_DB=14 \
		$(MAKE) --no-print-directory test-postgres > var/pg-pass/test.log 2>&1 & pg=$$!; \
	$(MAKE) --no-print-directory test-sqlite; sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo "== the PostgreSQL pass (var/pg-pass/test.log)"; cat var/pg-pass/test.log; \
	echo "SQLite pass exit $$sqlite, PostgreSQL pass exit $$postgres"; \
	test $$sqlite -eq 0 -a $$postgres -eq 0

test-sqlite: $(STAMP)
	$(PY) -m pytest -q

test-postgres: $(STAMP)
	@if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || [ "$${CI:-}" = "true" ]; then \
		DATABASE_URL=$(PG_URL) $(PY) -m pytest -q -p no:cacheprovider tests/curation \
			-m "not browser and not slow"; \
	else echo "SKIPPED the PostgreSQL run: nothing answers on 127.0.0.1:5432"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) bench/import.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
