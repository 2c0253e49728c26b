# Agent Studio: the one entry point. `make up` runs the studio, `make test` the suite.
# Everything runs from .venv, which is created (with python3) and kept in step with
# pyproject.toml: it is re-installed only when pyproject.toml is newer than its stamp file.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: up test bench lint clean venv dev

up: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_blueprints
	$(PY) manage.py bootstrap_demo
	$(PY) manage.py collectstatic --noinput --verbosity 0
	exec $(PY) manage.py serve --port $${PORT:-8000}

test: $(VENV)/.installed-dev
	export DATABASE_URL="$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/agentstudio}"; \
	export REDIS_URL="$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"; \
	exec $(PY) -m pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS)

# The run engine against its goals: its own database (agentstudio_bench, re-created), Redis
# db 7, 2 Celery workers it starts and stops itself; prints a table, writes bench/results.json.
bench: $(VENV)/.installed-dev
	exec $(PY) bench/run_bench.py $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf var

venv: $(VENV)/.installed
dev: $(VENV)/.installed-dev

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

# `.[dev]` includes `.`, so it refreshes both stamps.
$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed
