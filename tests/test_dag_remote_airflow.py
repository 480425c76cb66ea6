"""TriggerRemoteDagRunOperator end to end: dag.test() in both waiting modes against the sandbox fake."""

from __future__ import annotations

import json

import pytest

from airflow_provider_pipelines.links import RemoteDagRunLink
from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow as Fake
from tests.dagrun import HAS_TASK_STATE_STORE, run_dag

MODES = ["poll", "defer"]


@pytest.fixture
def v1_connection(sandbox, monkeypatch):
    """``remote_airflow_v1``: the fake's Airflow 2, with a login (basic auth)."""
    conn = {
        "conn_type": "remote_airflow",
        "host": sandbox.vendor_url("remote_airflow") + "/v1gen",
        "login": Fake.login,
        "password": Fake.password,
        "extra": {"timeout": 5, "backoff": 0.05, "backoff_max": 0.5},
    }
    monkeypatch.setenv("AIRFLOW_CONN_REMOTE_AIRFLOW_V1", json.dumps(conn))


def text_of(capfd) -> str:
    return "".join(capfd.readouterr())


@pytest.mark.parametrize("mode", MODES)
def test_success_returns_the_run_id_and_pushes_it_and_its_link_first(airflow_db, client, mode):
    client.plan("remote_airflow", "etl", duration=1.0, outcome="success")
    outcome = run_dag(f"t_remote_airflow_{mode}", {"remote_conf": {"day": "2026-01-31", "full": True}})
    assert outcome.tasks == {"trigger": "success"}
    run = client.runs("remote_airflow")[0]
    dag_run_id = run["data"]["dag_run_id"]
    assert dag_run_id.startswith(f"t_remote_airflow_{mode}.trigger__manual__")
    assert outcome.xcom[("trigger", "return_value")] == outcome.xcom[("trigger", "run_id")] == dag_run_id
    assert outcome.xcom[("trigger", "run_url")].endswith(f"/remote_airflow/dags/etl/runs/{dag_run_id}")
    # the "Remote Airflow DAG run" extra link opens the same page
    assert outcome.link("trigger", RemoteDagRunLink()) == outcome.xcom[("trigger", "run_url")]
    assert run["data"]["request"] == {
        "dag_run_id": dag_run_id,
        "logical_date": None,
        "conf": {"day": "2026-01-31", "full": True},
    }


@pytest.mark.parametrize("mode", MODES)
def test_airflow_2_remote_with_basic_auth_in_both_modes(airflow_db, client, v1_connection, mode):
    client.plan("remote_airflow", "etl", duration=1.0, outcome="success")
    outcome = run_dag(f"t_remote_airflow_v1_{mode}", {"logical_date": "2026-01-31T06:00:00+00:00"})
    assert outcome.tasks == {"trigger": "success"}
    run = client.runs("remote_airflow")[0]
    assert run["data"]["api"] == "v1" and run["data"]["logical_date"] == "2026-01-31T06:00:00+00:00"
    assert "/v1gen/dags/etl/grid?dag_run_id=" in outcome.xcom[("trigger", "run_url")]


@pytest.mark.parametrize("mode", MODES)
def test_failed_run_fails_the_task_naming_the_failed_tasks(airflow_db, client, mode, capfd):
    client.plan("remote_airflow", "etl", duration=0.5, outcome="failed")
    outcome = run_dag(f"t_remote_airflow_{mode}")
    text = text_of(capfd)
    assert outcome.tasks == {"trigger": "failed"}
    assert "did not succeed: it ended failed: failed tasks of DAG etl: transform (try 2)" in text
    assert ("trigger", "run_url") in outcome.xcom and ("trigger", "return_value") not in outcome.xcom


@pytest.mark.parametrize("mode", MODES)
def test_deadline_marks_the_remote_run_failed_and_says_so(airflow_db, client, mode, capfd):
    client.plan("remote_airflow", "etl", duration=60)
    outcome = run_dag(f"t_remote_airflow_{mode}")
    text = text_of(capfd)
    run = client.runs("remote_airflow")[0]
    assert outcome.tasks == {"trigger": "failed"}
    assert run["data"]["patches"] == ["failed"] and run["status"] == "failed"
    assert f"Marked run {run['data']['dag_run_id']} of DAG etl failed on the remote Airflow" in text
    assert "had not finished by the deadline (timeout 4s; last state running); it was cancelled" in text


