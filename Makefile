# The two front doors: `make demo` (the worked example) and `make test` (the whole suite).
# Both install what they need first (uv into .venv, versions pinned in requirements-dev.txt).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-once test lint check bench install lock clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(PYTHON) -m uv venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(PYTHON) -m uv pip sync --quiet --python $(BIN)/python requirements-dev.txt
	$(PYTHON) -m uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/prefect-federation demo

demo-once: $(STAMP)
	$(BIN)/prefect-federation demo --once

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every subscription against its producer's contract and its target flow (README: Contracts).
check: $(STAMP)
	$(BIN)/prefect-federation check -d deployments

lock:
	$(PYTHON) -m uv pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements-dev.txt

clean:
	rm -rf $(VENV) .federation

bench: $(STAMP)
	$(BIN)/python -m bench
