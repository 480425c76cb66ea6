"""Profitbase InVision: unit, hook over HTTP with faults, and dag.test() in every waiting mode."""

from __future__ import annotations

import json
import threading
import time

import pytest

from airflow_provider_pipelines.apis.profitbase import ProfitbaseApi
from airflow_provider_pipelines.errors import AuthError, ServerError, StartUncertainError
from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook
from airflow_provider_pipelines.http import ApiRequest, ApiResponse
from airflow_provider_pipelines.runs import RunState
from tests.dagrun import BareTaskInstance, run_dag

FLOW = "2b081248-4963-43b3-ba06-5b7403d58b4d"
KEY = "sandbox-profitbase-api-key"
API = ProfitbaseApi()


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("Pending", RunState.QUEUED),
        ("Running", RunState.RUNNING),
        ("Succeeded", RunState.SUCCESS),
        ("Failed", RunState.FAILED),
        ("succeeded", RunState.SUCCESS),
        ("Cancelled", RunState.UNKNOWN),
        ("Done", RunState.UNKNOWN),
        (None, RunState.UNKNOWN),
    ],
)
def test_profitbase_status_table(word, state):
    assert API.statuses.classify(word) is state


def test_start_and_status_requests_keep_ids_in_the_path_and_no_key_anywhere():
    start = API.start_request(FLOW)
    assert (start.method, start.path, dict(start.params), start.idempotent) == (
        "POST",
        f"api/pub/v1/dataflows/{FLOW}/start",
        {},
        False,
    )
    held = API.start_request(FLOW, hold_seconds=90)
    assert dict(held.params) == {"await": "true"} and held.timeout == 90
    read = API.read_request({"data_flow_id": FLOW, "run_id": "r/1"})
    assert read.path == f"api/pub/v1/dataflows/{FLOW}/runs/r%2F1/status"


def test_parse_started_takes_the_run_id_from_the_reply():
    request = ApiRequest("POST", "x", what="start")
    body = b'{"runId": "ad73a1ad", "status": "Pending"}'
    run = API.parse_started(ApiResponse(200, {}, body, request, "http://h/x"), FLOW)
    assert (run.run_id, run.state, run.ref) == (
        "ad73a1ad",
        RunState.QUEUED,
        {"data_flow_id": FLOW, "run_id": "ad73a1ad"},
    )


@pytest.fixture
def hook(sandbox, monkeypatch):
    def make(host_suffix="", **fields):
        conn = {
            "conn_type": "profitbase_invision",
            "host": sandbox.vendor_url("profitbase") + "/invision" + host_suffix,
            "password": KEY,
            "extra": {"timeout": 3, "backoff": 0.05, "backoff_max": 0.2},
        }
        conn.update(fields)
        monkeypatch.setenv("AIRFLOW_CONN_PB_TEST", json.dumps(conn))
        return ProfitbaseHook("pb_test")

    return make


@pytest.mark.parametrize("suffix", ["", "/"])
def test_path_prefix_is_kept_with_or_without_trailing_slash(client, hook, suffix):
    run = hook(suffix).start_data_flow(FLOW)
    assert run.state is RunState.RUNNING
    assert (
        client.requests("profitbase")[0]["path"] == f"/profitbase/invision/api/pub/v1/dataflows/{FLOW}/start"
    )


def test_api_key_is_sent_only_as_a_header(client, hook):
    h = hook()
    run = h.start_data_flow(FLOW)
    h.get_run(run.ref)
    assert all(KEY not in r["path"] and "api_key" not in r["path"] for r in client.requests())


def test_wrong_key_fails_at_once(client, hook):
    with pytest.raises(AuthError, match="connection 'pb_test'") as info:
        hook(password="nope").start_data_flow(FLOW)
    assert "nope" not in str(info.value)
    assert len(client.requests("profitbase")) == 1


def test_a_start_answered_500_is_not_retried_and_says_a_flow_may_run(client, hook):
    client.fault("status", "/start$", status=500, body="", times=1)
    with pytest.raises(StartUncertainError, match="a run may have started") as info:
        hook().start_data_flow(FLOW)
    assert len(client.requests("profitbase")) == 1
    # said once: InVision's bare 500 (the fact), then what it means for this start (once)
    message = str(info.value)
    assert "bare 500 to every error" in message
    assert message.count("may have started") == 1 and message.count("look for it") == 1


