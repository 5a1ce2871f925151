# riskgov — the two commands of the README, and a few helpers.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench install

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -r requirements/dev.txt

## First command: set up and run the main job on the embedded default (SQLite, Celery eager).
demo: install
	$(BIN)/python manage.py demo

## Second command: the test suite, against PostgreSQL and Redis on localhost
## (override with DATABASE_URL / CELERY_BROKER_URL).
test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2

bench: install
	$(BIN)/python bench/engine.py
