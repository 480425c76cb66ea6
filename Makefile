# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
BIN := $(VENV)/bin

AIRFLOW2_VERSION ?= 2.11.*
VENV2 ?= .venv-airflow2

.PHONY: install demo test install-ui test-ui lint install-airflow2 test-airflow2 install-bench bench \
	bench-smoke clean dist wheel-install wheel-smoke test-wheel install-py310 install-py313 test-py310 test-py313

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

install-ui: $(BIN)/.installed-ui
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(UI_PACKAGES); }

test-ui: install-ui
	$(BIN)/python -m pytest -m browser tests/test_ui_browser.py

lint: install
	$(BIN)/ruff check airflow_provider_pipelines tests example_dags bench .ci
	$(BIN)/ruff format --check airflow_provider_pipelines tests example_dags bench .ci
	$(BIN)/mypy

## the compatibility job: the same package, unit, hook, trigger and dag.test() tests on Airflow 2.11
## (left out: tests that need a real Airflow 3, and the fault matrix and chaos run, which test the
## vendor side and run in the main job)
$(VENV2)/bin/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV2)
	$(VENV2)/bin/pip install --quiet --upgrade pip
	$(VENV2)/bin/pip install --quiet "apache-airflow==$(AIRFLOW2_VERSION)" -e ".[dev]"
	touch $@

install-airflow2: $(VENV2)/bin/.installed

test-airflow2: $(VENV2)/bin/.installed
	$(VENV2)/bin/python -m pytest -m "not airflow3_only and not resilience"

## the benches (bench/*.py): the bench-only peer, the dbt Cloud provider, goes into .venv first
$(BIN)/.installed-bench: $(BIN)/.installed-$(AIRFLOW_VERSION) pyproject.toml
	$(BIN)/pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" -e ".[dev,bench]"
	touch $@

install-bench: $(BIN)/.installed-bench

## all four benches at full size (several minutes; keep the machine otherwise idle): writes bench/RESULTS.md
bench: $(BIN)/.installed-bench
	$(BIN)/python bench/run_all.py --out bench/RESULTS.md

## a few seconds of each bench, so that they never rot (CI); figures to stdout, bench/RESULTS.md untouched
bench-smoke: $(BIN)/.installed-bench
	$(BIN)/python bench/run_all.py --smoke

## the sdist and the wheel in dist/, checked by twine and by .ci/check_dist.py (only the package in
## the wheel, only what a source build needs in the sdist, the version from __init__.py).
## `python -m build` builds the wheel from the sdist, so the sdist is proven to build.
DIST_VENV ?= .venv-dist
$(DIST_VENV)/bin/.installed:
	$(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/pip install --quiet --upgrade pip
	$(DIST_VENV)/bin/pip install --quiet "build>=1.2" "twine>=6.1"
	touch $@

dist: $(DIST_VENV)/bin/.installed
	rm -rf dist
	$(DIST_VENV)/bin/python -m build --outdir dist .
	$(DIST_VENV)/bin/twine check --strict dist/*
	$(DIST_VENV)/bin/python .ci/check_dist.py dist

## the built wheel (not an editable install) in a fresh venv with Airflow pinned: the demo, the
## provider in `airflow providers list`, and the pytest plugin with the README's example, all run
## from a scratch folder in isolated mode (.ci/wheel_smoke.py), so that nothing comes from this tree.
## CI runs its two halves apart: wheel-install (a fresh venv) while nothing timed runs, wheel-smoke later.
WHEEL_VENV ?= .venv-wheel
test-wheel: wheel-install
	$(MAKE) wheel-smoke

wheel-install: dist
	rm -rf $(WHEEL_VENV)
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/pip install --quiet --upgrade pip
	$(WHEEL_VENV)/bin/pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" "pytest>=8" dist/*.whl
	touch $(WHEEL_VENV)/bin/.installed

wheel-smoke:
	@test -f $(WHEEL_VENV)/bin/.installed || { echo "no $(WHEEL_VENV): run make wheel-install first"; exit 1; }
	cd "$${TMPDIR:-/tmp}" && $(CURDIR)/$(WHEEL_VENV)/bin/python -I $(CURDIR)/.ci/wheel_smoke.py $(CURDIR)

## the lowest and the highest Python we support, on Airflow $(AIRFLOW_VERSION): the unit, hook,
## trigger and dag.test() tests (left out: tests that start a real Airflow cluster, and the fault
## matrix and chaos run, which test the vendor side and run in the main job). The Pythons are
## pyenv builds when there are some ($(PYENV_ROOT)/versions/3.10.*), else python3.10/python3.13.
PYENV_ROOT ?= $(HOME)/.pyenv
pyenv_python = $(or $(shell ls -d $(PYENV_ROOT)/versions/$(1).*/bin/python$(1) 2>/dev/null | sort -V | tail -n 1),python$(1))
PY310 ?= $(call pyenv_python,3.10)
PY313 ?= $(call pyenv_python,3.13)
PYTHON_JOB_TESTS ?= -m "not cluster and not resilience and not browser"

.venv-py%/bin/.installed: pyproject.toml
	$(PY$*) -m venv .venv-py$*
	.venv-py$*/bin/pip install --quiet --upgrade pip
	.venv-py$*/bin/pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" -e ".[dev]"
	touch $@

install-py310: .venv-py310/bin/.installed
install-py313: .venv-py313/bin/.installed

test-py310: install-py310
	.venv-py310/bin/python -m pytest $(PYTHON_JOB_TESTS)

test-py313: install-py313
	.venv-py313/bin/python -m pytest $(PYTHON_JOB_TESTS)

clean:
	rm -rf $(VENV) $(VENV2) $(DIST_VENV) $(WHEEL_VENV) .venv-py310 .venv-py313 dist \
		.mypy_cache .ruff_cache .pytest_cache