def test_status_reads_are_retried_through_bare_500s(client, hook):
    h = hook()
    run = h.start_data_flow(FLOW)
    client.fault("status", "/status$", status=500, body="", times=2)
    assert h.get_run(run.ref).run_id == run.run_id
    assert [r["status"] for r in client.requests("profitbase")] == [200, 500, 500, 200]


def test_unknown_run_is_a_bare_500_after_retries(client, hook):
    with pytest.raises(ServerError, match="HTTP 500"):
        hook(extra={"max_attempts": 2, "backoff": 0.01}).get_run({"data_flow_id": FLOW, "run_id": "404"})


MODES = ["poll", "defer", "await"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("outcome", "task"), [("Succeeded", "success"), ("Failed", "failed")])
def test_data_flow_outcome_in_every_waiting_mode(airflow_db, client, mode, outcome, task, capfd):
    client.plan("profitbase", FLOW, phases=[("Pending", 0.3), ("Running", 0.7)], final=outcome)
    result = run_dag(f"t_profitbase_{mode}", {"flow": FLOW})
    text = "".join(capfd.readouterr())
    runs = client.runs("profitbase")
    assert result.tasks == {"flow": task}
    assert len(runs) == 1
    assert result.xcom[("flow", "run_id")] == runs[0]["run_id"]
    starts = [r["path"] for r in client.requests("profitbase") if r["method"] == "POST"]
    assert starts == [
        f"/profitbase/invision/api/pub/v1/dataflows/{FLOW}/start" + ("?await=true" if mode == "await" else "")
    ]
    if task == "failed":
        assert f"Profitbase InVision run {runs[0]['run_id']} (status Failed) did not succeed" in text


def test_await_reply_that_comes_back_early_falls_back_to_polling(airflow_db, client):
    client.plan("profitbase", FLOW, duration=1.5, outcome="Succeeded", options={"hold_limit": 0.3})
    result = run_dag("t_profitbase_await", {"flow": FLOW})
    assert result.tasks == {"flow": "success"}
    requests = client.requests("profitbase")
    assert [r["method"] for r in requests].count("POST") == 1
    assert any(r["method"] == "GET" for r in requests)


@pytest.mark.parametrize("cut", ["timeout", "dropped"])
def test_cut_off_held_request_fails_clearly_and_never_starts_again(airflow_db, client, cut, capfd):
    if cut == "timeout":  # the flow outlasts the task's timeout (3 s), which is the held read's timeout
        client.plan("profitbase", FLOW, duration=30, outcome="Succeeded")
    else:  # a proxy drops the held connection after InVision accepted the start
        client.plan("profitbase", FLOW, duration=0.5, outcome="Succeeded")
        client.fault("accept_then_drop", "/start$", times=1)
    result = run_dag("t_profitbase_await", {"flow": FLOW})
    text = "".join(capfd.readouterr())
    assert result.tasks == {"flow": "failed"}
    assert len(client.runs("profitbase")) == 1
    assert "will not start it again" in text and "has no way to list runs" in text


@pytest.mark.parametrize("mode", ["poll", "defer"])
def test_deadline_says_the_data_flow_goes_on_running_with_its_run_id(airflow_db, client, mode, capfd):
    client.plan("profitbase", FLOW, duration=60, outcome="Succeeded")
    result = run_dag(f"t_profitbase_{mode}", {"flow": FLOW})
    text = "".join(capfd.readouterr())
    run_id = client.runs("profitbase")[0]["run_id"]
    assert result.tasks == {"flow": "failed"}
    assert f"Profitbase InVision run {run_id} (status Running) had not finished by the deadline" in text
    assert "offers no cancel, so the run may still be going" in text


def test_a_data_flow_id_that_is_not_a_guid_is_warned_about_not_rejected(airflow_db, client, capfd):
    client.plan("profitbase", "not-a-guid-flow", duration=0.3, outcome="Succeeded")
    result = run_dag("t_profitbase_poll", {"flow": "not-a-guid-flow"})
    assert result.tasks == {"flow": "success"}
    assert "is not a GUID" in "".join(capfd.readouterr())


