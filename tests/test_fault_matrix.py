"""The fault matrix: every vendor x every fault on status reads x both waiting modes.

Worker mode runs the operator's polling loop (``wait_in_worker``); deferred mode runs
``RemoteRunTrigger`` in an event loop. Each run is planned to *fail*, so "the true
outcome" can only be reached by reading the vendor's real final state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_pipelines.errors import AuthError, PipelinesError, ResponseFormatError
from airflow_provider_pipelines.hooks.base import PipelineHook
from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.lifecycle import PollSchedule, RunEvent, Waiter, wait_in_worker
from airflow_provider_pipelines.runs import RemoteRun, RunState
from airflow_provider_pipelines.testing.fakes import FAKES
from tests.triggering import first_event, make_trigger, rebuilt

FLOW = "2b081248-4963-43b3-ba06-5b7403d58b4d"

#: vendor -> (hook class, plan key, failure word, start, status-read path)
VENDORS: dict[str, tuple[type[PipelineHook], str, str, Callable[[Any], RemoteRun], str]] = {
    "dataform": (
        DataformHook,
        "m",
        "FAILED",
        lambda h: h.start_run("1234", schedule_name="m"),
        r"^/dataform/v1/project/1234/run/\d+$",
    ),
    "profitbase": (ProfitbaseHook, FLOW, "Failed", lambda h: h.start_data_flow(FLOW), r"/status$"),
    "dataops": (
        DataOpsHook,
        "matrix.yml",
        "failed",
        lambda h: h.start_pipeline(
            "acme/analytics/snowflake-pipelines",
            "main",
            {"_PIPELINE_FILE_NAME": "matrix.yml"},
            marker="matrix",
        ),
        r"^/dataops/api/v4/projects/.+/pipelines/\d+$",
    ),
    "remote_airflow": (
        RemoteAirflowHook,
        "etl",
        "failed",
        lambda h: h.trigger_dag_run("etl", dag_run_id=f"matrix_{datetime.now(timezone.utc).timestamp()}"),
        # in the worker the status read is the held request (…/wait), a read per poll in the triggerer
        r"^/remote_airflow/api/v2/dags/etl/dagRuns/[^/]+(/wait)?$",
    ),
}

#: faults that a wait rides out, ending with the run's true outcome
TRANSIENT = {
    "5xx burst": [{"kind": "status", "status": s, "times": 1} for s in (500, 502, 503, 504)],
    "429 Retry-After": [{"kind": "status", "status": 429, "headers": {"Retry-After": "2"}, "times": 1}],
    "dropped connections": [{"kind": "drop", "times": 3}],
    "slow beyond the request timeout": [{"kind": "delay", "seconds": 6.0, "times": 1}],
    "HTML 502 page": [{"kind": "html", "status": 502, "times": 2}],
}
#: faults that end the wait at once with a clear error, without retrying
PERMANENT = {
    "401": (
        {"kind": "status", "status": 401, "body": '{"message": "401 Unauthorized"}'},
        AuthError,
        "HTTP 401",
    ),
    "403": ({"kind": "status", "status": 403, "body": '{"detail": "Forbidden"}'}, AuthError, "HTTP 403"),
    "HTML 200 page": (
        {"kind": "html", "status": 200, "body": "<html>Please sign in</html>"},
        ResponseFormatError,
        "HTTP 200",
    ),
}
MODES = ["worker", "deferred"]
pytestmark = pytest.mark.resilience


def _start(client, vendor: str) -> tuple[PipelineHook, RemoteRun]:
    hook_cls, key, word, start, _ = VENDORS[vendor]
    client.plan(vendor, key, duration=1.0, outcome=word)
    hook = hook_cls()
    return hook, start(hook)


def _wait(
    mode: str, hook: PipelineHook, run: RemoteRun, seconds: float = 60
) -> tuple[str, RemoteRun | None, str]:
    """("finished" | "error" | "timeout", last run, message) in either waiting mode."""
    if mode == "deferred":
        event = first_event(make_trigger(run, hook.conn_id, seconds=seconds, poll=0.3), limit=90)
        return event.status, event.run, event.message
    now = datetime.now(timezone.utc)
    waiter = Waiter(
        hook.api.display_name,
        PollSchedule(0.3),
        now + timedelta(seconds=seconds),
        now,
        logging.getLogger("matrix"),
    )
    try:
        final = wait_in_worker(hook, run, waiter)
    except PipelinesError as exc:
        return "error", None, f"{type(exc).__name__}: {exc}"
    return ("finished" if final.state.is_terminal else "timeout"), final, ""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", sorted(TRANSIENT))
@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_transient_faults_on_status_reads_end_with_the_true_outcome(client, vendor, fault, mode):
    hook, run = _start(client, vendor)
    for spec in TRANSIENT[fault]:
        client.fault(path=VENDORS[vendor][4], method="GET", **spec)
    status, final, message = _wait(mode, hook, run)
    assert (status, message) == ("finished", "")
    assert final is not None and final.run_id == run.run_id and final.state is RunState.FAILED
    reads = [r for r in client.requests(vendor) if r["method"] == "GET" and r["fault"]]
    assert len(reads) == sum(spec["times"] for spec in TRANSIENT[fault]), "every fault was served"
    if fault == "429 Retry-After":
        after = [r for r in client.requests(vendor) if r["t"] > reads[0]["t"] and r["method"] == "GET"]
        assert after and after[0]["t"] - reads[0]["t"] >= 2.0, "the next read came before Retry-After"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", sorted(PERMANENT))
@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_auth_and_non_json_answers_end_the_wait_at_once_with_a_clear_error(client, vendor, fault, mode):
    hook, run = _start(client, vendor)
    spec, error, fragment = PERMANENT[fault]
    client.fault(path=VENDORS[vendor][4], method="GET", times=-1, **spec)
    status, _, message = _wait(mode, hook, run)
    assert status == "error"
    assert fragment in message
    if mode == "worker":
        assert message.startswith(error.__name__)
    if error is AuthError:
        assert hook.conn_id in message  # says which connection to check
    faulted = [r for r in client.requests(vendor) if r["fault"]]
    # no retry storm: one refused read (a remote Airflow's token auth may renew its token once)
    assert 1 <= len(faulted) <= 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_connection_refused_for_a_while_ends_with_the_true_outcome(client, vendor, mode, capfd, caplog):
    hook, run = _start(client, vendor)
    client.outage(2.0)  # the vendor's host refuses every connection for 2 s, kept-alive ones closed
    status, final, message = _wait(mode, hook, run)
    assert (status, message) == ("finished", "")
    assert final is not None and final.state is RunState.FAILED
    assert "refused" in "".join(capfd.readouterr()) + caplog.text  # the retries said why
    down = next(r["t"] for r in client.requests() if r["vendor"] == "_outage")
    reads = [r["t"] for r in client.requests(vendor) if r["method"] == "GET"]
    assert not [t for t in reads if down < t < down + 1.9], "nothing got through while it was down"
    assert [t for t in reads if t >= down + 1.9], "reads came back after it"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_an_unknown_status_word_is_never_success_and_waits_until_the_deadline(
    client, vendor, mode, capfd, caplog
):
    hook_cls, key, _, start, _ = VENDORS[vendor]
    running = next(f.running_word for f in FAKES if f.name == vendor)
    client.plan(vendor, key, phases=[(running, 0.3)], final="Quarantined_By_Ops")
    hook = hook_cls()
    status, last, _ = _wait(mode, hook, start(hook), seconds=3)
    assert status == "timeout"
    assert last is not None and last.state is RunState.UNKNOWN and last.vendor_status == "Quarantined_By_Ops"
    text = "".join(capfd.readouterr()) + caplog.text
    assert "'Quarantined_By_Ops', which this provider does not know" in text


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_a_trigger_rebuilt_after_a_triggerer_restart_carries_on_and_starts_nothing(client, vendor):
    hook, run = _start(client, vendor)
    trigger = make_trigger(run, hook.conn_id, seconds=60, poll=0.2)
    posts = len([r for r in client.requests(vendor) if r["method"] == "POST"])

    async def poll_then_die() -> None:
        task = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(0.5)  # the triggerer goes away mid-wait
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(poll_then_die())
    reads_before = len([r for r in client.requests(vendor) if r["method"] == "GET"])
    event = first_event(rebuilt(trigger), limit=60)
    assert event.status == "finished" and event.run is not None and event.run.state is RunState.FAILED
    assert event.run.run_id == run.run_id
    assert len([r for r in client.requests(vendor) if r["method"] == "POST"]) == posts
    assert len([r for r in client.requests(vendor) if r["method"] == "GET"]) > reads_before


# -- the coalesced path: the list that many waits share (triggers/poller.py) ---------------------------

#: listing vendor -> (connection id or None for the default, plan key, start, list path)
LISTING: dict[str, tuple[str | None, str, Callable[[Any], RemoteRun], str]] = {
    "dataops": (None, "matrix.yml", VENDORS["dataops"][3], r"^/dataops/api/v4/projects/.+/pipelines$"),
    "remote_airflow v2": (
        None,
        "etl",
        VENDORS["remote_airflow"][3],
        r"^/remote_airflow/api/v2/dags/~/dagRuns$",
    ),
    "remote_airflow v1": (
        "remote_airflow_matrix_v1",
        "etl",
        VENDORS["remote_airflow"][3],
        r"^/remote_airflow/v1gen/api/v1/dags/~/dagRuns/list$",
    ),
}
#: faults of the list endpoint: a burst it recovers from (3), or for good (-1)
LIST_FAULTS = {
    "5xx": {"kind": "status", "status": 503},
    "429 Retry-After": {"kind": "status", "status": 429, "headers": {"Retry-After": "1"}},
    "dropped connection": {"kind": "drop"},
}


@pytest.fixture
def listing(client, sandbox, monkeypatch):
    """Start a run, planned to fail, of a listing vendor: (hook, run, its list's path regex)."""
    from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow

    monkeypatch.setenv(
        "AIRFLOW_CONN_REMOTE_AIRFLOW_MATRIX_V1",
        json.dumps(
            {
                "conn_type": "remote_airflow",
                "host": sandbox.vendor_url("remote_airflow") + "/v1gen",
                "login": FakeRemoteAirflow.login,
                "password": FakeRemoteAirflow.password,
                "extra": {"timeout": 2, "backoff": 0.05, "backoff_max": 0.2},
            }
        ),
    )

    def start(name: str, duration: float = 2.0) -> tuple[PipelineHook, RemoteRun, str]:
        conn_id, key, begin, path = LISTING[name]
        vendor = name.split(maxsplit=1)[0]
        client.plan(vendor, key, duration=duration, outcome="failed")
        hook = VENDORS[vendor][0](conn_id) if conn_id else VENDORS[vendor][0]()
        return hook, begin(hook), path

    return start


def _own_reads(client, vendor: str, run: RemoteRun) -> list[dict[str, Any]]:
    return [
        r for r in client.requests(vendor) if r["method"] == "GET" and r["path"].endswith("/" + run.run_id)
    ]


@pytest.mark.parametrize("times", [3, -1], ids=["burst", "for good"])
@pytest.mark.parametrize("fault", sorted(LIST_FAULTS))
@pytest.mark.parametrize("name", sorted(LISTING))
def test_a_failing_list_falls_back_to_reads_of_each_run_and_ends_with_the_true_outcome(
    client, listing, name, fault, times
):
    hook, run, path = listing(name)
    client.fault(path=path, times=times, **LIST_FAULTS[fault])
    event = first_event(make_trigger(run, hook.conn_id, seconds=60, poll=0.3), limit=90)
    assert (event.status, event.message) == ("finished", "")
    assert event.run is not None and event.run.run_id == run.run_id and event.run.state is RunState.FAILED
    vendor = name.split()[0]
    failed = [r for r in client.requests(vendor) if r["fault"] and re.search(path, r["path"].split("?")[0])]
    assert failed, "the list was asked, and answered with the fault"
    if times == -1:
        # no list ever worked: after the first failed one, the wait read its run on its own
        reads = _own_reads(client, vendor, run)
        assert [r for r in reads if r["t"] > failed[0]["t"]], "no read of the run after the list failed"


@pytest.mark.parametrize("name", sorted(LISTING))
def test_a_run_that_leaves_the_list_window_is_read_directly_and_its_end_is_not_missed(client, listing, name):
    hook, run, path = listing(name, duration=3.0)
    vendor = name.split()[0]

    async def age_out_once_listed() -> float:
        while not [
            r
            for r in await asyncio.to_thread(client.requests, vendor)
            if r["status"] == 200 and re.search(path, r["path"].split("?")[0])
        ]:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.4)  # a list or two more, that show it
        await asyncio.to_thread(client.age_out, vendor, run.run_id)
        return time.time()

    async def both() -> tuple[Any, float]:
        aged = asyncio.ensure_future(age_out_once_listed())
        async for event in make_trigger(run, hook.conn_id, seconds=60, poll=0.3).run():
            return event.payload, await aged
        raise AssertionError("no event")

    payload, aged_at = asyncio.run(asyncio.wait_for(both(), 60))
    event = RunEvent.parse(payload)
    assert event.status == "finished" and event.run is not None and event.run.state is RunState.FAILED
    reads = [r["t"] for r in _own_reads(client, vendor, run)]
    if name != "remote_airflow v1":  # Airflow 2's list shows only ended runs: a running one never left it
        assert [t for t in reads[1:-1] if t > aged_at], "the run was not read directly once it left the list"


