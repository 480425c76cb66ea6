"""The triggerer drops a deferred task's trigger "by user action": what ``on_kill`` does then.

Driven through Airflow 3.3's own code: the trigger runs inside
``TriggerRunner.run_trigger`` and is cancelled by ``TriggerRunner.cancel_triggers``,
which sends the user-action message, so Airflow itself calls ``on_kill``. The
triggerer drops a trigger both when a user acted on the task and when the trigger
was handed to another triggerer (apache/airflow#73454); ``on_kill`` tells them
apart by the task instance's state, which it reads through the Task SDK. Here the
triggerer's supervisor, which answers that read from the metadata DB, is a
stand-in that answers with the state each case needs (the real one answers in
``tests/test_ha_cluster.py``). The vendors are the sandbox, over HTTP.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.testing.fakes.profitbase import FakeProfitbase
from airflow_provider_pipelines.triggers.runs import RemoteRunTrigger
from tests.triggering import make_trigger

# Airflow 2.11's triggerer never calls a trigger's on_kill
pytestmark = pytest.mark.airflow3_only

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
        lambda: RemoteAirflowHook().trigger_dag_run("etl", dag_run_id=f"killed_{uuid.uuid4().hex[:8]}"),
        ("PATCH", "/dagRuns/killed_"),
    ),
}

TI = SimpleNamespace(
    id=uuid.uuid4(),
    dag_id="etl_dag",
    run_id="manual__1",
    task_id="wait",
    map_index=-1,
    try_number=1,
    context_carrier=None,
)


class SupervisorStandIn:
    """Answers the trigger's ``GetTaskStates`` as the triggerer's supervisor would, with ``state``."""

    def __init__(self, state: str | Exception | None, delay: float = 0.0) -> None:
        self.state = state
        self.delay = delay
        self.asked: list[Any] = []

    def send(self, msg: Any) -> Any:
        from airflow.sdk.execution_time.comms import GetTaskStates, TaskStatesResult

        assert isinstance(msg, GetTaskStates), msg
        self.asked.append(msg)
        time.sleep(self.delay)  # a supervisor busy with its DB, as under load
        if isinstance(self.state, Exception):
            raise self.state
        return TaskStatesResult(task_states={TI.run_id: {TI.task_id: self.state}})


def drop_as_the_triggerer(
    trigger: RemoteRunTrigger,
    state: str | Exception | None,
    monkeypatch,
    after: float = 0.6,
    answer_after: float = 0.0,
) -> Any:
    """Run the trigger in Airflow's TriggerRunner, let it poll, then cancel it as ``cancel_triggers`` does.

    As Airflow 3.3.2's runner loop does, the cancel is sent again every second until the
    trigger's task has ended (the supervisor keeps it in ``to_cancel`` until then).
    """
    from airflow.jobs.triggerer_job_runner import TriggerRunner
    from airflow.sdk.execution_time import task_runner

    supervisor = SupervisorStandIn(state, answer_after)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", supervisor, raising=False)
    trigger.task_instance = TI
    runner = TriggerRunner()

    async def go() -> None:
        runner.triggers[1] = {"task": None, "is_watcher": False, "name": "kill-test", "events": 0}
        task = asyncio.create_task(runner.run_trigger(1, trigger))
        runner.triggers[1]["task"] = task
        await asyncio.sleep(after)
        assert not task.done(), "the run ended before the kill"
        while not task.done():
            runner.to_cancel.append(1)
            await runner.cancel_triggers()  # the user-action message: Airflow awaits on_kill
            await asyncio.wait([task], timeout=1.0)
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(answer_after + 1.0)  # on_kill's work outlives the task that was cancelled

    asyncio.run(go())
    return supervisor


def _cancels(client: Any, vendor: str) -> list[dict[str, Any]]:
    cancel = VENDORS[vendor][2]
    if cancel is None:
        return [r for r in client.requests(vendor) if r["method"] not in ("GET",)][1:]
    method, end = cancel
    return [r for r in client.requests(vendor) if r["method"] == method and end in r["path"]]


def _start(client: Any, vendor: str, running: float = 60.0) -> tuple[Any, RemoteRunTrigger]:
    conn_id, start, _ = VENDORS[vendor]
    client.plan(vendor, "*", phases=[(_running(vendor), running)], final=_success(vendor))
    run = start()
    trigger = make_trigger(run, conn_id, poll=0.1)
    trigger.cancel_on_kill = True
    return run, trigger


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_trigger_moved_to_another_triggerer_cancels_nothing(client, vendor, capfd, monkeypatch):
    run, trigger = _start(client, vendor)
    supervisor = drop_as_the_triggerer(trigger, "deferred", monkeypatch)
    text = "".join(capfd.readouterr())
    assert len(supervisor.asked) == 1
    assert supervisor.asked[0].task_ids == [TI.task_id] and supervisor.asked[0].run_ids == [TI.run_id]
    assert "Trigger cancelled by user action, invoking on_kill" in text  # Airflow's own line
    assert (
        f"Trigger moved to another triggerer (the task is still deferred); run {run.run_id} goes on" in text
    )
    assert _cancels(client, vendor) == []
    assert "Task killed" not in text


@pytest.mark.parametrize("vendor", ["dataops", "remote_airflow"])
def test_a_slow_answer_and_the_cancel_sent_again_still_finish_on_kill(client, vendor, capfd, monkeypatch):
    run, trigger = _start(client, vendor)
    drop_as_the_triggerer(trigger, "failed", monkeypatch, answer_after=2.5)
    text = "".join(capfd.readouterr())
    assert len(_cancels(client, vendor)) == 1
    assert f"Task killed while deferred (now failed); cancelled {_name(vendor)} run {run.run_id}" in text


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_user_who_marked_the_task_failed_gets_the_run_cancelled_where_the_vendor_can(
    client, vendor, capfd, monkeypatch
):
    run, trigger = _start(client, vendor)
    drop_as_the_triggerer(trigger, "failed", monkeypatch)
    text = "".join(capfd.readouterr())
    sent = _cancels(client, vendor)
    name = _name(vendor)
    if VENDORS[vendor][2] is None:
        assert sent == []
        assert f"offers no cancel, so {name} run {run.run_id} goes on running" in text
        return
    assert len(sent) == 1 and sent[0]["status"] == 200
    assert f"Task killed while deferred (now failed); cancelled {name} run {run.run_id}" in text
    (remote,) = client.runs(vendor)
    assert remote["status"] == {"dataops": "canceled", "remote_airflow": "failed"}[vendor]


@pytest.mark.parametrize("vendor", ["dataops", "remote_airflow"])
def test_a_task_state_that_cannot_be_read_cancels_nothing_and_says_so(client, vendor, capfd, monkeypatch):
    run, trigger = _start(client, vendor)
    drop_as_the_triggerer(trigger, ConnectionError("supervisor gone"), monkeypatch)
    text = "".join(capfd.readouterr())
    assert _cancels(client, vendor) == []
    assert "the task's state could not be read (ConnectionError: supervisor gone)" in text
    assert f"not cancelling run {run.run_id}, which goes on running" in text


@pytest.mark.parametrize("vendor", ["dataops", "remote_airflow"])
def test_a_run_that_already_ended_is_not_touched(client, vendor, capfd, monkeypatch):
    # another triggerer saw the run end and the task resumed; this one, back from a stall, drops it
    run, trigger = _start(client, vendor, running=1.0)
    trigger.poll_interval = 30.0  # after its first read this trigger sleeps past the run's end
    drop_as_the_triggerer(trigger, "success", monkeypatch, after=2.0)
    text = "".join(capfd.readouterr())
    assert _cancels(client, vendor) == []
    assert f"run {run.run_id} had already ended success, nothing to cancel" in text
    (remote,) = client.runs(vendor)
    assert remote["status"] == _success(vendor)


def test_a_kill_without_cancel_asked_sends_nothing(client, capfd, monkeypatch):
    run, trigger = _start(client, "dataops")
    trigger.cancel_on_kill = False
    drop_as_the_triggerer(trigger, "failed", monkeypatch)
    text = "".join(capfd.readouterr())
    assert _cancels(client, "dataops") == []
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