@pytest.mark.parametrize("mode", ["poll", "defer"])
def test_sensor_waits_on_a_started_data_flow(airflow_db, client, mode):
    client.plan("profitbase", FLOW, duration=1.0, outcome="Succeeded")
    result = run_dag(f"t_profitbase_sensor_{mode}", {"flow": FLOW})
    assert result.tasks == {"start": "success", "watch": "success"}


@pytest.mark.airflow3_only  # execute() runs in a thread here, which Airflow 2's ExecutorSafeguard refuses
@pytest.mark.parametrize("held", [False, True])
def test_a_killed_task_says_the_data_flow_goes_on_running_in_invision(client, held, capfd):
    import threading

    from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator

    client.plan("profitbase", FLOW, duration=3.0, outcome="Succeeded")
    op = ProfitbaseDataFlowOperator(
        task_id="kill_me", data_flow_id=FLOW, deferrable=False, use_await=held, poll_interval=0.2, timeout=5
    )
    ti = BareTaskInstance()
    worker = threading.Thread(target=lambda: op.execute({"ti": ti}))
    worker.start()
    for _ in range(200):  # until the start went out (held) or the run was recorded (polling)
        if (held and client.runs("profitbase")) or "run_id" in ti.xcom:
            break
        time.sleep(0.05)
    op.on_kill()
    worker.join(15)
    text = "".join(capfd.readouterr())
    [run] = client.runs("profitbase")
    if held:
        assert "Task killed during the held start of InVision data flow" in text
        assert "its run id is unknown" in text
    else:
        assert f"Task killed; Profitbase InVision run {run['run_id']}" in text
        assert "goes on running in Profitbase InVision (Profitbase InVision offers no cancel)" in text


def test_a_start_answer_without_a_status_still_gives_the_run_id():
    import json as _json

    from airflow_provider_pipelines.http import ApiResponse
    from airflow_provider_pipelines.runs import RunState

    request = API.start_request(FLOW)
    response = ApiResponse(200, {}, _json.dumps({"runId": "r-77"}).encode(), request, "http://x")
    run = API.parse_started(response, FLOW)
    assert run.run_id == "r-77" and run.state is RunState.UNKNOWN and run.ref["run_id"] == "r-77"


@pytest.mark.parametrize("mode", ["poll", "defer"])
def test_a_sensor_on_a_run_id_invision_never_answers_for_fails_after_the_grace(
    airflow_db, client, mode, capfd
):
    result = run_dag(f"t_profitbase_unknown_{mode}", {"flow": FLOW, "run": "no-such-run"})
    text = "".join(capfd.readouterr())
    assert result.tasks == {"watch": "failed"}
    assert "to every read of run no-such-run for 2s and never once answered for it" in text
    assert "Profitbase InVision may not know this run id" in text
    reads = [r for r in client.requests("profitbase") if r["method"] == "GET"]
    assert reads and all(r["status"] == 500 for r in reads)


def test_a_sensor_on_a_run_read_once_waits_through_500s_past_the_grace(airflow_db, client, capfd):
    client.plan("profitbase", FLOW, phases=[("Running", 6.0)], final="Succeeded")
    run = ProfitbaseHook().start_data_flow(FLOW)

    def outage_after_the_first_good_read() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(r["method"] == "GET" and r["status"] == 200 for r in client.requests("profitbase")):
                client.fault("status", "/status$", method="GET", status=500, body="", times=25)
                return
            time.sleep(0.05)

    helper = threading.Thread(target=outage_after_the_first_good_read, daemon=True)
    helper.start()
    result = run_dag("t_profitbase_unknown_poll", {"flow": FLOW, "run": run.run_id})
    helper.join(5)
    statuses = [r["status"] for r in client.requests("profitbase") if r["method"] == "GET"]
    assert result.tasks == {"watch": "success"}
    assert statuses.count(500) >= 10  # failing reads for longer than the 2 s grace ...
    assert "may not know this run id" not in "".join(capfd.readouterr())  # ... did not fail it
