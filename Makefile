# Fieldpace: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: install demo serve migrate check test test-unit bench messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/fieldpace migrate

demo: install
	$(BIN)/fieldpace migrate
	$(BIN)/fieldpace demo-data --if-empty
	$(BIN)/fieldpace serve --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/fieldpace migrate
	$(BIN)/fieldpace serve --host $(HOST) --port $(PORT)

# Lint (ruff), types (mypy, over server/ and sync/ as pyproject.toml says) and the layers (lint-imports,
# contracts in pyproject.toml). All three run, so one run shows every problem; any failure fails the target.
check: install
	@status=0; \
	echo "== ruff"; $(BIN)/ruff check server sync tests bench tools || status=1; \
	echo "== mypy"; $(BIN)/mypy || status=1; \
	echo "== lint-imports"; $(BIN)/lint-imports || status=1; \
	exit $$status

# Lint, types and layers first: a tree that fails them does not pass `make test`.
test: install check
	$(BIN)/python -m pytest -q

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

bench: install
	@set -e; for f in bench/[!_]*.py; do echo "== $$f"; $(BIN)/python $$f; done

messages: install
	$(BIN)/python tools/messages.py

clean:
	rm -rf $(VENV) data .pytest_cache
