"""RemoteRunTrigger driven in an event loop against the sandbox, as a triggerer would."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.lifecycle import RunEvent
from tests.triggering import first_event, rebuilt
from tests.triggering import make_trigger as _make

TOKEN = "sandbox-dataform-token"


def make_trigger(run, *, seconds=20.0, conn_id="dataform_default", poll=0.2):
    return _make(run, conn_id, seconds=seconds, poll=poll)


def test_serialize_round_trip_holds_only_plain_ids_and_no_secret(sandbox):
    run = DataformHook().start_run("1234")
    trigger = make_trigger(run)
    _, kwargs = trigger.serialize()
    assert set(kwargs) == {
        "vendor",
        "conn_id",
        "ref",
        "run_id",
        "deadline",
        "poll_interval",
        "started_at",
        "run_url",
        "blocked_grace",
        "cancel_on_kill",
        "unknown_run_grace",
    }
    assert TOKEN not in json.dumps(kwargs)
    assert rebuilt(trigger).serialize() == trigger.serialize()
    assert kwargs["deadline"].endswith("+00:00")


@pytest.mark.parametrize(
    ("outcome", "state"),
    [("SUCCESSFUL", "success"), ("FAILED", "failed"), ("CANCELLED", "cancelled"), ("TIMED_OUT", "failed")],
)
def test_trigger_fires_once_with_the_final_state(client, outcome, state):
    client.plan("dataform", duration=0.5, outcome=outcome)
    run = DataformHook().start_run("1234")
    event = first_event(make_trigger(run))
    assert event.status == "finished"
    assert event.run is not None and event.run.state.value == state and event.run.vendor_status == outcome


def test_trigger_rides_out_transient_faults(client):
    client.plan("dataform", duration=1.0, outcome="SUCCESSFUL")
    run = DataformHook().start_run("1234")
    client.fault("status", "/run/", method="GET", status=503, times=3)
    client.fault("drop", "/run/", method="GET", times=2)
    client.fault("status", "/run/", method="GET", status=429, headers={"Retry-After": "1"}, times=1)
    event = first_event(make_trigger(run))
    assert event.status == "finished" and event.run.state.value == "success"
    faults = [r["fault"] for r in client.requests("dataform") if r["fault"]]
    assert faults.count("status") == 4 and faults.count("drop") == 2


def test_trigger_stops_at_its_deadline_with_the_last_state(client):
    client.plan("dataform", duration=60)
    run = DataformHook().start_run("1234")
    event = first_event(make_trigger(run, seconds=1.0))
    assert event.status == "timeout" and event.run.state.value == "running"


def test_trigger_reports_a_bad_token_as_an_error_event_without_retrying(client, monkeypatch, sandbox):
    run = DataformHook().start_run("1234")
    conn = {"conn_type": "dataform_web", "host": sandbox.vendor_url("dataform"), "password": "stale"}
    monkeypatch.setenv("AIRFLOW_CONN_DATAFORM_STALE", json.dumps(conn))
    event = first_event(make_trigger(run, conn_id="dataform_stale"))
    assert event.status == "error" and "HTTP 403" in event.message and "dataform_stale" in event.message
    assert "stale" not in event.message.replace("dataform_stale", "")
    assert [r["status"] for r in client.requests("dataform")][-1] == 403
    assert len(client.requests("dataform")) == 3  # start, first read, one refused read


def test_trigger_with_a_missing_connection_reports_an_error_event(client):
    run = DataformHook().start_run("1234")
    event = first_event(make_trigger(run, conn_id="not_defined_anywhere"))
    assert event.status == "error" and "'not_defined_anywhere' is not defined" in event.message


def test_a_trigger_rebuilt_after_a_restart_carries_on_without_starting_anything(client):
    client.plan("dataform", duration=1.5, outcome="FAILED")
    run = DataformHook().start_run("1234")
    trigger = make_trigger(run)

    async def first_poll_then_die():
        gen = trigger.run()
        task = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(0.5)  # the triggerer goes away mid-wait
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(first_poll_then_die())
    event = first_event(rebuilt(trigger))
    assert event.status == "finished" and event.run.state.value == "failed"
    assert len(client.runs("dataform")) == 1
    assert [r["method"] for r in client.requests("dataform")].count("POST") == 1


def test_many_triggers_share_one_connection_pool(client):
    # long enough that every run is still going when the triggers begin (20 starts one after another
    # can take a second or more on a loaded machine), so that each run is read at least twice
    client.plan("dataform", duration=3.0, outcome="SUCCESSFUL")
    hook = DataformHook()
    runs = [hook.start_run("1234") for _ in range(20)]

    async def all_of_them():
        async def one(run):
            async for event in make_trigger(run).run():
                return RunEvent.parse(event.payload)

        return await asyncio.gather(*(one(r) for r in runs))

    started = len(client.requests("dataform"))
    events = asyncio.run(all_of_them())
    assert {e.run.state.value for e in events} == {"success"}
    assert sorted(e.run.run_id for e in events) == sorted(r.run_id for r in runs)
    reads = client.requests("dataform")[started:]
    connections = {r["peer"] for r in reads}
    # at most one connection per concurrent poll, each kept alive and reused for later polls
    assert len(reads) >= 2 * len(runs)
    assert len(connections) <= len(runs)
