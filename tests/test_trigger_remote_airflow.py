"""The one RemoteRunTrigger, waiting on remote Airflow runs against the sandbox, as a triggerer would."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.lifecycle import RunEvent
from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow as Fake
from tests.triggering import first_event, make_trigger, rebuilt

CONNECTIONS = {
    "v2": ("", {"login": Fake.login, "password": Fake.password}),
    "v1": ("/v1gen", {"login": Fake.login, "password": Fake.password}),
    "experimental": ("/expgen", {"password": Fake.api_key, "extra": {"auth_type": "api_key"}}),
}


@pytest.fixture
def conn_id(sandbox, monkeypatch):
    """Define connection ``remote_airflow_<generation>`` on the fake; return its id."""

    def define(generation):
        suffix, fields = CONNECTIONS[generation]
        conn = {
            "conn_type": "remote_airflow",
            "host": sandbox.vendor_url("remote_airflow") + suffix,
            **fields,
        }
        conn["extra"] = {"timeout": 2, "backoff": 0.05, "backoff_max": 0.2, **fields.get("extra", {})}
        monkeypatch.setenv(f"AIRFLOW_CONN_REMOTE_AIRFLOW_{generation.upper()}", json.dumps(conn))
        return f"remote_airflow_{generation}"

    return define


@pytest.mark.parametrize("generation", ["v2", "v1", "experimental"])
@pytest.mark.parametrize("outcome", ["success", "failed"])
def test_trigger_reads_with_the_generation_in_the_ref_without_probing(client, conn_id, generation, outcome):
    client.plan("remote_airflow", "etl", duration=0.5, outcome=outcome)
    cid = conn_id(generation)
    run = RemoteAirflowHook(cid).trigger_dag_run("etl", dag_run_id="r1")
    assert run.ref["api"] == generation
    probes_before = [
        r for r in client.requests("remote_airflow") if r["path"].endswith(("/version", "/test"))
    ]
    event = first_event(rebuilt(make_trigger(run, cid)))
    assert (
        event.status == "finished" and event.run.state.value == outcome and event.run.ref["api"] == generation
    )
    probes_after = [r for r in client.requests("remote_airflow") if r["path"].endswith(("/version", "/test"))]
    assert probes_after == probes_before


def test_serialized_trigger_holds_the_ref_with_its_generation_and_no_secret(client, conn_id):
    cid = conn_id("v2")
    run = RemoteAirflowHook(cid).trigger_dag_run("etl", dag_run_id="r1")
    _, kwargs = make_trigger(run, cid).serialize()
    assert kwargs["ref"] == {"api": "v2", "dag_id": "etl", "dag_run_id": "r1"}
    text = json.dumps(kwargs)
    assert Fake.password not in text and "Bearer" not in text


def test_trigger_renews_an_expired_login_token_and_carries_on(client, conn_id):
    client.plan("remote_airflow", "etl", duration=3.0, outcome="success")
    cid = conn_id("v2")
    run = RemoteAirflowHook(cid).trigger_dag_run("etl", dag_run_id="r1")

    def tokens():
        return [r for r in client.requests("remote_airflow") if r["path"].endswith("/auth/token")]

    async def expire_once_the_trigger_has_its_token():
        while len(await asyncio.to_thread(tokens)) < 2:  # the operator's, then the trigger's own
            await asyncio.sleep(0.05)
        await asyncio.to_thread(client.vendor_admin, "remote_airflow", "expire_tokens")

    async def both():
        expiring = asyncio.ensure_future(expire_once_the_trigger_has_its_token())
        async for event in make_trigger(run, cid).run():
            await expiring
            return RunEvent.parse(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(both(), 30))
    assert event.status == "finished" and event.run.state.value == "success"
    # the expired token was refused once, on the run's read or the coalesced list, and renewed
    statuses = [r["status"] for r in client.requests("remote_airflow") if "/dagRuns" in r["path"]]
    assert statuses.count(401) == 1
    assert [r["status"] for r in client.requests("remote_airflow") if "/dagRuns/r1" in r["path"]][-1] == 200
    assert len(tokens()) == 3  # the operator's hook, the trigger's hook, and the one renewal


def test_trigger_rides_out_faults_on_airflow_2(client, conn_id):
    client.plan("remote_airflow", "etl", duration=1.0, outcome="success")
    cid = conn_id("v1")
    run = RemoteAirflowHook(cid).trigger_dag_run("etl", dag_run_id="r1")
    client.fault("status", "/dagRuns/r1$", method="GET", status=503, times=2)
    client.fault("drop", "/dagRuns/r1$", method="GET", times=1)
    client.fault("html", "/dagRuns/r1$", method="GET", status=502, times=1)
    event = first_event(make_trigger(run, cid))
    assert event.status == "finished" and event.run.state.value == "success"
    faults = [r["fault"] for r in client.requests("remote_airflow") if r["fault"]]
    assert sorted(faults) == ["drop", "html", "status", "status"]


def test_trigger_stops_at_its_deadline_with_the_run_still_going(client, conn_id):
    client.plan("remote_airflow", "etl", duration=60)
    cid = conn_id("v2")
    run = RemoteAirflowHook(cid).trigger_dag_run("etl", dag_run_id="r1")
    event = first_event(make_trigger(run, cid, seconds=1.0))
    assert event.status == "timeout" and event.run.state.value == "running"


def test_trigger_reports_a_run_that_vanished_as_an_error_event(client, conn_id):
    cid = conn_id("v2")
    run = RemoteAirflowHook(cid).trigger_dag_run("etl", dag_run_id="r1")
    client.reset()
    event = first_event(make_trigger(run, cid))
    assert event.status == "error" and "has no run 'r1' of DAG 'etl'" in event.message