def test_a_run_that_moves_between_pages_while_they_are_read_is_not_missed(client):
    """Pipelines listed by their change time: one on page 2 ends (and so moves to page 1, already read)
    while page 2 is on its way; it is still noticed, and ends with its true state."""
    client.plan("dataops", "*", duration=3600.0)
    hook = DataOpsHook()
    runs = [hook.start_pipeline("4242", "main", marker=f"pages-{i}") for i in range(120)]
    mover = runs[-1]  # the newest: on page 2 while every pipeline runs
    page2 = r"^/dataops/api/v4/projects/4242/pipelines$"

    async def move_while_page_2_is_read() -> None:
        while not [r for r in await asyncio.to_thread(client.requests, "dataops") if "page=2" in r["path"]]:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(client.fault, "delay", page2, query=r"(^|&)page=2(&|$)", seconds=1.0)
        while not [r for r in await asyncio.to_thread(client.requests, "dataops") if r["fault"] == "delay"]:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(client.finish, "dataops", mover.run_id, "failed")

    async def run_all() -> dict[str, RunEvent]:
        mover_first = asyncio.ensure_future(move_while_page_2_is_read())

        async def one(run: RemoteRun) -> RunEvent:
            async for event in make_trigger(run, hook.conn_id, seconds=120, poll=0.5).run():
                return RunEvent.parse(event.payload)
            raise AssertionError("no event")

        tasks = {run.run_id: asyncio.ensure_future(one(run)) for run in runs}
        await mover_first
        moved = await asyncio.wait_for(tasks[mover.run_id], 30)
        for run in runs[:-1]:
            await asyncio.to_thread(client.finish, "dataops", run.run_id, "success")
        return {mover.run_id: moved, **{k: await t for k, t in tasks.items() if k != mover.run_id}}

    events = asyncio.run(asyncio.wait_for(run_all(), 120))
    assert events[mover.run_id].status == "finished" and events[mover.run_id].run.state is RunState.FAILED
    assert {(e.status, e.run.state) for k, e in events.items() if k != mover.run_id} == {
        ("finished", RunState.SUCCESS)
    }
    assert [r for r in client.requests("dataops") if r["fault"] == "delay" and "page=2" in r["path"]]