@pytest.mark.parametrize("mode", MODES)
def test_run_on_a_paused_dag_is_reported_once_and_stays_queued(airflow_db, client, mode, capfd):
    outcome = run_dag(f"t_remote_airflow_{mode}", {"dag": "paused_etl"})
    text = text_of(capfd)
    assert outcome.tasks == {"trigger": "failed"}
    assert text.count("DAG paused_etl is paused on the remote Airflow") == 1
    assert "had not finished by the deadline (timeout 4s; last state queued)" in text


@pytest.mark.parametrize("mode", MODES)
def test_templated_conf_that_is_no_object_fails_before_any_request(airflow_db, client, mode, capfd):
    outcome = run_dag(f"t_remote_airflow_{mode}", {"remote_conf": ["not", "an", "object"]})
    assert outcome.tasks == {"trigger": "failed"}
    assert "conf must be a JSON object (a dict), got list" in text_of(capfd)
    assert client.requests("remote_airflow") == []


@pytest.mark.parametrize("mode", MODES)
def test_a_given_run_id_is_used_and_reattached_to_on_the_next_run(airflow_db, client, mode, capfd):
    client.plan("remote_airflow", "etl", duration=0.5, outcome="success")
    first = run_dag(f"t_remote_airflow_{mode}", {"dag_run_id": "nightly-2026-01-31"})
    second = run_dag(f"t_remote_airflow_{mode}", {"dag_run_id": "nightly-2026-01-31"})
    assert first.tasks == second.tasks == {"trigger": "success"}
    assert [r["data"]["dag_run_id"] for r in client.runs("remote_airflow")] == ["nightly-2026-01-31"]
    assert "That run has already ended (success); it is not run again" in text_of(capfd)


def test_a_retried_task_reattaches_to_the_run_its_first_try_started(airflow_db, client, capfd):
    # long enough that the run still goes on when the second try re-attaches, on a loaded machine too
    client.plan("remote_airflow", "etl", duration=5.0, outcome="success")
    # the first try's first status read is refused for good: that try fails, after the trigger
    client.fault("status", r"/dagRuns/t_remote_airflow_retry\.", method="GET", status=403, times=1)
    outcome = run_dag("t_remote_airflow_retry")
    assert outcome.tasks == {"trigger": "success"}
    assert len(client.runs("remote_airflow")) == 1
    posts = [r["status"] for r in client.requests("remote_airflow") if r["method"] == "POST"]
    if HAS_TASK_STATE_STORE:  # Airflow 3.3+: the second try reads its run back and sends no trigger
        assert posts == [200]
        assert "An earlier try of this task started Remote Airflow run" in text_of(capfd)
    else:  # before: the second trigger is refused as a duplicate (409) and the task re-attaches
        assert posts == [200, 409]
        assert "already exists on the remote Airflow (running)" in text_of(capfd)


@pytest.mark.parametrize("mode", MODES)
def test_sensor_waits_on_a_run_triggered_without_waiting(airflow_db, client, mode):
    client.plan("remote_airflow", "etl", duration=1.0, outcome="success")
    outcome = run_dag(f"t_remote_airflow_sensor_{mode}")
    assert outcome.tasks == {"start": "success", "watch": "success"}
    assert outcome.xcom[("start", "return_value")] == client.runs("remote_airflow")[0]["data"]["dag_run_id"]


@pytest.mark.parametrize("mode", MODES)
def test_sensor_fails_naming_the_failed_tasks(airflow_db, client, mode, capfd):
    client.plan("remote_airflow", "etl", duration=0.5, outcome="failed")
    outcome = run_dag(f"t_remote_airflow_sensor_{mode}")
    assert outcome.tasks == {"start": "success", "watch": "failed"}
    assert "failed tasks of DAG etl: transform (try 2)" in text_of(capfd)
