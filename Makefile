# tether — the two quick-start commands create .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEV    := $(VENV)/.dev-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: demo test check bench bench-decide bench-drift bench-lifecycle bench-server clean venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install --quiet -e .
	@touch $@

$(DEV): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP)

venv: $(STAMP)

SERVE ?= 1

demo: $(STAMP)  ## run tether's main job end to end on a fresh SQLite home, then serve the console (SERVE=0: don't)
	$(VENV)/bin/tether demo --home .tether-demo --fresh $(if $(filter 1,$(SERVE)),--serve,--no-serve)

test: $(DEV)  ## run the whole test suite (PostgreSQL too when TETHER_TEST_POSTGRES_URL is set)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

check: $(DEV)  ## ruff + mypy strict
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

bench: $(DEV)  ## benchmarks; results in bench/results/
	$(PY) bench/ledger.py
	$(PY) bench/decide.py
	$(PY) bench/drift.py

bench-decide: $(DEV)  ## W1 policy decision benchmark (tether vs CEL, plain Python, Microsoft AGT)
	$(PY) bench/decide.py

bench-drift: $(DEV)  ## W3 drift benchmark (tether vs Evidently and whylogs, each in its own venv)
	$(PY) bench/drift.py

bench-lifecycle: $(DEV)  ## model lifecycle: governed predict vs the bare model, rollback, explain vs shap
	$(PY) bench/lifecycle.py

bench-server: $(DEV)  ## tether serve vs a bare FastAPI endpoint over HTTP (loopback), decision feed
	$(PY) bench/server.py
	$(PY) bench/feed.py

clean:
	rm -rf $(VENV) .tether-demo .pytest_cache .mypy_cache .ruff_cache
