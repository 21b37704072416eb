# The two commands of the README: `make run` and `make test`. Both set up everything they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_POSITIONS ?= 2000

.PHONY: run test setup validate bench clean chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(RUNTIME_STAMP) $@

setup: $(RUNTIME_STAMP)
	mkdir -p var

# `make run` works with no servers: SQLite in var/ and Celery's filesystem transport in
# var/celery. Set DATABASE_URL / CELERY_BROKER_URL to use PostgreSQL / Redis or RabbitMQ.
run: export CELERY_BROKER_URL ?= filesystem://

## make run: set up, migrate, validate rules/, create demo users, rules and a book of positions, then start
## the web app, a Celery worker and beat (bin/run).
run: setup
	$(PY) manage.py migrate --no-input
	$(PY) manage.py validate_rules
	$(PY) manage.py demo_setup
	$(PY) manage.py seed_positions --count $(DEMO_POSITIONS) --seed 1
	HOST=$(HOST) PORT=$(PORT) PY=$(PY) bin/run

# The browser tests drive Debian's chromium (Playwright's own download does not work here).
# (CHROMIUM, or CHROMIUM_PATH as the tests name it)
CHROMIUM ?= $(or $(CHROMIUM_PATH),/usr/bin/chromium)
chromium:
	@test -x $(CHROMIUM) || { echo "make test: installing Debian's chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } || \
	  echo "make test: could not install chromium (not root?): the browser tests will not run"; }

## make test: set up and run the whole suite (on PostgreSQL when it is reachable).
test: $(DEV_STAMP) chromium
	mkdir -p var
	@exports="$$($(PY) -m tests.services --env)" && eval "$$exports" && CHROMIUM_PATH=$(CHROMIUM) $(PY) -m pytest $(PYTEST_ARGS)

validate: setup
	$(PY) manage.py validate_rules

bench: $(DEV_STAMP)
	$(PY) bench/validate_rules.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
