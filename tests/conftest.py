"""Shared fixtures: a private AIRFLOW_HOME, one sandbox and one Airflow DB per test session.

The environment is set before anything imports Airflow, because Airflow reads
its configuration at import time.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
_HOME = tempfile.mkdtemp(prefix="pipelines-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(HERE / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"

import pytest  # noqa: E402

from airflow_provider_pipelines.budget import forget_budgets  # noqa: E402
from airflow_provider_pipelines.testing import Sandbox, SandboxClient  # noqa: E402
from tests.real_airflow import REAL_CONN, REMOTE_DAGS, RealAirflow, free_port  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the real ``cluster`` fixture is a cluster test, marked so or not: the Python-version
    jobs (``-m "not cluster"``) leave such tests out."""
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


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
    # what the sandbox announced about its rate limits before the reset no longer holds
    forget_budgets()
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


EXAMPLES = HERE.parent / "example_dags"
CLUSTER_DAGS = HERE / "cluster_dags"
EVENT_DAGS = HERE / "event_dags"


@pytest.fixture(scope="session")
def cluster(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real Airflow 3 cluster for the whole run, reaching the vendors through the sandbox.

    api-server, scheduler, dag-processor and two triggerers (``triggerer-1``, ``triggerer-2``);
    SQLite; LocalExecutor; 127.0.0.1. It runs ``example_dags/``, ``tests/cluster_dags/`` and
    ``tests/event_dags/`` (whose DAGs, paused at creation, start their asset watchers only while
    ``tests/test_e2e_events.py`` unpauses them). A
    triggerer counts as gone after 10 s without a heartbeat, so that the HA tests can make
    Airflow hand its triggers to the other one quickly.
    """
    from tests.real_airflow import RealAirflow, free_port

    env = {
        **sandbox.connection_env(),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME": "600",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__TRIGGERER__CAPACITY": "100",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        "PIPELINES_TEST_PID_DIR": str(tmp_path_factory.mktemp("task-pids")),
    }
    deployment = RealAirflow(
        tmp_path_factory.mktemp("cluster"),
        free_port(),
        components=("api-server", "scheduler", "dag-processor"),
        extra_env=env,
    )
    deployment.start([EXAMPLES, CLUSTER_DAGS, EVENT_DAGS], lifetime=2400)
    try:
        deployment.start_triggerer("triggerer-1")
        deployment.start_triggerer("triggerer-2")
        print(f"\nreal Airflow 3 cluster on {deployment.url} ready in {deployment.startup_seconds:.1f}s")
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="session")
def real_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealAirflow]:
    """One real Airflow 3 remote for the whole run (tests/real_airflow.py), reached through REAL_CONN.

    Where the OpenLineage provider is installed, the remote runs it too, with a file
    transport of its own (``lineage_file``): tests/test_lineage_real_airflow.py reads it.
    """
    remote = RealAirflow(
        tmp_path_factory.mktemp("remote-airflow"),
        free_port(),
        openlineage=importlib.util.find_spec("airflow.providers.openlineage") is not None,
    )
    remote.start(REMOTE_DAGS, lifetime=1200)
    print(f"\nreal remote Airflow 3 on {remote.url} ready in {remote.startup_seconds:.1f}s")
    os.environ[REAL_CONN] = remote.connection()
    try:
        yield remote
    finally:
        os.environ.pop(REAL_CONN, None)
        remote.stop()
