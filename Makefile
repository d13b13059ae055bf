# Two commands for a fresh machine (README):  make run   |   make test
# Everything installs into .venv; torch is pinned first so pip takes the CPU build
# from local disk instead of resolving a multi-GB CUDA build.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0
CONFIG ?= configs/train_burgers_golden.yaml

.PHONY: setup run test lint format bench ui clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,server,vast]"
	touch $(STAMP)

setup: $(STAMP)

run: setup  ## the main job: the fast-to-SOTA pipeline on the golden config, embedded store
	$(BIN)/unisim run $(CONFIG)

# Locally the default suite skips tests marked slow; in CI (CI=true) every test runs,
# PostgreSQL and real-server ones included.
ifeq ($(CI),true)
PYTEST_ARGS ?= -m "slow or not slow"
endif

test: setup  ## lint, then the test suite (everything: make test PYTEST_ARGS='-m "slow or not slow"')
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: setup  ## every benchmark; writes benchmarks/RESULTS.md
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

ui: setup  ## MLflow UI on the embedded store
	$(BIN)/unisim ui

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
