"""A user acts on a deferred task: the triggerer cancels the trigger and calls its ``on_kill``.

Driven as Airflow 3.3's triggerer does it: the trigger's ``run()`` is a task in the
event loop; the task is cancelled, then ``on_kill()`` is awaited. The vendors that
can cancel get exactly one cancel request; the others say the run goes on.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.testing.fakes.profitbase import FakeProfitbase
from airflow_provider_pipelines.triggers.runs import RemoteRunTrigger
from tests.triggering import make_trigger

#: vendor -> (default connection id, start a run, the request that cancels it: (method, path end))
VENDORS: dict[str, tuple[str, Any, tuple[str, str] | None]] = {
    "dataform": ("dataform_default", lambda: DataformHook().start_run("1234"), None),
    "profitbase": (
        "profitbase_default",
        lambda: ProfitbaseHook().start_data_flow(FakeProfitbase.data_flows[0]),
        None,
    ),
    "dataops": (
        "dataops_default",
        lambda: DataOpsHook().start_pipeline("4242", "main", {}, marker="af-kill"),
        ("POST", "/cancel"),
    ),
    "remote_airflow": (
        "remote_airflow_default",
        lambda: RemoteAirflowHook().trigger_dag_run("etl", dag_run_id="killed_run"),
        ("PATCH", "/dagRuns/killed_run"),
    ),
}


def kill_while_deferred(trigger: RemoteRunTrigger) -> None:
    """Let the trigger poll a little, cancel it as a user's action does, then call on_kill."""

    async def go() -> None:
        async def consume() -> None:
            async for _ in trigger.run():
                raise AssertionError("the run ended before the kill")

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.5)
        task.cancel("user action")
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(trigger.on_kill(), 10)

    asyncio.run(go())


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_kill_while_deferred_cancels_where_the_vendor_can_and_says_so(client, vendor, capfd):
    conn_id, start, cancel = VENDORS[vendor]
    client.plan(vendor, "*", phases=[(_running(vendor), 60.0)], final=_success(vendor))
    run = start()
    trigger = make_trigger(run, conn_id, poll=0.1)
    trigger.cancel_on_kill = True
    kill_while_deferred(trigger)
    text = "".join(capfd.readouterr())
    requests = client.requests(vendor)
    reads = [r for r in requests if r["method"] == "GET"]
    assert reads, "the trigger polled before the kill"
    if cancel is None:
        assert all(r["method"] == "GET" for r in requests[1:])
        assert f"offers no cancel, so {_name(vendor)} run {run.run_id} goes on running" in text
        return
    method, end = cancel
    sent = [r for r in requests if r["method"] == method and r["path"].split("?")[0].endswith(end)]
    assert len(sent) == 1 and sent[0]["status"] == 200
    assert f"Task killed while deferred; cancelled {_name(vendor)} run {run.run_id}" in text
    (remote,) = client.runs(vendor)
    assert remote["status"] == {"dataops": "canceled", "remote_airflow": "failed"}[vendor]


def test_a_kill_while_deferred_without_cancel_asked_sends_nothing(client, capfd):
    client.plan("dataops", "*", phases=[("running", 60.0)], final="success")
    run = DataOpsHook().start_pipeline("4242", "main", {}, marker="af-keep")
    trigger = make_trigger(run, "dataops_default", poll=0.1)
    assert trigger.cancel_on_kill is False  # the default: only operators that ask for it cancel
    kill_while_deferred(trigger)
    text = "".join(capfd.readouterr())
    assert [r for r in client.requests("dataops") if r["method"] == "POST"][1:] == []
    assert f"run {run.run_id} goes on running (cancel not asked for)" in text


def _running(vendor: str) -> str:
    from airflow_provider_pipelines.testing.fakes import FAKES

    return next(f.running_word for f in FAKES if f.name == vendor)


def _success(vendor: str) -> str:
    from airflow_provider_pipelines.testing.fakes import FAKES

    return next(f.success_word for f in FAKES if f.name == vendor)


def _name(vendor: str) -> str:
    from airflow_provider_pipelines.hooks import hook_class

    return hook_class(vendor).api_class.display_name
