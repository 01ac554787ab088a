# The two front doors: `make demo` (the worked example) and `make test` (the whole suite).
# Both install what they need first (uv into .venv, versions pinned in requirements-dev.txt),
# compiled to bytecode at install: where PYTHONDONTWRITEBYTECODE is set (as on these machines)
# Python never caches it, and every process (each listener, the Prefect server, each test's
# subprocess) would compile Prefect from source again, ~1.2 s of CPU per `import prefect`.
# It also makes the local Prefect servers' empty, migrated SQLite database once
# (src/prefect_federation/local/template.py): a fresh server then skips ~8 s of migrations.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-once test lint check bench install lock clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(PYTHON) -m uv venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(PYTHON) -m uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements-dev.txt
	$(PYTHON) -m uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 src flows blocks
	$(BIN)/python -c 'from prefect_federation.local.template import ensure_template as e; e()' \
		|| echo 'note: no migrated Prefect database template; local servers migrate their own'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/prefect-federation demo

demo-once: $(STAMP)
	$(BIN)/prefect-federation demo --once

# Two workers: the suite mostly waits on servers and processes (~10 min on 2 cores, ~17 on one);
# a test file stays on one worker (its module fixtures are started once). TEST_WORKERS=0: serial.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

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
