# Two front doors: `make demo` serves the demo, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Demo only: the secret the demo signs and verifies its access tokens with.
DEMO_JWT_SECRET ?= demo-only-jwt-secret-not-for-production-use
DEMO_PORT ?= 8000

.PHONY: demo test lint install clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	DJANGO_DEBUG=1 SUPABASE_JWT_SECRET=$(DEMO_JWT_SECRET) $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 SUPABASE_JWT_SECRET=$(DEMO_JWT_SECRET) $(BIN)/python manage.py demo --base-url http://127.0.0.1:$(DEMO_PORT)
	DJANGO_DEBUG=1 SUPABASE_JWT_SECRET=$(DEMO_JWT_SECRET) $(BIN)/python manage.py runserver 127.0.0.1:$(DEMO_PORT)

test: $(STAMP)
	VENV=$(VENV) scripts/test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy analytics heatmap_project

clean:
	rm -rf $(VENV) db.sqlite3 .mypy_cache .ruff_cache
