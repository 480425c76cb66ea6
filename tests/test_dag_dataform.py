"""Dataform end to end in real Airflow: dag.test(), in both waiting modes, against the sandbox."""

from __future__ import annotations

import pytest

from airflow_provider_pipelines.links import DataformRunLink
from tests.dagrun import HAS_TASK_STATE_STORE, run_dag

MODES = ["poll", "defer"]


@pytest.mark.parametrize("mode", MODES)
def test_successful_run_returns_its_id_and_pushes_its_link_first(airflow_db, client, mode, capfd):
    client.plan("dataform", "ok", duration=1.0, outcome="SUCCESSFUL")
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "ok"})
    runs = client.runs("dataform")
    assert outcome.tasks == {"run": "success"}
    assert len(runs) == 1 and runs[0]["key"] == "ok"
    run_id = runs[0]["run_id"]
    assert outcome.xcom[("run", "return_value")] == run_id
    assert outcome.xcom[("run", "run_id")] == run_id
    assert outcome.xcom[("run", "run_url")].endswith(f"/#/1234/run/{run_id}")
    # the "Dataform run" extra link resolves to the same URL
    assert outcome.link("run", DataformRunLink()) == outcome.xcom[("run", "run_url")]
    assert runs[0]["data"]["request"] == {"scheduleName": "ok", "runConfig": {"tags": ["daily"]}}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", ["FAILED", "CANCELLED", "TIMED_OUT"])
def test_unsuccessful_run_fails_the_task_naming_status_run_and_link(airflow_db, client, mode, status, capfd):
    client.plan("dataform", "bad", duration=0.5, outcome=status)
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "bad"})
    out = capfd.readouterr()
    text = out.out + out.err
    run_id = client.runs("dataform")[0]["run_id"]
    assert outcome.tasks == {"run": "failed"}
    assert f"Dataform run {run_id} (status {status}, http" in text
    assert "did not succeed" in text
    # the run was recorded before the wait failed
    assert outcome.xcom[("run", "run_id")] == run_id
    assert ("run", "return_value") not in outcome.xcom


@pytest.mark.parametrize("mode", MODES)
def test_deadline_fails_the_task_saying_the_run_may_still_be_going(airflow_db, client, mode, capfd):
    client.plan("dataform", "slow", duration=60, outcome="SUCCESSFUL")
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "slow"})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"run": "failed"}
    assert "had not finished by the deadline" in text
    assert "offers no cancel, so the run may still be going" in text


@pytest.mark.parametrize("mode", MODES)
def test_deadline_after_failing_reads_says_the_reads_failed_and_why(airflow_db, client, mode, capfd):
    client.plan("dataform", "dark", duration=60, outcome="SUCCESSFUL")
    # every status read after the start's own read gets a 503: retried, then waited on to the deadline
    client.fault("status", "/run/", method="GET", status=503, times=-1, body='{"error": "maintenance"}')
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "dark"})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"run": "failed"}
    assert "had not finished by the deadline" in text
    assert "status reads before the deadline failed, the last with:" in text
    assert "HTTP 503" in text and "maintenance" in text


@pytest.mark.parametrize("mode", MODES)
def test_unknown_status_word_is_never_success(airflow_db, client, mode, capfd):
    client.plan("dataform", "odd", final="PAUSED_BY_ADMIN", phases=[("RUNNING", 0.3)])
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "odd"})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"run": "failed"}
    assert "'PAUSED_BY_ADMIN', which this provider does not know" in text
    assert "had not finished by the deadline" in text


@pytest.mark.parametrize("mode", MODES)
def test_unknown_project_fails_with_404_hint(airflow_db, client, mode, capfd):
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "x", "project": "999"})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"run": "failed"}
    assert "HTTP 404" in text and "check project_id" in text
    assert client.runs("dataform") == []


@pytest.mark.parametrize("mode", MODES)
def test_templated_bad_tags_fail_after_rendering_before_any_request(airflow_db, client, mode, capfd):
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "x", "tag": " "})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"run": "failed"}
    assert "tags must be a list of non-empty strings" in text
    assert client.requests("dataform") == []


@pytest.mark.parametrize("mode", MODES)
def test_sensor_waits_on_a_run_started_without_waiting(airflow_db, client, mode):
    client.plan("dataform", "ok", duration=1.0, outcome="SUCCESSFUL")
    outcome = run_dag(f"t_dataform_nowait_{mode}", {"schedule": "ok"})
    run_id = client.runs("dataform")[0]["run_id"]
    assert outcome.tasks == {"start": "success", "watch": "success"}
    assert outcome.xcom[("start", "return_value")] == run_id


@pytest.mark.parametrize("mode", MODES)
def test_sensor_fails_when_the_run_fails(airflow_db, client, mode):
    client.plan("dataform", "bad", duration=0.5, outcome="FAILED")
    outcome = run_dag(f"t_dataform_nowait_{mode}", {"schedule": "bad"})
    assert outcome.tasks == {"start": "success", "watch": "failed"}


@pytest.mark.parametrize("mode", MODES)
def test_a_retried_task_finds_its_run_where_airflow_keeps_it_else_says_dataform_cannot_tell(
    airflow_db, client, mode, capfd
):
    client.plan("dataform", "retry", duration=1.0, outcome="SUCCESSFUL")
    # the first try's reads are refused (a permanent error), so that try fails after its start
    client.fault("status", "/run/", method="GET", status=401, times=2)
    outcome = run_dag(f"t_dataform_retry_{mode}")
    text = "".join(capfd.readouterr())
    runs = client.runs("dataform")
    assert outcome.tasks == {"run": "success"}
    if HAS_TASK_STATE_STORE:  # Airflow 3.3+: the second try reads the run back and waits on it
        (only,) = runs
        assert f"An earlier try of this task started Dataform run {only['run_id']}" in text
        assert f"Re-attached to Dataform run {only['run_id']}" in text
        assert outcome.xcom[("run", "return_value")] == only["run_id"]
        return
    first, second = runs
    assert "This is try 2 of the task. Dataform offers no way to find a run that an earlier try" in text
    for run in (first, second):
        assert f"Started Dataform run {run['run_id']}" in text
    assert outcome.xcom[("run", "return_value")] == second["run_id"]


def test_a_poking_sensor_logs_state_changes_not_every_poke(airflow_db, client, capfd):
    client.plan("dataform", "steady", phases=[("RUNNING", 2.5)], final="SUCCESSFUL")
    outcome = run_dag("t_dataform_nowait_poll", {"schedule": "steady"})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"start": "success", "watch": "success"}
    reads = [r for r in client.requests("dataform") if r["method"] == "GET"]
    assert len(reads) >= 4  # it poked every 0.5 s ...
    assert text.count(") is running (watched for") == 1  # ... and said "running" once
