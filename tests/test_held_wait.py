"""Waiting in the worker with one held request (held_wait.py) against the sandbox's remote Airflow.

The fake answers ``GET …/dagRuns/{id}/wait`` as Airflow 3.1+ does (NDJSON, a line per
interval); faults cut it, refuse it, or answer with something else, and the wait either
re-opens it or polls instead.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from airflow_provider_pipelines.errors import AuthError
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.lifecycle import (
    PollSchedule,
    Waiter,
    deadline_from,
    poll_in_worker,
    utcnow,
    wait_in_worker,
)
from airflow_provider_pipelines.runs import RemoteRun, RunState
from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow
from tests.dagrun import run_dag

LOG = logging.getLogger("tests.held_wait")


def started(hook: RemoteAirflowHook) -> RemoteRun:
    return hook.trigger_dag_run("etl", dag_run_id=f"held-{uuid.uuid4().hex[:8]}")


def waiter(seconds: float = 30.0, poll: float = 0.5) -> Waiter:
    now = utcnow()
    return Waiter("Remote Airflow", PollSchedule(poll), deadline_from(seconds, now), now, LOG)


def calls(client, run: RemoteRun, suffix: str = "") -> list[dict]:
    """The requests that read the run (``suffix="/wait"``: the held ones)."""
    path = f"/dagRuns/{run.run_id}{suffix}"
    return [r for r in client.requests("remote_airflow") if r["method"] == "GET" and path in r["path"]]


def held(client, run: RemoteRun) -> list[dict]:
    return calls(client, run, "/wait")


def polled(client, run: RemoteRun) -> list[dict]:
    return [r for r in calls(client, run) if "/wait" not in r["path"]]


@pytest.mark.parametrize(("outcome", "state"), [("success", RunState.SUCCESS), ("failed", RunState.FAILED)])
def test_one_held_request_waits_for_the_whole_run(client, outcome, state):
    client.plan("remote_airflow", "etl", phases=[("queued", 0.3), ("running", 2.5)], final=outcome)
    hook = RemoteAirflowHook()
    run = started(hook)
    final = wait_in_worker(hook, run, waiter())
    assert final.state is state and final.run_id == run.run_id
    assert final.url and final.url.endswith(f"/dags/etl/runs/{run.run_id}")
    assert len(held(client, run)) == 1 and polled(client, run) == []
    assert "interval=0.5" in held(client, run)[0]["path"]


def test_held_costs_fewer_requests_than_polling_the_same_run(client):
    client.plan("remote_airflow", "etl", phases=[("running", 4.0)], final="success")
    hook = RemoteAirflowHook()
    by_holding = started(hook)
    wait_in_worker(hook, by_holding, waiter())
    by_polling = started(hook)
    poll_in_worker(hook, by_polling, waiter())
    assert len(held(client, by_holding)) == 1
    assert len(polled(client, by_polling)) >= 4  # every 0.5 s for about 4 s


def test_the_stream_is_opened_anew_with_a_longer_interval_as_the_run_goes_on(client):
    client.plan("remote_airflow", "etl", phases=[("running", 11.5)], final="success")
    hook = RemoteAirflowHook()
    run = started(hook)
    now = utcnow()
    # lines every 0.5 s at first; at 10 s the schedule asks for 1 s, twice as long: a new stream
    wait = Waiter("Remote Airflow", PollSchedule(30, first=0.5), deadline_from(60, now), now, LOG)
    assert wait_in_worker(hook, run, wait).state is RunState.SUCCESS
    intervals = [float(r["path"].split("interval=")[1]) for r in held(client, run)]
    assert intervals == [0.5, pytest.approx(1.0, abs=0.05)]


def test_a_stream_cut_mid_wait_is_opened_again(client, caplog):
    client.plan("remote_airflow", "etl", phases=[("running", 3.0)], final="success")
    hook = RemoteAirflowHook()
    run = started(hook)
    client.fault("cut", "/wait$", seconds=1.0, times=2)
    with caplog.at_level(logging.INFO, logger=LOG.name):
        final = wait_in_worker(hook, run, waiter())
    assert final.state is RunState.SUCCESS
    assert [r["fault"] for r in held(client, run)] == ["cut", "cut", None]
    assert polled(client, run) == []
    cut_lines = [r.getMessage() for r in caplog.records if "held request was cut" in r.getMessage()]
    assert len(cut_lines) == 1  # the first cut, not each


def test_the_deadline_ends_a_held_wait_with_the_run_still_going(client):
    client.plan("remote_airflow", "etl", phases=[("running", 60.0)], final="success")
    hook = RemoteAirflowHook()
    run = started(hook)
    wait = waiter(seconds=2.0, poll=30.0)  # the schedule would ask for 5 s: the deadline cuts it to 2 s
    final = wait_in_worker(hook, run, wait)
    assert final.state is RunState.RUNNING
    assert utcnow() >= wait.deadline
    (request,) = held(client, run)
    asked = float(request["path"].split("interval=")[1])
    assert 0.5 <= asked <= 2.0  # never a line, nor a read timeout, past the deadline


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ({"kind": "status", "status": 404, "body": '{"detail": "Not Found"}'}, "it answered HTTP 404"),
        ({"kind": "status", "status": 405, "body": '{"detail": "Method Not Allowed"}'}, "HTTP 405"),
        ({"kind": "status", "status": 422, "body": '{"detail": []}'}, "it answered HTTP 422"),
        ({"kind": "html", "status": 200, "body": "<html>Sign in</html>"}, "a web page (text/html"),
        ({"kind": "status", "status": 200, "body": '{"status": "ok"}\n'}, "a line that is not a run state"),
    ],
)
def test_a_missing_or_unexpected_held_wait_falls_back_to_polling_saying_why_once(client, caplog, fault, why):
    client.plan("remote_airflow", "etl", phases=[("running", 1.5)], final="success")
    hook = RemoteAirflowHook()
    run = started(hook)
    client.fault(fault.pop("kind"), "/wait$", times=-1, **fault)
    with caplog.at_level(logging.INFO, logger=LOG.name):
        final = wait_in_worker(hook, run, waiter())
    assert final.state is RunState.SUCCESS
    assert len(held(client, run)) == 1 and len(polled(client, run)) >= 1
    lines = [r.getMessage() for r in caplog.records if "polling for the rest of this wait" in r.getMessage()]
    assert len(lines) == 1 and why in lines[0], lines


def test_held_requests_failing_again_and_again_give_way_to_polling(client, caplog):
    client.plan("remote_airflow", "etl", phases=[("running", 2.0)], final="success")
    hook = RemoteAirflowHook()
    run = started(hook)
    client.fault("status", "/wait$", status=503, times=-1)
    with caplog.at_level(logging.INFO, logger=LOG.name):
        final = wait_in_worker(hook, run, waiter())
    assert final.state is RunState.SUCCESS
    # three opens, each tried as often as a status read (5 tries: the connection's default)
    assert len(held(client, run)) == 3 * 5 and len(polled(client, run)) >= 1
    assert "3 held requests in a row failed, the last with: " in caplog.text


def test_a_refused_credential_fails_the_wait_as_a_status_read_would(client):
    client.plan("remote_airflow", "etl", phases=[("running", 5.0)], final="success")
    hook = RemoteAirflowHook()
    run = started(hook)
    client.fault("status", "/wait$", status=403, body='{"detail": "Forbidden"}', times=1)
    with pytest.raises(AuthError, match="HTTP 403"):
        wait_in_worker(hook, run, waiter())
    assert polled(client, run) == []


def test_an_airflow_2_remote_is_polled_without_asking_for_a_held_wait(client, sandbox, monkeypatch):
    conn = {
        "conn_type": "remote_airflow",
        "host": sandbox.vendor_url("remote_airflow") + "/v1gen",
        "login": FakeRemoteAirflow.login,
        "password": FakeRemoteAirflow.password,
        "extra": {"timeout": 5},
    }
    monkeypatch.setenv("AIRFLOW_CONN_REMOTE_AIRFLOW_HELD_V1", json.dumps(conn))
    client.plan("remote_airflow", "etl", phases=[("running", 1.0)], final="success")
    hook = RemoteAirflowHook("remote_airflow_held_v1")
    run = started(hook)
    assert wait_in_worker(hook, run, waiter()).state is RunState.SUCCESS
    assert held(client, run) == [] and len(polled(client, run)) >= 1


def test_the_held_request_keeps_within_the_connections_budget(client):
    """The held request is a request like any other: it waits for the vendor's window too."""
    client.plan("remote_airflow", "etl", phases=[("running", 1.0)], final="success")
    hook = RemoteAirflowHook()
    run = started(hook)
    client.rate_limit(1, window=2, vendors=["remote_airflow"])
    hook.get_run(run.ref)  # the window's one request: its answer says none is left
    assert wait_in_worker(hook, run, waiter()).state is RunState.SUCCESS
    assert [r["status"] for r in held(client, run)] == [200]  # it waited for the next window
    assert not [r for r in client.requests("remote_airflow") if r["status"] == 429]


