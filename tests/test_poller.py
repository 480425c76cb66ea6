"""The coalesced poller (triggers/poller.py): many RemoteRunTriggers in one event loop, against the sandbox.

Waits on one connection and one DataOps.live project (or one remote Airflow API) share one list
request per cycle; each still ends with its run's true outcome, and an end seen in a list is
confirmed by a read of the run itself before the event fires.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_pipelines.apis.base import Page
from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.lifecycle import RunEvent
from airflow_provider_pipelines.runs import RemoteRun, RunState
from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow
from airflow_provider_pipelines.triggers import poller
from tests.triggering import make_trigger

PROJECT = "4242"
LIST = r"^/dataops/api/v4/projects/4242/pipelines$"


def events_of(triggers: list[Any], limit: float = 60.0, during: Any = None) -> tuple[list[RunEvent], int]:
    """Run the triggers together in one event loop; their first events, and the pollers left after."""

    async def one(trigger: Any) -> RunEvent:
        async for event in trigger.run():
            return RunEvent.parse(event.payload)
        raise AssertionError("the trigger ended without an event")

    async def together() -> tuple[list[RunEvent], int]:
        side = asyncio.ensure_future(during()) if during is not None else None
        events = await asyncio.gather(*(one(t) for t in triggers))
        if side is not None:
            await side
        await asyncio.sleep(0)  # the last seat's leave cancels its poller
        return events, len(poller.pollers())

    return asyncio.run(asyncio.wait_for(together(), limit))


def start_pipelines(client, outcomes: list[str], duration: float = 1.5) -> list[RemoteRun]:
    hook = DataOpsHook()
    runs = []
    for i, outcome in enumerate(outcomes):
        client.plan("dataops", f"p{i}.yml", duration=duration + 0.1 * i, outcome=outcome)
        runs.append(
            hook.start_pipeline(PROJECT, "main", {"_PIPELINE_FILE_NAME": f"p{i}.yml"}, marker=f"m{i}")
        )
    hook.close()
    return runs


def own_reads(client, run: RemoteRun) -> list[dict[str, Any]]:
    return [r for r in client.requests("dataops") if r["path"].endswith(f"/pipelines/{run.run_id}")]


def test_waits_on_one_project_share_one_list_and_each_ends_with_its_outcome(client):
    outcomes = ["success", "failed", "canceled", "skipped"] * 6
    runs = start_pipelines(client, outcomes)
    events, left = events_of([make_trigger(run, "dataops_default", poll=0.3) for run in runs])
    words = {"success": "success", "failed": "failed", "canceled": "cancelled", "skipped": "skipped"}
    assert [(e.status, e.run.run_id, e.run.state.value) for e in events] == [
        ("finished", run.run_id, words[o]) for run, o in zip(runs, outcomes, strict=True)
    ]
    lists = [r for r in client.requests("dataops") if r["path"].split("?")[0].endswith("/pipelines")]
    assert lists and all("updated_after=" in r["path"] and "order_by=updated_at" in r["path"] for r in lists)
    for run in runs:
        # the read that confirmed the end the list showed, and at most a first read (a wait whose
        # run began within the list's window learns its first state from the list): nothing else
        reads = own_reads(client, run)
        assert 1 <= len(reads) <= 2, (run.run_id, reads)
    assert left == 0  # the poller stopped with its last wait


def test_an_end_seen_in_a_list_fires_only_once_a_read_of_the_run_confirms_it(client):
    (run,) = start_pipelines(client, ["failed"], duration=1.0)
    stale = json.dumps({"id": int(run.run_id), "status": "running", "web_url": run.url})

    def listed() -> bool:
        return any(r["status"] == 200 and "updated_after=" in r["path"] for r in client.requests("dataops"))

    async def then_stale_confirmation() -> None:
        while not await asyncio.to_thread(listed):  # the run (1 s long) still runs then
            await asyncio.sleep(0.05)
        # the next read of the pipeline itself (the one confirming the end) answers "running"
        await asyncio.to_thread(client.fault, "status", rf"/pipelines/{run.run_id}$", status=200, body=stale)

    events, _ = events_of([make_trigger(run, "dataops_default", poll=0.3)], during=then_stale_confirmation)
    assert (events[0].status, events[0].run.state) == ("finished", RunState.FAILED)
    # (a first read, maybe;) the confirmation of the listed end, which said "running", so no event;
    # the list showed the end again, and a second confirmation fired it
    assert [r["fault"] for r in own_reads(client, run)][-2:] == ["status", None]


def test_the_per_run_knob_reads_each_run_on_its_own(client, monkeypatch):
    monkeypatch.setenv(poller.POLLING_ENV, "per-run")
    runs = start_pipelines(client, ["success"] * 4)
    events, _ = events_of([make_trigger(run, "dataops_default", poll=0.3) for run in runs])
    assert {e.run.state for e in events} == {RunState.SUCCESS}
    assert not [r for r in client.requests("dataops") if "updated_after=" in r["path"]]
    assert all(len(own_reads(client, run)) >= 3 for run in runs)


@pytest.fixture
def v1_conn(sandbox, monkeypatch) -> str:
    conn = {
        "conn_type": "remote_airflow",
        "host": sandbox.vendor_url("remote_airflow") + "/v1gen",
        "login": FakeRemoteAirflow.login,
        "password": FakeRemoteAirflow.password,
        "extra": {"timeout": 2, "backoff": 0.05, "backoff_max": 0.2},
    }
    monkeypatch.setenv("AIRFLOW_CONN_REMOTE_AIRFLOW_POLLER_V1", json.dumps(conn))
    return "remote_airflow_poller_v1"


@pytest.mark.parametrize("generation", ["v2", "v1"])
def test_remote_airflow_waits_across_dags_share_one_list(client, generation, v1_conn):
    conn_id = "remote_airflow_default" if generation == "v2" else v1_conn
    client.plan("remote_airflow", "etl", duration=1.0, outcome="success")
    client.plan("remote_airflow", "report", duration=1.6, outcome="failed")
    hook = RemoteAirflowHook(conn_id)
    runs = [
        hook.trigger_dag_run(dag, dag_run_id=f"p_{dag}_{i}") for i in range(6) for dag in ("etl", "report")
    ]
    events, left = events_of([make_trigger(run, conn_id, poll=0.3) for run in runs])
    assert [(e.run.run_id, e.run.state.value) for e in events] == [
        (run.run_id, "success" if run.ref["dag_id"] == "etl" else "failed") for run in runs
    ]
    log = client.requests("remote_airflow")
    if generation == "v2":
        lists = [r for r in log if r["path"].startswith("/remote_airflow/api/v2/dags/~/dagRuns?")]
        assert lists and all("updated_at_gte=" in r["path"] and "order_by=id" in r["path"] for r in lists)
    else:
        lists = [
            r for r in log if r["method"] == "POST" and r["path"].endswith("/api/v1/dags/~/dagRuns/list")
        ]
        assert lists
    for run in runs:
        reads = [r for r in log if r["method"] == "GET" and r["path"].endswith(f"/dagRuns/{run.run_id}")]
        # the one confirming its end, and a first read where no list could show the run first
        assert (1 if generation == "v2" else 2) <= len(reads) <= 2, (run.run_id, reads)
    assert left == 0


# -- pure parts -------------------------------------------------------------------------------------------

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _page(stamps: list[int], *, more: bool = False, clock: int | None = 100) -> Page:
    runs = [
        RemoteRun(
            "dataops",
            {"project": "1", "pipeline_id": str(i)},
            str(i),
            RunState.RUNNING,
            extra={"changed_at": (T0 + timedelta(seconds=s)).isoformat()},
        )
        for i, s in enumerate(stamps)
    ]
    server = None if clock is None else T0 + timedelta(seconds=clock)
    return Page(runs=runs, next_page=2 if more else None, server_time=server)


@pytest.mark.parametrize(
    ("pages", "cut", "expected"),
    [
        ([_page([10, 20])], False, 100),  # one page: the vendor's clock when it answered
        ([_page([10, 20], clock=None)], False, 50),  # no Date header: our clock when the read began
        ([_page([10, 20], more=True), _page([30, 40])], False, 20),  # rows by time: the first page's end
        ([_page([10, 20], more=True), _page([30], more=True)], True, 20),  # cut, by time: the same
        ([_page([]), _page([])], True, 0),  # cut, rows without times: stays
        ([_page([]), _page([])], False, 100),  # several pages in a stable order: the clock
    ],
)
def test_the_cursor_moves_only_as_far_as_every_change_before_it_was_seen(pages, cut, expected):
    began = T0 + timedelta(seconds=50)
    assert poller.next_cursor(T0, began, pages, cut) == T0 + timedelta(seconds=expected)
    assert poller.next_cursor(T0 + timedelta(seconds=500), began, pages, cut) == T0 + timedelta(seconds=500)


class _Seatlike:
    def __init__(self, need: float) -> None:
        self.need = need


@pytest.mark.parametrize(
    ("needs", "pages", "period"),
    [
        ([5.0, 60.0, 60.0], 1, 5.0),  # one page costs as much as one read: the most demanding need
        ([5.0, 60.0, 60.0, 60.0], 3, 60.0),  # three pages: the 5 s wait reads alone, lists every 60 s
        ([5.0, 5.0, 5.0, 60.0], 2, 5.0),  # several waits need 5 s: one list for them all
        ([float("inf")], 1, float("inf")),  # no wait has paused yet: nothing planned
    ],
)
def test_the_period_costs_the_fewest_requests(needs, pages, period):
    box = poller.Poller(
        ("slot",),
        asyncio.new_event_loop(),
        hook_cls=DataOpsHook,
        conn_id="c",
        variant="",
        scope="1",
        ref_keys=("project", "pipeline_id"),
    )
    box.loop.close()
    box.seats = {i: [_Seatlike(n)] for i, n in enumerate(needs)}  # type: ignore[misc]
    box.pages = pages
    assert box._period() == period


@pytest.mark.parametrize(
    ("listed_at", "since", "early"),
    [
        (T0, T0 - timedelta(seconds=1), True),  # it changed inside the next window: it should be there
        (T0, T0 + timedelta(seconds=1), False),  # it only grew older than the window: unchanged
        (None, T0, True),  # the row did not say when it changed: read it
    ],
)
def test_a_run_missing_from_a_list_is_read_only_when_it_should_still_be_there(listed_at, since, early):
    seat = object.__new__(poller.Seat)
    seat.listed, seat.listed_at = True, listed_at
    assert seat.left_early(since) is early
