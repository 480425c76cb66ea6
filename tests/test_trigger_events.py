"""The event watchers against the sandbox, driven in an event loop as a triggerer drives them.

Runs are planned to last an hour and ended on demand (``SandboxClient.finish``), so each test
says exactly which runs end, how, and when: before or after the watch began, or while the
watcher was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from airflow_provider_pipelines.errors import PipelinesError
from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow
from airflow_provider_pipelines.triggers import events
from airflow_provider_pipelines.triggers.events import DataOpsPipelineEventTrigger, RemoteDagRunEventTrigger

pytestmark = pytest.mark.airflow3_only

PROJECT = "acme/analytics/snowflake-pipelines"
POLL = 0.3
LIMIT = 30.0


@pytest.fixture(autouse=True)
def fresh_process_state():
    """Each test is a fresh triggerer process: no watch kept in memory, no refusal remembered."""
    events._PROCESS_WATCHES.clear()
    events._REFUSED.clear()
    yield
    events._PROCESS_WATCHES.clear()
    events._REFUSED.clear()


class AssetStore:
    """Stands in for the accessor Airflow 3.3's triggerer gives a watcher (``aget``/``aset``),
    keeping values as the metadata DB would: as JSON."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)


class Watching:
    """A watcher running in the test's event loop, its events collected as they come."""

    def __init__(self, trigger: Any, stream: AsyncIterator[Any] | None = None) -> None:
        self.trigger = trigger
        self.stream = stream if stream is not None else trigger.run()
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watching:
        self.task = asyncio.get_running_loop().create_task(self._consume())
        return self

    async def _consume(self) -> None:
        try:
            async for event in self.stream:
                self.events.append(event.payload)
        except Exception as exc:
            self.error = exc

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    @property
    def run_ids(self) -> list[str]:
        return [event["run_id"] for event in self.events]


async def until(condition: Callable[[], Any], what: str, limit: float = LIMIT) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {limit:g}s: {what}")
        await asyncio.sleep(0.05)


def began(trigger: Any, store: AssetStore | None = None) -> Callable[[], bool]:
    """True once the watcher has stored its watch (its first list read is done)."""
    key = trigger.watch_key()
    return lambda: key in (store.values if store is not None else events._PROCESS_WATCHES)


def list_reads(client, vendor: str = "dataops", *, shared: bool | None = None) -> list[dict[str, Any]]:
    """The list requests the sandbox got; ``shared``: only the shared poll's (no ref filter) or only
    the watchers' own catch-up reads."""
    marker = "/pipelines?" if vendor == "dataops" else "/dagRuns?"
    rows = [r for r in client.requests(vendor) if marker in r["path"]]
    if shared is not None:
        rows = [r for r in rows if ("ref=" not in r["path"]) is shared]
    return rows


async def polls(client, count: int, vendor: str = "dataops") -> None:
    """Wait until the sandbox has answered ``count`` more list reads."""
    seen = len(list_reads(client, vendor))
    await until(lambda: len(list_reads(client, vendor)) >= seen + count, f"{count} more list reads")


def start_pipelines(count: int, ref: str = "main") -> list[str]:
    hook = DataOpsHook()
    return [hook.start_pipeline(PROJECT, ref, {}, marker=f"ev-{ref}-{i}").run_id for i in range(count)]


def watcher(**kwargs: Any) -> DataOpsPipelineEventTrigger:
    return DataOpsPipelineEventTrigger(**{"project": PROJECT, "ref": "main", "poll_interval": POLL, **kwargs})


@pytest.fixture
def long_runs(client):
    """Pipelines and remote runs that go on until a test ends them."""
    for ref in ("main", "develop", "staging", "feature-x"):
        client.plan("dataops", ref, duration=3600)
    client.plan("remote_airflow", "etl", duration=3600)
    return client


# -- DataOps.live --------------------------------------------------------------------------------


