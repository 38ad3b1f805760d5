# Sessionboard: `make run` serves the app with demo data, `make test` checks everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export SESSIONBOARD_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test lint typecheck pytest screenshots install install-test browser postgres bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp files re-install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/sessionboard db upgrade
	$(BIN)/sessionboard demo --if-empty
	$(BIN)/sessionboard serve --port $(PORT)

# Debian's Chromium for the browser tests (Playwright's own download does not work here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
	  || echo "could not install chromium (browser tests will fail under CI=true)"; }

# PostgreSQL for the tests that run against it: start the local cluster if it is down.
postgres:
	@bash scripts/ensure-postgres

lint: install-test
	$(BIN)/ruff check webapp tests bench wsgi.py
	$(BIN)/lint-imports --no-cache

typecheck: install-test
	$(BIN)/mypy

pytest: install-test browser postgres
	$(BIN)/pytest -n 2 --dist worksteal -m "not screenshots" $(PYTEST_ARGS)

# Every page in light and dark, laptop and phone, into screenshots/ (for a person to look at).
screenshots: install-test browser postgres
	$(BIN)/pytest -n 2 -m screenshots

test: lint typecheck pytest

bench: install-test
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
