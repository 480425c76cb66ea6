"""Shared fixtures: a private AIRFLOW_HOME, one sandbox and one Airflow DB per test session.

The environment is set before anything imports Airflow, because Airflow reads
its configuration at import time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).parent
_HOME = tempfile.mkdtemp(prefix="pipelines-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(HERE / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"

import pytest  # noqa: E402

from airflow_provider_pipelines.testing import Sandbox, SandboxClient  # noqa: E402


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One sandbox for the whole run; its connections are exported as AIRFLOW_CONN_* variables."""
    with Sandbox(lifetime=1800) as box:
        os.environ.update(box.connection_env())
        yield box


@pytest.fixture
def client(sandbox: Sandbox) -> SandboxClient:
    """The sandbox's admin client, with runs, plans, faults and the request log cleared."""
    client = sandbox.client
    client.reset()
    return client


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated SQLite metadata DB in the private AIRFLOW_HOME (once per session)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
    )
    return _HOME
