# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Stamp file: reinstall only when the project metadata changes.
INSTALLED := $(VENV)/.installed

.PHONY: run test install lint typecheck check bench soak clean

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/chatgate serve --host $(HOST) --port $(PORT) --print-curl

test: $(INSTALLED)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

LINT_PATHS := src tests examples $(wildcard bench)

lint: $(INSTALLED)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(INSTALLED)
	$(BIN)/mypy

check: lint typecheck test

bench: $(INSTALLED)
	$(BIN)/python -m bench

# A real `chatgate serve` under load with faults injected (docs/deploy.md). Full size by default
# (64 concurrent, 10,000 chats); smaller: make soak SOAK_ARGS="--concurrency 16 --requests 1000".
soak: $(INSTALLED)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
