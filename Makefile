# Two commands do all set-up: `make run` (embedded default) and `make test` (PostgreSQL + Redis).
SHELL := /bin/bash
# Optional local overrides (TEST_DATABASE_URL, TEST_REDIS_URL, BENCH_DATABASE_URL, PORT...): see .env.example.
-include .env
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/nexus
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/nexus_bench
# Parallel test workers (pytest-xdist; a file's tests stay on one worker). Each has its own PostgreSQL
# test database (test_nexus_gw0...) and Redis database (REDIS_URL's number + 1, + 2...).
TEST_WORKERS ?= 2

.PHONY: install run test lint typecheck pytest smoke compose-check browser bench loadtest walkthrough clean

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is needed (Django 5.2 LTS)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	touch $@

install: $(VENV)/.installed

## make run: SQLite + eager Celery, demo data loaded once, served on 127.0.0.1:$(PORT) by gunicorn
## (WEB_CONCURRENCY processes x WEB_THREADS threads, nexus_site/gunicorn_conf.py; static files by WhiteNoise).
run: install
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py load_demo
	@echo "Serving on http://127.0.0.1:$(PORT)/  (log in as po / $${DEMO_PASSWORD:-demo})"
	exec $(BIN)/gunicorn -c nexus_site/gunicorn_conf.py --bind 127.0.0.1:$(PORT) nexus_site.wsgi

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .

## Debian's Chromium for the browser tests (Playwright never downloads a browser).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null; \
	  else echo "Install Chromium at /usr/bin/chromium (Debian package 'chromium') for the browser tests." >&2; exit 1; fi; \
	fi

## docker-compose.yml is validated offline (Debian's docker-compose package); no engine needed.
compose-check:
	@if ! command -v docker-compose >/dev/null; then \
	  if command -v apt-get >/dev/null; then \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose) >/dev/null; \
	  else echo "Install docker-compose to validate docker-compose.yml." >&2; exit 1; fi; \
	fi
	SECRET_KEY=x POSTGRES_PASSWORD=x docker-compose -f docker-compose.yml config -q
	@echo "docker-compose.yml is valid."

pytest: install browser
	@DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} $(BIN)/python -m nexus_site.servicecheck
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  DJANGO_ALLOW_ASYNC_UNSAFE=true $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

## The embedded default: SQLite, eager Celery (no REDIS_URL), demo import on a slice, board answers 200.
smoke: install
	REDIS_URL= DATABASE_URL=sqlite:///$(CURDIR)/.smoke.sqlite3 $(BIN)/pytest -m smoke

## make test: ruff, mypy, compose check, the whole suite on PostgreSQL + Redis, then the embedded smoke test.
test: lint compose-check pytest smoke

## make bench: synthetic Nexus (9 teams, 10,000 open PBIs, 200,000 transitions) in its own database.
## ... then the long reliability runs: 50 API clients x 60 s on PostgreSQL, 20 writers x 30 s on SQLite
## (the figures are printed: requests, 5xx, p95; nothing lost; check_nexus passing afterwards).
bench: install
	DATABASE_URL=$${BENCH_DATABASE_URL:-$(BENCH_DATABASE_URL)} $(BIN)/python manage.py bench
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  DJANGO_ALLOW_ASYNC_UNSAFE=true RELIABILITY_LOAD_CLIENTS=50 RELIABILITY_LOAD_SECONDS=60 \
	  RELIABILITY_SQLITE_SECONDS=30 $(BIN)/pytest -q -s -p no:logging \
	  tests/reliability/test_load.py tests/reliability/test_sqlite_writers.py

## make loadtest: against the server `make run` serves (start it first, same DATABASE_URL): 200 viewers
## poll the demo board every 2 s while 5 writers rename its cards for 60 s (../shared/tools/boardload.py;
## LOADTEST_ARGS='--viewers 50 --duration 20' to change); prints latency, errors and how fast every
## change reached every viewer; the whole report in loadtest-out/boardload.json.
loadtest: install
	@mkdir -p loadtest-out
	$(BIN)/python -m nexus_site.loadtest --base http://127.0.0.1:$(PORT) --json loadtest-out/boardload.json $(LOADTEST_ARGS)

walkthrough: install
	$(BIN)/python ../shared/tools/walkthrough.py --base http://127.0.0.1:$(PORT) --user po --password $${DEMO_PASSWORD:-demo} --out walk-out

clean:
	rm -rf $(VENV) staticfiles .smoke.sqlite3 test-results var loadtest-out