def test_two_pipelines_that_succeed_fire_two_events_with_their_facts(long_runs):
    client = long_runs

    async def scenario() -> list[dict[str, Any]]:
        trigger = watcher()
        async with Watching(trigger) as watching:
            await until(began(trigger), "the watch began")
            first, second = start_pipelines(2)
            client.finish("dataops", first, "success")
            client.finish("dataops", second, "success")
            await until(lambda: len(watching.events) >= 2, "two events")
            await polls(client, 3)  # seen again on later polls: fired once all the same
        return watching.events

    fired = asyncio.run(scenario())
    assert len(fired) == 2 and len({e["run_id"] for e in fired}) == 2
    event = fired[0]
    assert (event["vendor"], event["state"], event["vendor_status"]) == ("dataops", "success", "success")
    assert (event["project"], event["ref"], event["source"]) == (PROJECT, "main", "api")
    assert event["url"].endswith(f"/-/pipelines/{event['run_id']}") and len(event["sha"]) == 40
    assert event["finished_at"].endswith("+00:00")
    # the list reads: updated since a time, least recently updated first, narrowed to the ref only
    # for the watcher's own first read (the shared poll serves every ref of the project)
    own, *shared = list_reads(client)
    assert "order_by=updated_at&sort=asc" in own["path"] and "ref=main" in own["path"]
    assert shared and all("updated_after=" in r["path"] and "ref=" not in r["path"] for r in shared)


def test_a_failed_pipeline_is_ignored_when_only_success_is_watched(long_runs):
    client = long_runs

    async def scenario() -> tuple[list[str], list[str]]:
        trigger = watcher(states=["success"])
        async with Watching(trigger) as watching:
            await until(began(trigger), "the watch began")
            failed, succeeded = start_pipelines(2)
            client.finish("dataops", failed, "failed")
            client.finish("dataops", succeeded, "success")
            await until(lambda: watching.events, "an event")
            await polls(client, 3)
        return watching.run_ids, [failed, succeeded]

    fired, (failed, succeeded) = asyncio.run(scenario())
    assert fired == [succeeded] and failed not in fired


def test_runs_that_ended_before_the_watch_began_never_fire(long_runs):
    client = long_runs
    before = start_pipelines(3)
    for run_id, outcome in zip(before, ("success", "success", "failed"), strict=True):
        client.finish("dataops", run_id, outcome)

    async def scenario() -> tuple[list[str], list[str]]:
        trigger = watcher(states=["success", "failed"])
        async with Watching(trigger) as watching:
            await until(began(trigger), "the watch began")
            await polls(client, 4)  # they are listed (within the lists' overlap), and ignored
            quiet = list(watching.run_ids)
            (after,) = start_pipelines(1)
            client.finish("dataops", after, "failed")
            await until(lambda: watching.events, "an event for the run that ended after")
            await polls(client, 2)
        return quiet, [*watching.run_ids, after]

    quiet, (*fired, after) = asyncio.run(scenario())
    assert quiet == [] and fired == [after]


def test_a_watcher_rebuilt_from_its_kwargs_and_stored_watch_fires_what_it_missed_and_nothing_twice(long_runs):
    """Airflow 3.3: the watch lives in the asset's state store, so a restarted (or moved) watcher
    carries on: the run that ended while it was away fires, the one it fired before does not."""
    client = long_runs
    store = AssetStore()

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        first = watcher()
        first.asset_state_store = store  # as the triggerer does for a watcher of one asset
        r1, r2, r3 = start_pipelines(3)
        async with Watching(first) as watching:
            await until(began(first, store), "the watch began")
            client.finish("dataops", r1, "success")
            await until(lambda: watching.events, "r1 fired")
        before = watching.run_ids
        client.finish("dataops", r2, "success")  # while no triggerer runs the watcher
        _, kwargs = first.serialize()
        again = DataOpsPipelineEventTrigger(**json.loads(json.dumps(kwargs)))
        again.asset_state_store = store
        async with Watching(again) as watching:
            await until(lambda: watching.events, "r2 fired after the restart")
            await polls(client, 3)  # r1 is listed again (overlap) and not fired
            client.finish("dataops", r3, "success")
            await until(lambda: len(watching.events) >= 2, "r3 fired")
            await polls(client, 2)
        return before, watching.run_ids, [r1, r2, r3]

    before, after, (r1, r2, r3) = asyncio.run(scenario())
    assert before == [r1]
    assert after == [r2, r3]
    stored = json.loads(next(iter(store.values.values())))
    assert set(stored["fired"][i][0] for i in range(3)) == {r1, r2, r3}


