"""DataOps.live end to end in real Airflow: dag.test(), in both waiting modes, against the sandbox."""

from __future__ import annotations

import pytest

from airflow_provider_pipelines.links import DataOpsPipelineLink
from airflow_provider_pipelines.params.dataops import MARKER_VARIABLE
from tests.dagrun import HAS_TASK_STATE_STORE, run_dag

MODES = ["poll", "defer"]
VENDOR = "dataops"
PATH = "acme/analytics/snowflake-pipelines"


def pipelines(client):
    return client.runs(VENDOR)


def posts(client, suffix):
    return [r for r in client.requests(VENDOR) if r["method"] == "POST" and r["path"].endswith(suffix)]


@pytest.mark.parametrize("mode", MODES)
def test_successful_pipeline_returns_its_id_and_pushes_its_link_first(airflow_db, client, mode):
    client.plan(VENDOR, "full-ci.yml", duration=1.0, outcome="success")
    outcome = run_dag(f"t_dataops_{mode}")
    [pipeline] = pipelines(client)
    pid = pipeline["run_id"]
    assert outcome.tasks == {"run": "success"}
    assert outcome.xcom[("run", "return_value")] == pid
    assert outcome.xcom[("run", "run_id")] == pid
    assert outcome.xcom[("run", "run_url")].endswith(f"/{PATH}/-/pipelines/{pid}")
    # the "DataOps.live pipeline" extra link opens the same page
    assert outcome.link("run", DataOpsPipelineLink()) == outcome.xcom[("run", "run_url")]
    variables = pipeline["data"]["variables"]
    assert variables["_PIPELINE_FILE_NAME"] == "full-ci.yml" and variables["DATAOPS_DEBUG"] == "1"
    assert variables[MARKER_VARIABLE].startswith("af-")
    assert pipeline["data"]["source"] == "api"
    # the project path went URL-encoded, and the first try did not look for an earlier pipeline
    assert all("acme%2Fanalytics%2Fsnowflake-pipelines" in r["path"] for r in client.requests(VENDOR))
    # (a deferred wait may share the triggerer's list of changed pipelines, ordered by updated_at:
    # that is no lookup; the lookup lists the ref's pipelines by id)
    lookups = [r["path"] for r in client.requests(VENDOR) if "/pipelines?" in r["path"]]
    lookups = [path for path in lookups if "order_by=id" in path]
    assert not lookups


@pytest.mark.parametrize("mode", MODES)
def test_failed_pipeline_names_the_first_failed_job_and_logs_each_jobs_tail(airflow_db, client, mode, capfd):
    client.plan(VENDOR, "dbt.yml", duration=0.5, outcome="failed")
    outcome = run_dag(f"t_dataops_{mode}", {"plan": "dbt.yml", "jobs": "2"})
    text = "".join(capfd.readouterr())
    pid = pipelines(client)[0]["run_id"]
    assert outcome.tasks == {"run": "failed"}
    assert (
        f"DataOps.live run {pid} (status failed, http" in text
        and "did not succeed: it ended failed: job 'Build all Models' in stage 'Data Transformation' "
        "failed (script_failure): http"
        in text
    )
    assert "job 'Build models, group 2' in stage 'Data Transformation' failed" in text
    assert text.count("last 20 lines of the log of job") >= 2
    assert "Object 'RAW.ORDERS' does not exist" in text and "ERROR: Job failed: exit code 1" in text
    assert "\x1b[" not in text.split("last 20 lines", 1)[1].split("ERROR: Job failed", 1)[0]
    assert outcome.xcom[("run", "run_id")] == pid and ("run", "return_value") not in outcome.xcom


@pytest.mark.parametrize("mode", MODES)
def test_canceled_pipeline_fails_the_task(airflow_db, client, mode, capfd):
    client.plan(VENDOR, "full-ci.yml", duration=0.5, outcome="canceled")
    outcome = run_dag(f"t_dataops_{mode}")
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"run": "failed"}
    assert "(status canceled, http" in text and "it ended cancelled" in text


@pytest.mark.parametrize("mode", MODES)
def test_skipped_pipeline_fails_unless_the_task_counts_it_as_success(airflow_db, client, mode, capfd):
    client.plan(VENDOR, "full-ci.yml", duration=0.5, outcome="skipped")
    strict = run_dag(f"t_dataops_{mode}")
    lenient = run_dag(f"t_dataops_lenient_{mode}")
    text = "".join(capfd.readouterr())
    assert strict.tasks == {"run": "failed"} and "it ended skipped" in text
    assert lenient.tasks == {"run": "success"}
    assert "ended skipped, which this task counts as success" in text
    assert lenient.xcom[("run", "return_value")] == pipelines(client)[1]["run_id"]


