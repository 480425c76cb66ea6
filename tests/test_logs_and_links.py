"""What a task's log says, and the run link it keeps, in real Airflow (dag.test()) against the sandbox.

No noise: no "XCom not found" error when a task fails before its run starts, the
non-GUID warning once. Each state change names the vendor's own word. The deadline
message states the timeout. A run link that only a later read returns is still pushed
to XCom, the log and the extra link, in both waiting modes.
"""

from __future__ import annotations

import pytest

from airflow_provider_pipelines.links import DataformRunLink
from tests.dagrun import run_dag

MODES = ["poll", "defer"]


def text_of(capfd: pytest.CaptureFixture[str]) -> str:
    return "".join(capfd.readouterr())


@pytest.mark.parametrize("mode", MODES)
def test_a_task_failing_before_its_run_starts_logs_only_its_own_error(airflow_db, client, mode, capfd):
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "x", "project": "999"})  # the start gets a 404
    text = text_of(capfd)
    assert outcome.tasks == {"run": "failed"}
    assert "Dataform knows no project '999'" in text
    assert "XCom not found" not in text  # the extra link no longer reads a run_url that was never pushed
    assert outcome.link("run", DataformRunLink()) == ""


@pytest.mark.parametrize("mode", MODES)
def test_a_link_only_a_later_read_returns_is_pushed_logged_and_linked(airflow_db, client, mode, capfd):
    client.plan("dataform", "late", duration=1.5, outcome="SUCCESSFUL")
    # the read right after the start is refused; the run goes on and later reads return runLogUrl
    client.fault("status", "/run/\\d+$", method="GET", status=403, times=1)
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "late"})
    text = text_of(capfd)
    run_id = client.runs("dataform")[0]["run_id"]
    url = outcome.xcom[("run", "run_url")]
    assert outcome.tasks == {"run": "success"}
    assert "its first status read failed" in text
    assert url.endswith(f"/#/1234/run/{run_id}")
    # said in the worker's log, or with the state the triggerer logged
    said = [line for line in text.splitlines() if url in line]
    if mode == "poll":
        assert any(f"Dataform run link: {url}" in line for line in said)
    else:
        assert any(f"Dataform run {run_id} running for" in line for line in said)
    assert outcome.link("run", DataformRunLink()) == url


@pytest.mark.parametrize("mode", MODES)
def test_each_state_change_names_the_vendors_own_word(airflow_db, client, mode, capfd):
    phases = [("created", 1.2), ("pending", 1.2), ("running", 0.6)]
    client.plan("dataops", "words.yml", phases=phases, final="success")
    outcome = run_dag(f"t_dataops_{mode}", {"plan": "words.yml"})
    text = text_of(capfd)
    run_id = client.runs("dataops")[0]["run_id"]
    assert outcome.tasks == {"run": "success"}
    # created and pending are both "queued" here: each line says which it is
    assert f"DataOps.live run {run_id} created (queued) for" in text
    assert f"DataOps.live run {run_id} pending (queued) for" in text
    assert f"DataOps.live run {run_id} running for" in text  # the same word twice is said once


@pytest.mark.parametrize("mode", MODES)
def test_the_deadline_message_states_the_timeout(airflow_db, client, mode, capfd):
    client.plan("dataform", "slow", duration=60, outcome="SUCCESSFUL")
    outcome = run_dag(f"t_dataform_{mode}", {"schedule": "slow"})
    text = text_of(capfd)
    run_id = client.runs("dataform")[0]["run_id"]
    assert outcome.tasks == {"run": "failed"}
    assert f"Dataform run {run_id} (status RUNNING, http" in text
    assert "had not finished by the deadline (timeout 3s; last state running)" in text


def test_a_data_flow_id_that_is_not_a_guid_is_warned_about_once(airflow_db, client, capfd):
    from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator

    capfd.readouterr()
    ProfitbaseDataFlowOperator(task_id="parsed", data_flow_id="not-a-guid-flow")  # as a DAG file parse does
    assert "is not a GUID" not in text_of(capfd)
    client.plan("profitbase", "not-a-guid-flow", duration=0.3, outcome="Succeeded")
    outcome = run_dag("t_profitbase_literal_id")
    assert outcome.tasks == {"flow": "success"}
    assert text_of(capfd).count("data_flow_id 'not-a-guid-flow' is not a GUID") == 1