def test_without_a_state_store_the_watch_lasts_as_long_as_the_triggerer_process(long_runs):
    """Airflow 3.0 to 3.2: a watcher restarted in the same triggerer process carries on; a new
    process begins a new watch, and what ended before it never fires."""
    client = long_runs

    async def run_for(trigger: DataOpsPipelineEventTrigger, finish: list[str], wanted: int) -> list[str]:
        async with Watching(trigger) as watching:
            await until(began(trigger), "the watch began")
            for run_id in finish:
                client.finish("dataops", run_id, "success")
            await until(lambda: len(watching.events) >= wanted, f"{wanted} event(s)")
            await polls(client, 3)
        return watching.run_ids

    async def scenario() -> tuple[list[str], ...]:
        r1, r2, r3, r4 = start_pipelines(4)
        first = await run_for(watcher(), [r1], 1)
        client.finish("dataops", r2, "success")  # while away
        same_process = await run_for(watcher(), [], 1)
        events._PROCESS_WATCHES.clear()  # the triggerer process restarts
        client.finish("dataops", r3, "success")  # while away, before the new watch
        new_process = await run_for(watcher(), [r4], 1)
        return first, same_process, new_process, [r1, r2, r3, r4]

    first, same_process, new_process, (r1, r2, _, r4) = asyncio.run(scenario())
    assert (first, same_process, new_process) == ([r1], [r2], [r4])


def test_a_list_longer_than_a_page_is_read_to_its_end(long_runs):
    client = long_runs

    async def scenario() -> list[str]:
        trigger = watcher(poll_interval=1.0)
        async with Watching(trigger) as watching:
            await until(began(trigger), "the watch began")
            ran = start_pipelines(130)
            for run_id in ran:
                client.finish("dataops", run_id, "success")
            await until(lambda: len(watching.events) >= 130, "130 events", limit=60)
            await polls(client, 2)
        assert sorted(watching.run_ids) == sorted(ran)
        return watching.run_ids

    fired = asyncio.run(scenario())
    assert len(fired) == len(set(fired)) == 130
    pages = [r["path"] for r in list_reads(client, shared=True)]
    assert any("page=2" in p for p in pages) and not any("page=3" in p for p in pages)


def test_a_refused_token_ends_the_watcher_with_an_error_naming_the_connection(
    long_runs, monkeypatch, sandbox
):
    client = long_runs
    bad = {"conn_type": "dataops_live", "host": sandbox.vendor_url("dataops"), "password": "wrong-token"}
    monkeypatch.setenv("AIRFLOW_CONN_DATAOPS_REFUSED", json.dumps(bad))

    async def scenario() -> tuple[BaseException | None, int, BaseException | None]:
        trigger = watcher(dataops_conn_id="dataops_refused", poll_interval=3.0)
        async with Watching(trigger) as watching:
            await until(lambda: watching.error is not None, "the watcher ended")
        first_error, refused = watching.error, len(list_reads(client))
        # Airflow restarts a watcher that ended: the restarted one waits out the poll interval
        # before asking again, instead of asking every second
        restarted = watcher(dataops_conn_id="dataops_refused", poll_interval=3.0)
        async with Watching(restarted) as watching:
            await asyncio.sleep(1.0)
            assert len(list_reads(client)) == refused
            await until(lambda: watching.error is not None, "the restarted watcher ended")
        return first_error, refused, watching.error

    error, refused, again = asyncio.run(scenario())
    assert isinstance(error, PipelinesError) and isinstance(again, PipelinesError)
    text = str(error)
    assert "refused Airflow connection 'dataops_refused' (HTTP 401)" in text
    assert f"project {PROJECT}" in text and "wrong-token" not in text
    assert refused <= 2  # the first read of the watch, the shared poll's: a 401 is not retried


