# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
BIN := $(VENV)/bin

.PHONY: install demo test lint clean

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

lint: install
	$(BIN)/ruff check airflow_provider_pipelines tests example_dags
	$(BIN)/ruff format --check airflow_provider_pipelines tests example_dags
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
