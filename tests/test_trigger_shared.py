"""Many RemoteRunTriggers in one event loop share one hook (connection, credentials) per connection id."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_provider_pipelines.hooks import base as hooks_base
from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.lifecycle import RunEvent
from airflow_provider_pipelines.testing.fakes.dataform import FakeDataform
from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow
from tests.triggering import make_trigger

FAST = {"timeout": 2, "backoff": 0.05, "backoff_max": 0.2}


def all_events(triggers: list[Any], limit: float = 30.0) -> list[RunEvent]:
    """Run the triggers together in one event loop, as a triggerer does; their first events."""

    async def one(trigger: Any) -> RunEvent:
        async for event in trigger.run():
            return RunEvent.parse(event.payload)
        raise AssertionError("the trigger ended without an event")

    async def together() -> list[RunEvent]:
        return await asyncio.gather(*(one(t) for t in triggers))

    return asyncio.run(asyncio.wait_for(together(), limit))


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conn, "extra": FAST}))
    return conn_id


def test_triggers_on_one_login_connection_fetch_one_token_between_them(client, sandbox, monkeypatch):
    cid = define(
        monkeypatch,
        "remote_airflow_shared",
        conn_type="remote_airflow",
        host=sandbox.vendor_url("remote_airflow"),
        login=FakeRemoteAirflow.login,
        password=FakeRemoteAirflow.password,
    )
    client.plan("remote_airflow", "etl", duration=1.0, outcome="success")
    hook = RemoteAirflowHook(cid)
    runs = [hook.trigger_dag_run("etl", dag_run_id=f"r{i}") for i in range(30)]
    events = all_events([make_trigger(run, cid) for run in runs])
    assert {(e.status, e.run.state.value) for e in events} == {("finished", "success")}
    assert sorted(e.run.run_id for e in events) == sorted(f"r{i}" for i in range(30))
    tokens = [r for r in client.requests("remote_airflow") if r["path"].endswith("/auth/token")]
    assert len(tokens) == 2  # the operator's hook, then one for all 30 triggers


def test_a_missing_connection_ends_every_trigger_on_it_with_the_reason(client, sandbox):
    run = DataformHook().start_run("1234")
    events = all_events([make_trigger(run, "dataform_nowhere") for _ in range(5)])
    assert {e.status for e in events} == {"error"}
    assert all("'dataform_nowhere' is not defined" in e.message for e in events)


def test_a_changed_connection_reaches_triggers_started_after_the_recheck(client, sandbox, monkeypatch):
    """A trigger keeps the hook it started with; one started later sees the connection as it is then."""
    monkeypatch.setattr(hooks_base, "SHARED_HOOK_RECHECK", 0.0)
    client.plan("dataform", duration=1.5, outcome="SUCCESSFUL")
    host = sandbox.vendor_url("dataform")
    cid = define(
        monkeypatch, "dataform_rotating", conn_type="dataform_web", host=host, password=FakeDataform.token
    )
    first, second = DataformHook().start_run("1234"), DataformHook().start_run("1234")

    async def rotate_then_start_another() -> list[RunEvent]:
        async def wait(trigger: Any) -> RunEvent:
            async for event in trigger.run():
                return RunEvent.parse(event.payload)
            raise AssertionError("no event")

        early = asyncio.ensure_future(wait(make_trigger(first, cid)))
        await asyncio.sleep(0.5)  # the first trigger holds its hook, with the good token
        define(monkeypatch, cid, conn_type="dataform_web", host=host, password="a-revoked-token")
        late = await wait(make_trigger(second, cid))
        return [await early, late]

    early, late = asyncio.run(asyncio.wait_for(rotate_then_start_another(), 30))
    assert early.status == "finished" and early.run.state.value == "success"
    assert late.status == "error" and "HTTP 403" in late.message
