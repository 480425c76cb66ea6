# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
BIN := $(VENV)/bin

AIRFLOW2_VERSION ?= 2.11.*
VENV2 ?= .venv-airflow2

.PHONY: install demo test test-ui lint test-airflow2 bench bench-smoke clean

$(BIN)/.installed-$(AIRFLOW_VERSION): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" -e ".[dev]"
	touch $@

install: $(BIN)/.installed-$(AIRFLOW_VERSION)

## the main job: the sandbox, then every example DAG deferred in real Airflow
demo: install
	$(BIN)/python -m airflow_provider_pipelines.testing.demo example_dags

## the test suite (CI runs exactly this, after `make lint`)
test: install
	$(BIN)/python -m pytest

## the browser check of the connection forms: a real Airflow 3 UI in headless Chromium adds, saves and tests
## one connection of each type (tests/test_ui_browser.py, about 2 minutes). Chromium and chromedriver are
## Debian's packages, installed here when missing; selenium comes from the `ui` extra.
UI_PACKAGES ?= chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(BIN)/.installed-ui: $(BIN)/.installed-$(AIRFLOW_VERSION) pyproject.toml
	$(BIN)/pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" -e ".[dev,ui]"
	touch $@

test-ui: $(BIN)/.installed-ui
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(UI_PACKAGES); }
	$(BIN)/python -m pytest -m browser tests/test_ui_browser.py

lint: install
	$(BIN)/ruff check airflow_provider_pipelines tests example_dags bench
	$(BIN)/ruff format --check airflow_provider_pipelines tests example_dags bench
	$(BIN)/mypy

## the compatibility job: the same package, unit, hook, trigger and dag.test() tests on Airflow 2.11
## (left out: tests that need a real Airflow 3, and the fault matrix and chaos run, which test the
## vendor side and run in the main job)
$(VENV2)/bin/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV2)
	$(VENV2)/bin/pip install --quiet --upgrade pip
	$(VENV2)/bin/pip install --quiet "apache-airflow==$(AIRFLOW2_VERSION)" -e ".[dev]"
	touch $@

test-airflow2: $(VENV2)/bin/.installed
	$(VENV2)/bin/python -m pytest -m "not airflow3_only and not resilience"

## the benches (bench/*.py): the bench-only peer, the dbt Cloud provider, goes into .venv first
$(BIN)/.installed-bench: $(BIN)/.installed-$(AIRFLOW_VERSION) pyproject.toml
	$(BIN)/pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" -e ".[dev,bench]"
	touch $@

## all four benches at full size (several minutes; keep the machine otherwise idle): writes bench/RESULTS.md
bench: $(BIN)/.installed-bench
	$(BIN)/python bench/run_all.py --out bench/RESULTS.md

## a few seconds of each bench, so that they never rot (CI); figures to stdout, bench/RESULTS.md untouched
bench-smoke: $(BIN)/.installed-bench
	$(BIN)/python bench/run_all.py --smoke

clean:
	rm -rf $(VENV) $(VENV2) .mypy_cache .ruff_cache .pytest_cache
