"""OpenLineage in real Airflow: the events every operator and sensor emits, and the parent info it hands on.

dag.test() runs the test DAGs and the example DAGs against the sandbox with the
OpenLineage provider's listener on and its file transport (see
``tests/openlineage_capture.py``); the tests read the events it wrote. Where the
provider is not installed, the module is skipped and says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "airflow.providers.openlineage.plugins.listener",
    reason="apache-airflow-providers-openlineage is not installed (pip install -e '.[openlineage]'): "
    "the OpenLineage tests need it",
)

from airflow_provider_pipelines.lineage import (
    DBT_CONTEXT_VARIABLE,
    DBT_PARENT_VARIABLE,
    DBT_ROOT_VARIABLE,
    REMOTE_RUN_FACET,
)
from airflow_provider_pipelines.testing.demo import _dagbag
from tests.dagrun import run_dag
from tests.dags.lineage_scenarios import USER_PARENT
from tests.openlineage_capture import NAMESPACE, Events, of_type, openlineage_on, run_facets

MODES = ["poll", "defer"]
EXAMPLES = Path(__file__).parent.parent / "example_dags"
FLOW = "2b081248-4963-43b3-ba06-5b7403d58b4d"

#: vendor -> (DAG id prefix, task id, conf, plan key, success word, failure word, job type, reason)
VENDORS: dict[str, tuple[str, str, dict[str, Any], str, str, str, str, str]] = {
    "dataform": (
        "t_dataform",
        "run",
        {"schedule": "lineage"},
        "lineage",
        "SUCCESSFUL",
        "FAILED",
        "DATAFORM_RUN",
        "it ended failed",
    ),
    "profitbase": (
        "t_profitbase",
        "flow",
        {"flow": FLOW},
        FLOW,
        "Succeeded",
        "Failed",
        "INVISION_DATA_FLOW",
        "it ended failed",
    ),
    "dataops": (
        "t_dataops",
        "run",
        {"plan": "lineage.yml"},
        "lineage.yml",
        "success",
        "failed",
        "DATAOPS_PIPELINE",
        "job 'Build all Models' in stage 'Data Transformation' failed (script_failure)",
    ),
    "remote_airflow": (
        "t_remote_airflow",
        "trigger",
        {"dag": "etl"},
        "etl",
        "success",
        "failed",
        "AIRFLOW_DAG_RUN",
        "failed tasks of DAG etl: transform (try 2)",
    ),
}
#: vendor -> (DAG id prefix, watching task): a start without waiting, then the vendor's sensor
SENSOR_DAGS = {
    "dataform": "t_dataform_nowait",
    "profitbase": "t_profitbase_sensor",
    "dataops": "t_dataops_nowait",
    "remote_airflow": "t_remote_airflow_sensor",
}


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # one file for the module: the provider's client keeps the transport it made first
    return tmp_path_factory.mktemp("openlineage") / "events.jsonl"


@pytest.fixture
def lineage(sandbox, airflow_db, events_file: Path) -> Iterator[Events]:
    with openlineage_on(events_file) as events:
        yield events


def sandbox_host(sandbox) -> str:
    return sandbox.url.split("://", 1)[1]


def task_events(events: Events, mark: int, dag_id: str, task_id: str) -> list[dict[str, Any]]:
    return events.of_job(f"{dag_id}.{task_id}", mark)


def remote_facet(event: dict[str, Any]) -> dict[str, Any]:
    return dict(run_facets(event)[REMOTE_RUN_FACET])


# -- facets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_a_finished_run_is_in_the_complete_event(lineage, sandbox, client, vendor, mode):
    prefix, task_id, conf, key, success, _, job_type, _ = VENDORS[vendor]
    client.plan(vendor, key, duration=0.6, outcome=success)
    mark = lineage.mark()
    outcome = run_dag(f"{prefix}_{mode}", conf)
    assert outcome.tasks == {task_id: "success"}
    run_id = outcome.xcom[(task_id, "run_id")]
    events = task_events(lineage, mark, outcome.dag_id, task_id)
    [complete] = of_type(events, "COMPLETE")
    starts = of_type(events, "START")
    # a deferred task starts twice (before deferring, and again to resume): START each time
    assert starts and len(starts) <= (2 if mode == "defer" else 1)
    for start in starts:
        assert remote_facet(start)["vendor"] == vendor and remote_facet(start)["jobType"] == job_type
    # the first START comes before the run exists (a resumed task may know it, from its event)
    assert remote_facet(starts[0]).get("runId") is None and "externalQuery" not in run_facets(starts[0])
    facets = run_facets(complete)
    assert facets["externalQuery"]["externalQueryId"] == run_id
    assert facets["externalQuery"]["source"] == sandbox_host(sandbox)
    assert facets["externalQuery"]["_schemaURL"].endswith(
        "ExternalQueryRunFacet.json#/$defs/ExternalQueryRunFacet"
    )
    remote = remote_facet(complete)
    assert remote["vendor"] == vendor and remote["jobType"] == job_type and remote["runId"] == run_id
    assert remote["state"] == "success" and remote["vendorStatus"] == success
    assert remote.get("url") == outcome.xcom.get((task_id, "run_url"))  # InVision has no run page: None
    assert "errorMessage" not in facets
    # the provider's own facets are still there: this task's run is a child of its DAG run
    assert facets["parent"]["job"]["name"] == outcome.dag_id
    assert complete["job"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_a_failed_run_is_in_the_fail_event_with_the_vendors_reason(lineage, client, vendor, mode):
    prefix, task_id, conf, key, _, failure, _, reason = VENDORS[vendor]
    client.plan(vendor, key, duration=0.6, outcome=failure)
    mark = lineage.mark()
    outcome = run_dag(f"{prefix}_{mode}", conf)
    assert outcome.tasks == {task_id: "failed"}
    run_id = outcome.xcom[(task_id, "run_id")]
    [fail] = of_type(task_events(lineage, mark, outcome.dag_id, task_id), "FAIL")
    facets = run_facets(fail)
    remote = remote_facet(fail)
    assert remote["runId"] == run_id and remote["state"] == "failed" and remote["vendorStatus"] == failure
    assert facets["externalQuery"]["externalQueryId"] == run_id
    message = facets["errorMessage"]["message"]
    assert f"run {run_id} (status {failure}" in message and reason in message


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", sorted(SENSOR_DAGS))
def test_a_sensor_names_the_watched_run_from_its_start(lineage, sandbox, client, vendor, mode):
    _, _, conf, key, success, _, job_type, _ = VENDORS[vendor]
    client.plan(vendor, key, duration=0.6, outcome=success)
    mark = lineage.mark()
    outcome = run_dag(f"{SENSOR_DAGS[vendor]}_{mode}", conf)
    assert outcome.tasks == {"start": "success", "watch": "success"}
    run_id = outcome.xcom[("start", "return_value")]
    watch = task_events(lineage, mark, outcome.dag_id, "watch")
    [complete] = of_type(watch, "COMPLETE")
    for event in [*of_type(watch, "START"), complete]:
        assert run_facets(event)["externalQuery"] == {
            **run_facets(event)["externalQuery"],
            "externalQueryId": run_id,
            "source": sandbox_host(sandbox),
        }
        assert remote_facet(event)["jobType"] == job_type
    assert remote_facet(complete)["state"] == "success"
    # the start that did not wait reports the state it saw: not finished yet
    [started] = of_type(task_events(lineage, mark, outcome.dag_id, "start"), "COMPLETE")
    assert remote_facet(started)["runId"] == run_id and remote_facet(started)["state"] in (
        "queued",
        "running",
    )


STARTING = {
    "example_dataform",
    "example_profitbase",
    "example_dataops",
    "example_remote_airflow",
    "example_pipeline_chain",
}


@pytest.mark.airflow3_only  # the demo (make demo) runs on Airflow 3
def test_every_example_dag_emits_start_and_complete_for_each_task(tmp_path):
    """``make demo`` with OpenLineage configured the way a deployment does it (an environment variable:
    the provider's plugin registers its listener): every example task's run is in its events, and
    the failures the demo shows are in FAIL events with the vendor's reason."""
    path = tmp_path / "events.jsonl"
    transport = {"type": "file", "log_file_path": str(path), "append": True}
    env = {**os.environ, "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)}
    env = {k: v for k, v in env.items() if k != "AIRFLOW_HOME"}  # the demo makes a home of its own
    demo = subprocess.run(
        [sys.executable, "-m", "airflow_provider_pipelines.testing.demo", str(EXAMPLES)],
        check=False,  # the assertion below shows its output
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    events = Events(path).since()
    bag = _dagbag(EXAMPLES)
    # the DAGs that start remote runs (the event-driven example's DAGs only log what they are given)
    tasks = {f"{dag_id}.{t}" for dag_id, dag in bag.dags.items() if dag_id in STARTING for t in dag.task_ids}
    assert len(tasks) == 9
    for name in sorted(tasks):
        mine = [e for e in events if e["job"]["name"] == name]
        assert of_type(mine, "START"), f"{name}: no START event"
        complete = of_type(mine, "COMPLETE")[0]  # the first, successful run of the example
        remote = remote_facet(complete)
        assert remote["state"] == "success" and remote["runId"], f"{name}: {remote}"
        assert run_facets(complete)["externalQuery"]["externalQueryId"] == remote["runId"]
    # then the demo fails the runs of three examples on purpose: their tasks' FAIL events say why
    failed = {e["job"]["name"]: e for e in of_type(events, "FAIL")}
    for name in ("example_dataform.nightly", "example_remote_airflow.trigger_etl"):
        facets = run_facets(failed[name])
        assert facets[REMOTE_RUN_FACET]["state"] == "failed", name
        assert "did not succeed: it ended failed" in facets["errorMessage"]["message"], name
    assert (
        "failed tasks of DAG etl"
        in run_facets(failed["example_remote_airflow.trigger_etl"])["errorMessage"]["message"]
    )


# -- parent info -------------------------------------------------------------------------------


def our_run(events: Events, mark: int, dag_id: str, task_id: str) -> dict[str, Any]:
    """This task's OpenLineage run, as its START event names it: id, and the DAG run above it."""
    start = of_type(task_events(events, mark, dag_id, task_id), "START")[0]
    return {"runId": start["run"]["runId"], "parent": run_facets(start)["parent"]}


@pytest.mark.parametrize("mode", MODES)
def test_the_remote_dag_run_conf_names_this_task_as_its_parent(lineage, client, mode):
    client.plan("remote_airflow", "etl", duration=0.5, outcome="success")
    mark = lineage.mark()
    outcome = run_dag(f"t_remote_airflow_{mode}", {"remote_conf": {"day": "2026-01-31"}})
    assert outcome.tasks == {"trigger": "success"}
    ours = our_run(lineage, mark, outcome.dag_id, "trigger")
    [run] = client.runs("remote_airflow")
    conf = run["data"]["request"]["conf"]
    assert conf["day"] == "2026-01-31"
    # the keys TriggerDagRunOperator writes, which the remote's OpenLineage provider reads
    assert conf["openlineage"] == {
        "parentRunId": ours["runId"],
        "parentJobName": f"{outcome.dag_id}.trigger",
        "parentJobNamespace": NAMESPACE,
        "rootParentRunId": ours["parent"]["root"]["run"]["runId"],
        "rootParentJobName": outcome.dag_id,
        "rootParentJobNamespace": NAMESPACE,
    }


def test_a_parent_the_user_put_in_the_conf_is_kept(lineage, client):
    client.plan("remote_airflow", "etl", duration=0.5, outcome="success")
    theirs = {"parentRunId": "0194d3a2-5c1e-7b3a-9c55-2a5f4e1d9b10", "note": "set by hand"}
    outcome = run_dag("t_remote_airflow_poll", {"remote_conf": {"openlineage": theirs}})
    assert outcome.tasks == {"trigger": "success"}
    assert client.runs("remote_airflow")[0]["data"]["request"]["conf"] == {"openlineage": theirs}


def test_parent_injection_can_be_turned_off(lineage, client):
    client.plan("remote_airflow", "etl", duration=0.5, outcome="success")
    client.plan("dataops", "full-ci.yml", duration=0.5, outcome="success")
    assert run_dag("t_lineage_remote_off").tasks == {"trigger": "success"}
    assert run_dag("t_lineage_dataops_off").tasks == {"run": "success"}
    assert client.runs("remote_airflow")[0]["data"]["request"]["conf"] == {"day": "2026-01-31"}
    variables = client.runs("dataops")[0]["data"]["variables"]
    assert not set(variables) & {DBT_CONTEXT_VARIABLE, DBT_PARENT_VARIABLE, DBT_ROOT_VARIABLE}


@pytest.mark.parametrize("mode", MODES)
def test_dbt_ol_in_the_pipeline_reads_this_task_as_its_parent(lineage, client, monkeypatch, mode):
    from openlineage.common.provider.dbt.utils import get_parent_run_metadata

    client.plan("dataops", "lineage.yml", duration=0.5, outcome="success")
    mark = lineage.mark()
    outcome = run_dag(f"t_dataops_{mode}", {"plan": "lineage.yml"})
    assert outcome.tasks == {"run": "success"}
    ours = our_run(lineage, mark, outcome.dag_id, "run")
    root = ours["parent"]["root"]
    [pipeline] = client.runs("dataops")
    variables = pipeline["data"]["variables"]
    assert all(isinstance(v, str) for v in variables.values())  # GitLab takes strings only
    assert json.loads(variables[DBT_CONTEXT_VARIABLE])["parent"]["run"] == {"runId": ours["runId"]}
    # what dbt-ol (openlineage-integration-common) reads in the pipeline's jobs: first the JSON form,
    # then, for older dbt-ol, the namespace/job/run pair; both name this task and its root
    for drop in ((), (DBT_CONTEXT_VARIABLE,)):
        for name in (DBT_CONTEXT_VARIABLE, DBT_PARENT_VARIABLE, DBT_ROOT_VARIABLE):
            if name in drop:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, variables[name])
        parent = get_parent_run_metadata()
        assert (parent.run_id, parent.job_name, parent.job_namespace) == (
            ours["runId"],
            f"{outcome.dag_id}.run",
            NAMESPACE,
        )
        assert (parent.root_parent_run_id, parent.root_parent_job_name) == (
            root["run"]["runId"],
            root["job"]["name"],
        )
    # the marker that finds the pipeline again on a retry is still there, unchanged
    assert variables["AIRFLOW_PIPELINES_MARKER"].startswith("af-")


def test_a_dbt_ol_variable_the_user_set_is_kept(lineage, client):
    client.plan("dataops", "full-ci.yml", duration=0.5, outcome="success")
    assert run_dag("t_lineage_dataops_user_parent").tasks == {"run": "success"}
    variables = client.runs("dataops")[0]["data"]["variables"]
    assert variables[DBT_PARENT_VARIABLE] == USER_PARENT
    # none of ours beside it: dbt-ol would read OPENLINEAGE_CONTEXT first and ignore the user's
    assert DBT_CONTEXT_VARIABLE not in variables and DBT_ROOT_VARIABLE not in variables


@pytest.mark.parametrize("mode", MODES)
def test_a_retried_dataops_task_still_reattaches_with_parent_info_on(lineage, client, mode):
    """The injected variables leave the marker lookup alone: the retry finds the first try's pipeline,
    whose dbt-ol parent stays the try that started it."""
    client.plan("dataops", "full-ci.yml", duration=4.0, outcome="success")
    # the first try's first status read is refused: a permanent error, so that try fails
    client.fault(
        "status", r"/pipelines/\d+$", method="GET", status=401, body='{"message": "401 Unauthorized"}'
    )
    mark = lineage.mark()
    outcome = run_dag(f"t_dataops_retry_{mode}")
    assert outcome.tasks == {"run": "success"}
    [pipeline] = client.runs("dataops")
    events = task_events(lineage, mark, outcome.dag_id, "run")
    [failed], [complete] = of_type(events, "FAIL"), of_type(events, "COMPLETE")
    assert failed["run"]["runId"] != complete["run"]["runId"]  # each try is a run of its own
    assert run_facets(complete)["externalQuery"]["externalQueryId"] == pipeline["run_id"]
    context = json.loads(pipeline["data"]["variables"][DBT_CONTEXT_VARIABLE])
    assert context["parent"]["run"]["runId"] == failed["run"]["runId"]


def test_no_parent_info_without_an_openlineage_transport(sandbox, airflow_db, client):
    """Installed but not configured, the OpenLineage provider is off: the conf goes as given."""
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" not in os.environ
    client.plan("remote_airflow", "etl", duration=0.5, outcome="success")
    assert run_dag("t_remote_airflow_poll", {"remote_conf": {"day": "x"}}).tasks == {"trigger": "success"}
    assert client.runs("remote_airflow")[0]["data"]["request"]["conf"] == {"day": "x"}
