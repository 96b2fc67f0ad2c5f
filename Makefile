# Everyday commands. On a fresh machine with only python3: `make demo`, then open the printed URL.
# The virtualenv is (re)installed only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: demo test lint clean

## demo: load the sample page (prints an admin login) and serve it on http://127.0.0.1:$(PORT)/
demo: $(VENV)/.installed
	@# Every link it prints and serves names this port (unless site.url is set to another address).
	exec $(BIN)/statuspage demo --serve --port $(PORT)

## test: run the test suite (SQLite; set STATUSPAGE_TEST_DATABASE_URL for PostgreSQL)
test: $(VENV)/.installed-test
	@bash .ci/ensure-chromium
	@bash .ci/ensure-prometheus
	@bash .ci/ensure-axe
	$(BIN)/pytest $(PYTEST_ARGS)

## lint: ruff check, ruff format --check and mypy
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy statuspage

## clean: remove the virtualenv and build and cache files (instance/, with the database, stays)
clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

# The test extras include everything `-e .` installs, so they satisfy `demo` too.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	@# Third-party API clients the tests drive, in a virtualenv of their own (tests/support/clients.py).
	$(BIN)/python -c "from tests.support.clients import statuspage_client_python as p; p()"
	touch $@ $(VENV)/.installed