def waits_of(client) -> list[dict]:
    return [r for r in client.requests("remote_airflow") if r["path"].split("?")[0].endswith("/wait")]


def reads_of(client) -> list[dict]:
    """Reads of a run's state: held, or one at a time (not of its task instances)."""
    gets = [r for r in client.requests("remote_airflow") if r["method"] == "GET"]
    return [r for r in gets if "/dagRuns/" in r["path"] and "/taskInstances" not in r["path"]]


def test_the_operator_polling_in_the_worker_holds_one_request(airflow_db, client):
    client.plan("remote_airflow", "etl", phases=[("queued", 0.3), ("running", 1.5)], final="success")
    outcome = run_dag("t_remote_airflow_poll")
    assert outcome.tasks == {"trigger": "success"}
    assert len(waits_of(client)) == 1 and len(reads_of(client)) == 1  # the held request is the only read


@pytest.mark.parametrize(("outcome", "task"), [("success", "success"), ("failed", "failed")])
def test_the_sensor_poking_in_the_worker_holds_one_request(airflow_db, client, outcome, task):
    client.plan("remote_airflow", "etl", phases=[("running", 1.5)], final=outcome)
    result = run_dag("t_remote_airflow_sensor_poll")
    assert result.tasks == {"start": "success", "watch": task}
    # the sensor's first read (is it over already?), then one held request
    assert len(waits_of(client)) == 1 and len(reads_of(client)) == 2


def test_a_held_sensor_past_its_timeout_skips_with_soft_fail(airflow_db, client, capfd):
    client.plan("remote_airflow", "etl", phases=[("running", 60.0)], final="success")
    result = run_dag("t_remote_airflow_sensor_soft")
    assert result.tasks == {"start": "success", "watch": "skipped"}
    assert len(waits_of(client)) == 1
    assert "had not finished by the deadline (last state running); it was left running" in "".join(
        capfd.readouterr()
    )