def test_rate_limits_and_server_errors_are_ridden_out_by_the_retry_policy(long_runs):
    client = long_runs

    async def scenario() -> list[str]:
        trigger = watcher()
        async with Watching(trigger) as watching:
            await until(began(trigger), "the watch began")
            (run_id,) = start_pipelines(1)
            client.fault("status", r"/pipelines$", method="GET", status=503, times=2)
            client.fault(
                "status",
                r"/pipelines$",
                method="GET",
                status=429,
                headers={"Retry-After": "1"},
                body='{"message": "Retry later"}',
            )
            client.finish("dataops", run_id, "success")
            await until(lambda: watching.events, "the event, past the faults")
        return [*watching.run_ids, run_id]

    *fired, run_id = asyncio.run(scenario())
    assert fired == [run_id]
    statuses = [r["status"] for r in list_reads(client)]
    start = statuses.index(503)
    assert statuses[start : start + 4] == [503, 503, 429, 200]


# -- many watchers, one poll -----------------------------------------------------------------


REFS = ("main", "develop", "staging", "feature-x")


async def _share_one_poll(client, streams: Callable[[list[Any]], list[AsyncIterator[Any]]]) -> dict[str, Any]:
    """Four watchers, one per ref of one project: each fires for its own ref only, and the shared
    list reads come from one poll loop."""
    triggers = [watcher(ref=ref, poll_interval=0.5) for ref in REFS]
    runs = {ref: start_pipelines(1, ref)[0] for ref in REFS}
    watchings = [Watching(t, s) for t, s in zip(triggers, streams(triggers), strict=True)]
    async with contextlib.AsyncExitStack() as stack:
        for watching in watchings:
            await stack.enter_async_context(watching)
        for trigger in triggers:
            await until(began(trigger), "every watch began")
        shared_before, started = len(list_reads(client, shared=True)), time.monotonic()
        await asyncio.sleep(3.0)
        shared = len(list_reads(client, shared=True)) - shared_before
        elapsed = time.monotonic() - started
        for run_id in runs.values():
            client.finish("dataops", run_id, "success")
        await until(lambda: all(w.events for w in watchings), "an event for every watcher")
        await polls(client, 2)
    return {
        "fired": {t.ref: w.run_ids for t, w in zip(triggers, watchings, strict=True)},
        "runs": runs,
        "shared": shared,
        "elapsed": elapsed,
        "own": len(list_reads(client, shared=False)),
    }


def _check_shared(result: dict[str, Any]) -> None:
    assert result["fired"] == {ref: [run_id] for ref, run_id in result["runs"].items()}
    # one poll every 0.5 s for the four of them (not four): a slow machine only makes it fewer
    assert 1 <= result["shared"] <= result["elapsed"] / 0.5 + 2
    assert result["own"] == len(REFS)  # each watcher's own first read, narrowed to its ref


def test_watchers_on_other_refs_of_one_project_share_one_poll_in_the_event_loop(long_runs):
    """Airflow 3.0 to 3.2 (no shared streams): ``run()`` shares the poll in the event loop."""
    _check_shared(asyncio.run(_share_one_poll(long_runs, lambda triggers: [t.run() for t in triggers])))


def test_watchers_on_other_refs_of_one_project_share_one_poll_through_airflows_shared_streams(long_runs):
    """Airflow 3.3: the triggerer's SharedStreamManager runs the shared poll and fans it out."""
    from airflow.triggers.shared_stream import SharedStreamManager

    async def scenario() -> dict[str, Any]:
        manager = SharedStreamManager()

        def streams(triggers: list[Any]) -> list[AsyncIterator[Any]]:
            return [
                t.filter_shared_stream(manager.subscribe(trigger_id=i, trigger=t, key=t.shared_stream_key()))
                for i, t in enumerate(triggers)
            ]

        try:
            return await _share_one_poll(long_runs, streams)
        finally:
            await manager.stop_all()

    _check_shared(asyncio.run(scenario()))


