"""OpenLineage across two real Airflows: the remote DAG run names the task that triggered it as its parent.

The remote is the real Airflow 3 of the ``real_airflow`` fixture (tests/conftest.py), running
the OpenLineage provider from this same environment with a file transport of its own. Here,
the operator runs through dag.test() with the provider's listener on (tests/openlineage_capture.py).
Skipped, saying why, where the OpenLineage provider is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "airflow.providers.openlineage.plugins.listener",
    reason="apache-airflow-providers-openlineage is not installed (pip install -e '.[openlineage]'): "
    "the OpenLineage tests need it",
)

from tests.dagrun import run_dag
from tests.openlineage_capture import NAMESPACE, Events, of_type, openlineage_on, run_facets
from tests.real_airflow import REMOTE_NAMESPACE, RealAirflow

#: the remote is a real Airflow 3 (api-server and /api/v2): the 2.11 job and the Python-version jobs
#: leave this module out
pytestmark = [pytest.mark.airflow3_only, pytest.mark.cluster]


@pytest.fixture
def lineage(airflow_db, real_airflow: RealAirflow, tmp_path: Path) -> Iterator[Events]:
    with openlineage_on(tmp_path / "events.jsonl") as events:
        yield events


def remote_dag_events(remote: Events, dag_id: str, parent_run_id: str) -> list[dict[str, Any]]:
    """The remote's events of DAG ``dag_id`` whose parent facet names ``parent_run_id``."""
    return [
        e
        for e in remote.since()
        if e["job"]["name"] == dag_id
        and run_facets(e).get("parent", {}).get("run", {}).get("runId") == parent_run_id
    ]


@pytest.mark.parametrize("mode", ["poll", "defer"])
def test_the_remote_dag_run_names_this_task_as_its_parent(lineage, real_airflow, mode):
    outcome = run_dag(f"t_remote_real_{mode}", {"dag": "remote_echo", "remote_conf": {"mode": mode}})
    assert outcome.tasks == {"trigger": "success"}
    [start, *_] = of_type(lineage.of_job(f"{outcome.dag_id}.trigger"), "START")
    ours, our_parent = start["run"]["runId"], run_facets(start)["parent"]
    remote = Events(real_airflow.lineage_file)
    # the remote's scheduler emits its DAG run's events from a process pool: they may come a little later
    found = remote.wait_for(lambda _: remote_dag_events(remote, "remote_echo", ours), limit=90)
    assert found, f"no event of remote_echo names {ours} as parent; remote events: {remote.since()[-3:]}"
    assert {e["eventType"] for e in found} >= {"START"}
    for event in found:
        assert event["job"]["namespace"] == REMOTE_NAMESPACE
        parent = run_facets(event)["parent"]
        assert parent["job"] == {**parent["job"], "namespace": NAMESPACE, "name": f"{outcome.dag_id}.trigger"}
        # the root is the DAG run above our task, so the whole chain is one tree in a lineage UI
        assert parent["root"]["run"]["runId"] == our_parent["root"]["run"]["runId"]
        assert parent["root"]["job"]["name"] == outcome.dag_id
    # the remote's task events hang under the remote DAG run, with our DAG run as their root
    remote_run_id = found[0]["run"]["runId"]
    echo = remote.wait_for(
        lambda events: [
            e
            for e in events
            if e["job"]["name"] == "remote_echo.echo"
            and run_facets(e).get("parent", {}).get("run", {}).get("runId") == remote_run_id
        ],
        limit=30,
    )
    assert echo and all(
        run_facets(e)["parent"]["root"]["run"]["runId"] == our_parent["root"]["run"]["runId"] for e in echo
    )
