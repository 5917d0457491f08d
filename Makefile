# Two front doors: `make demo` serves the demo, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TOX_STAMP := $(VENV)/.installed-tox
# The demo needs no variables: on its SQLite database heatmap_project/settings.py turns
# DEBUG on and supplies the demo's JWT secret, so every manage.py command runs as here.
DEMO_PORT ?= 8000

# tox finds each Python of the matrix on PATH: pyenv's 3.11, 3.12 and 3.13, never a download.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
empty :=
space := $(empty) $(empty)
PYENV_BINS := $(subst $(space),:,$(strip $(wildcard $(PYENV_ROOT)/versions/3.1[123].*/bin)))
TOX := PATH="$(if $(PYENV_BINS),$(PYENV_BINS):)$(PATH)" UV_PYTHON_DOWNLOADS=never \
	UV_PYTHON_PREFERENCE=only-system $(BIN)/tox
# Every environment of tox.ini but `faults`, which stops the real services (.ci/run runs it).
TOX_PARALLEL ?= auto

.PHONY: demo test lint faults install clean services

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs the runtime requirements only: no test, lint or browser tools. No bytecode
# at install: Python compiles what the demo imports on first use (about 2 s sooner serving).
$(DEMO_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -r requirements.txt
	touch $@

$(TOX_STAMP): requirements-tox.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-tox.txt
	touch $@

install: $(DEMO_STAMP) $(TOX_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo --base-url http://127.0.0.1:$(DEMO_PORT)
	$(BIN)/python manage.py runserver 127.0.0.1:$(DEMO_PORT)

# What the tests need from the machine (PostgreSQL, Redis, PgBouncer, Chromium and its driver,
# Node), started or installed where missing, so a fresh machine's `make test` passes.
services:
	scripts/services

test: services $(TOX_STAMP)
	$(TOX) run-parallel --parallel $(TOX_PARALLEL) --parallel-no-spinner

lint: $(TOX_STAMP)
	$(TOX) run -e lint

faults: services $(TOX_STAMP)
	ANALYTICS_ALLOW_SERVICE_RESTARTS=1 $(TOX) run -e faults

clean:
	rm -rf $(VENV) .tox dist build db.sqlite3 .mypy_cache .ruff_cache