# -- a remote Airflow ----------------------------------------------------------------------------


GENERATIONS = {
    "v2": ("", {"password": FakeRemoteAirflow.token}),
    "v1": ("/v1gen", {"login": FakeRemoteAirflow.login, "password": FakeRemoteAirflow.password}),
    "experimental": ("/expgen", {"password": FakeRemoteAirflow.api_key, "extra": {"auth_type": "api_key"}}),
}


def remote_conn(monkeypatch, sandbox, generation: str) -> str:
    suffix, fields = GENERATIONS[generation]
    conn = {"conn_type": "remote_airflow", "host": sandbox.vendor_url("remote_airflow") + suffix, **fields}
    conn["extra"] = {"timeout": 5, "backoff": 0.05, "backoff_max": 0.5, **conn.get("extra", {})}
    conn_id = f"remote_events_{generation}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def trigger_remote(conn_id: str, client, *dag_run_ids: str) -> dict[str, str]:
    """Trigger runs of ``etl``; their dag_run_id -> the sandbox's id (to finish them by)."""
    hook = RemoteAirflowHook(conn_id)
    for i, dag_run_id in enumerate(dag_run_ids):
        hook.trigger_dag_run("etl", dag_run_id=dag_run_id, conf={"day": f"2026-03-0{i + 1}"})
    return {r["data"]["dag_run_id"]: r["run_id"] for r in client.runs("remote_airflow")}


@pytest.mark.parametrize("generation", ["v2", "v1"])
def test_remote_dag_runs_that_end_fire_with_their_conf(long_runs, monkeypatch, sandbox, generation):
    client = long_runs
    conn_id = remote_conn(monkeypatch, sandbox, generation)
    ids = trigger_remote(conn_id, client, "before")
    client.finish("remote_airflow", ids["before"], "success")

    async def scenario() -> list[dict[str, Any]]:
        trigger = RemoteDagRunEventTrigger(remote_airflow_conn_id=conn_id, dag_id="etl", poll_interval=POLL)
        async with Watching(trigger) as watching:
            await until(began(trigger), "the watch began")
            ids = trigger_remote(conn_id, client, "ok", "broken")
            client.finish("remote_airflow", ids["broken"], "failed")
            client.finish("remote_airflow", ids["ok"], "success")
            await until(lambda: watching.events, "an event")
            await polls(client, 3, "remote_airflow")
        return watching.events

    (event,) = asyncio.run(scenario())
    assert (event["run_id"], event["state"], event["dag_id"]) == ("ok", "success", "etl")
    assert event["conf"] == {"day": "2026-03-01"} and event["finished_at"].endswith("+00:00")
    if generation == "v2":
        assert event["url"].endswith("/remote_airflow/dags/etl/runs/ok")
    reads = [r["path"] for r in list_reads(client, "remote_airflow")]
    assert reads and all("state=success&state=failed&order_by=end_date" in p for p in reads)


def test_a_remote_that_speaks_only_the_experimental_api_is_refused_with_the_reason(
    long_runs, monkeypatch, sandbox
):
    conn_id = remote_conn(monkeypatch, sandbox, "experimental")

    async def scenario() -> BaseException | None:
        trigger = RemoteDagRunEventTrigger(remote_airflow_conn_id=conn_id, dag_id="etl", poll_interval=POLL)
        async with Watching(trigger) as watching:
            await until(lambda: watching.error is not None, "the watcher ended")
        return watching.error

    error = asyncio.run(scenario())
    assert isinstance(error, PipelinesError)
    assert "experimental API, which cannot list DAG runs" in str(error) and "/api/v2" in str(error)
    assert not list_reads(long_runs, "remote_airflow")  # refused before any list request