@pytest.mark.parametrize("mode", MODES)
def test_manual_pipeline_fails_after_the_grace_period_naming_the_waiting_job(airflow_db, client, mode, capfd):
    client.plan(VENDOR, "deploy.yml", phases=[("running", 0.3)], final="manual")
    outcome = run_dag(f"t_dataops_{mode}", {"plan": "deploy.yml"})
    text = "".join(capfd.readouterr())
    [pipeline] = pipelines(client)
    assert outcome.tasks == {"run": "failed"}
    assert "waits for someone to act; the task fails if it still waits 1s from now" in text
    assert (
        f"DataOps.live run {pipeline['run_id']} (status manual, http" in text
        and "waited for someone to act for more than 1s; the task gives up and leaves the run as it is: "
        "job 'Approve deployment' in stage 'Deploy' waits for someone to run it: http"
        in text
    )
    # blocked is not a timeout: the pipeline is left for a person, not cancelled
    assert pipeline["status"] == "manual" and not posts(client, "/cancel")
    assert "had not finished by the deadline" not in text


@pytest.mark.parametrize("mode", MODES)
def test_deadline_cancels_the_pipeline_and_says_so(airflow_db, client, mode, capfd):
    client.plan(VENDOR, "slow.yml", duration=60, outcome="success")
    outcome = run_dag(f"t_dataops_{mode}", {"plan": "slow.yml"})
    text = "".join(capfd.readouterr())
    [pipeline] = pipelines(client)
    assert outcome.tasks == {"run": "failed"}
    assert len(posts(client, f"/pipelines/{pipeline['run_id']}/cancel")) == 1
    assert pipeline["status"] == "canceled" and pipeline["data"]["cancels"] == 1
    assert "Cancelled DataOps.live run" in text and "had not finished by the deadline" in text
    assert "; it was cancelled" in text


@pytest.mark.parametrize("mode", MODES)
def test_a_retried_task_reattaches_to_the_pipeline_its_first_try_started(airflow_db, client, mode, capfd):
    client.plan(VENDOR, "full-ci.yml", duration=4.0, outcome="success")
    # the first try's first status read is refused: a permanent error, so that try fails
    client.fault(
        "status", r"/pipelines/\d+$", method="GET", status=401, body='{"message": "401 Unauthorized"}'
    )
    outcome = run_dag(f"t_dataops_retry_{mode}")
    text = "".join(capfd.readouterr())
    [pipeline] = pipelines(client)
    assert outcome.tasks == {"run": "success"}
    assert len(posts(client, "/pipeline")) == 1
    assert f"Re-attached to DataOps.live run {pipeline['run_id']}" in text
    if HAS_TASK_STATE_STORE:  # Airflow 3.3+: the run kept in the task_state_store is read back
        assert f"An earlier try of this task started DataOps.live run {pipeline['run_id']}" in text
    else:  # before: the marker variable finds it
        assert "an earlier try started it; re-attaching instead of starting another" in text
    assert outcome.xcom[("run", "return_value")] == pipeline["run_id"]


@pytest.mark.parametrize("mode", MODES)
def test_a_start_whose_answer_was_lost_reattaches_instead_of_starting_again(airflow_db, client, mode, capfd):
    client.plan(VENDOR, "full-ci.yml", duration=1.0, outcome="success")
    client.fault("accept_then_drop", r"/pipeline$", method="POST")
    outcome = run_dag(f"t_dataops_{mode}")
    text = "".join(capfd.readouterr())
    [pipeline] = pipelines(client)
    assert outcome.tasks == {"run": "success"}
    assert outcome.xcom[("run", "return_value")] == pipeline["run_id"]
    assert [r["status"] for r in posts(client, "/pipeline")] == ["dropped"]
    assert "The start's answer was lost, but DataOps.live did start" in text


@pytest.mark.parametrize("mode", MODES)
def test_sensor_waits_on_a_pipeline_started_without_waiting(airflow_db, client, mode):
    client.plan(VENDOR, "full-ci.yml", duration=1.0, outcome="success")
    outcome = run_dag(f"t_dataops_nowait_{mode}")
    pid = pipelines(client)[0]["run_id"]
    assert outcome.tasks == {"start": "success", "watch": "success"}
    assert outcome.xcom[("start", "return_value")] == pid


@pytest.mark.parametrize("mode", MODES)
def test_sensor_fails_when_the_pipeline_fails(airflow_db, client, mode, capfd):
    client.plan(VENDOR, "full-ci.yml", duration=0.5, outcome="failed")
    outcome = run_dag(f"t_dataops_nowait_{mode}")
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"start": "success", "watch": "failed"}
    assert "job 'Build all Models' in stage 'Data Transformation' failed" in text


@pytest.mark.parametrize("mode", MODES)
def test_templated_bad_variables_fail_after_rendering_before_any_request(airflow_db, client, mode, capfd):
    outcome = run_dag(f"t_dataops_{mode}", {"project": "acme%2Fanalytics"})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"run": "failed"}
    assert "looks URL-encoded: give the plain path" in text
    assert client.requests(VENDOR) == []


@pytest.mark.parametrize("mode", MODES)
def test_unknown_ref_fails_with_the_vendors_answer_and_a_hint(airflow_db, client, mode, capfd):
    outcome = run_dag(f"t_dataops_{mode}", {"ref": "no-such-branch"})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"run": "failed"}
    assert "HTTP 400" in text and "Reference not found" in text and "check that ref 'no-such-branch'" in text
    assert pipelines(client) == []
