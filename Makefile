# carepath developer tasks. `make` (or `make help`) lists them.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k intake -x"`.
PYTEST_ARGS ?=
# Test processes side by side (pytest-xdist, a file each at a time: a module's servers start once). Most tests wait on
# PostgreSQL, Redis, worker processes or Chromium, so two share two cores well. The chaos suite restarts PostgreSQL and
# Redis, so it runs after the rest, alone.
TEST_WORKERS ?= 2
# Arguments for `carepath bench`; the default is the quick run (under 5 minutes on 2 cores).
BENCH_ARGS ?= --quick

.DEFAULT_GOAL := help
.PHONY: help run simulate protocol-test test bench lint clean distclean

help: ## List the targets
	@echo "carepath make targets:"
	@grep -E '^[a-zA-Z_.-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'

# Stamp file: (re)install the project when pyproject.toml changes.
# pip output goes to a log that is printed only when the install fails.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing carepath[test] into $(VENV) ..."
	@$(BIN)/python -m pip install --disable-pip-version-check -e '.[test]' \
		>$(VENV)/pip-install.log 2>&1 || { cat $(VENV)/pip-install.log; exit 1; }
	@touch $@

run: $(VENV)/.installed ## Run carepath standalone (SQLite, in-process tasks, console SMS) with a demo clinic
	$(BIN)/carepath standalone --demo

simulate: $(VENV)/.installed ## Simulate the example esketamine induction and print its summary
	$(BIN)/carepath simulate examples/esketamine_induction.yaml

protocol-test: $(VENV)/.installed ## Check protocol-tests/ against the shipped protocol (also part of `make test`)
	$(BIN)/carepath protocol test protocol-tests

test: $(VENV)/.installed ## Start PostgreSQL/Redis if needed, run pytest (PYTEST_ARGS=... runs just those, in one process)
	@scripts/ensure-services
ifeq ($(strip $(PYTEST_ARGS)),)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --ignore=tests/chaos
	$(BIN)/pytest -q tests/chaos
else
	$(BIN)/pytest -q $(PYTEST_ARGS)
endif

bench: $(VENV)/.installed ## Benchmarks against same-run baselines (BENCH_ARGS="--only a,d --json out.json"; full: BENCH_ARGS=)
	@scripts/ensure-services
	$(BIN)/carepath bench $(BENCH_ARGS)

lint: $(VENV)/.installed ## Run ruff check
	$(BIN)/ruff check .

clean: ## Remove caches and build artifacts (keeps .venv)
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean ## clean, and remove the virtualenv too
	rm -rf $(VENV)
