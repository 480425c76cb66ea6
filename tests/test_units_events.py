"""Pure unit tests for event-driven scheduling: the list requests and parsers, the cursor, the watch,
the watchers' arguments, keys and payloads."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_pipelines.apis.base import Page
from airflow_provider_pipelines.apis.dataops import DataOpsApi
from airflow_provider_pipelines.apis.remote_airflow import RemoteAirflowApi
from airflow_provider_pipelines.errors import ConfigurationError
from airflow_provider_pipelines.http import ApiRequest, ApiResponse, Endpoint
from airflow_provider_pipelines.runs import RemoteRun, RunState
from airflow_provider_pipelines.triggers.events import (
    FIRED_KEPT,
    HAS_EVENT_TRIGGERS,
    DataOpsPipelineEventTrigger,
    RemoteDagRunEventTrigger,
    Snapshot,
    Watch,
    next_cursor,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
DATE = "Sun, 01 Mar 2026 12:00:30 GMT"  # T0 + 30 s, as a Date header
needs_airflow3 = pytest.mark.airflow3_only


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def answer(request: ApiRequest, body: object, headers: dict[str, str] | None = None) -> ApiResponse:
    url = Endpoint("c", "http://h/base", {}).url(request)
    return ApiResponse(200, headers or {}, json.dumps(body).encode(), request, url)


def run(run_id: str, state: RunState, changed: float | None, finished: float | None = None) -> RemoteRun:
    extra = {
        "changed_at": None if changed is None else at(changed),
        "finished_at": None if finished is None else at(finished),
    }
    return RemoteRun("dataops", {"project": "p", "pipeline_id": run_id}, run_id, state, extra=extra)


def page(*runs: RemoteRun, next_page: int | None = None, clock: float | None = None) -> Page:
    return Page(list(runs), next_page, None if clock is None else T0 + timedelta(seconds=clock))


# -- the list requests and their pages -----------------------------------------------------------


def test_dataops_changed_runs_request_asks_for_updated_pipelines_oldest_update_first():
    request = DataOpsApi().changed_runs_request("group/project", updated_after=T0)
    assert request.method == "GET" and request.path == "projects/group%2Fproject/pipelines"
    assert dict(request.params) == {
        "updated_after": "2026-03-01T12:00:00.000Z",
        "order_by": "updated_at",
        "sort": "asc",
        "per_page": "100",
        "page": "1",
    }
    narrowed = DataOpsApi().changed_runs_request("7", updated_after=T0, ref="main", source="push", page=3)
    assert (narrowed.params["ref"], narrowed.params["source"], narrowed.params["page"]) == (
        "main",
        "push",
        "3",
    )


def test_dataops_changed_runs_page_carries_ref_sha_source_and_times():
    request = DataOpsApi().changed_runs_request("7", updated_after=T0)
    rows = [
        {"id": 11, "status": "success", "ref": "main", "sha": "abc", "source": "push",
         "updated_at": "2026-03-01T12:00:05.123Z", "web_url": "http://h/p/11"},
        {"id": 12, "status": "running", "ref": "dev", "sha": "def", "source": "api",
         "updated_at": "2026-03-01T12:00:09Z"},
        {"id": 13, "status": "failed", "ref": "main", "sha": "123", "source": "push",
         "updated_at": "2026-03-01T12:01:00Z", "finished_at": "2026-03-01T12:00:58Z"},
    ]  # fmt: skip
    result = DataOpsApi().parse_changed_runs(answer(request, rows, {"x-next-page": "2", "date": DATE}), "7")
    assert result.next_page == 2 and result.server_time == T0 + timedelta(seconds=30)
    done, going, failed = result.runs
    assert (done.run_id, done.state, done.url) == ("11", RunState.SUCCESS, "http://h/p/11")
    assert done.extra == {
        "source": "push",
        "ref": "main",
        "sha": "abc",
        "changed_at": "2026-03-01T12:00:05.123000+00:00",
        "finished_at": "2026-03-01T12:00:05.123000+00:00",  # the list has no finish time: the update
    }
    assert going.extra["finished_at"] is None and going.extra["changed_at"] == at(9)
    assert failed.extra["finished_at"] == at(58)  # a finish time, where given, wins


def test_remote_changed_runs_request_filters_end_date_and_finished_states_sorted_by_end():
    api = RemoteAirflowApi()
    for generation, root in (("v2", "api/v2"), ("v1", "api/v1")):
        request = api.changed_runs_request(generation, "my dag", ended_after=T0, page=200)
        assert request.path == f"{root}/dags/my%20dag/dagRuns"
        url = Endpoint("c", "http://h", {}).url(request)
        assert url.endswith(
            "?end_date_gte=2026-03-01T12%3A00%3A00.000Z&state=success&state=failed"
            "&order_by=end_date&limit=100&offset=200"
        )


def test_the_experimental_api_is_refused_before_any_request():
    with pytest.raises(ConfigurationError, match=r"experimental API.*cannot list DAG runs.*/api/v2"):
        RemoteAirflowApi().changed_runs_request("experimental", "etl", ended_after=T0)


@pytest.mark.parametrize(
    ("offset", "rows", "total", "expected"),
    [
        (0, 2, 2, None),  # all there
        (0, 2, 5, 2),  # the server held a smaller page than asked: go on from what it sent
        (100, 3, 103, None),
        (0, 0, 7, None),  # an empty page ends the read, whatever the total says
    ],
)
def test_remote_changed_runs_page_goes_on_from_the_rows_sent(offset, rows, total, expected):
    api = RemoteAirflowApi()
    request = api.changed_runs_request("v2", "etl", ended_after=T0, page=offset)
    body = {
        "dag_runs": [
            {
                "dag_run_id": f"r{i}",
                "state": "success",
                "end_date": "2026-03-01T12:00:07+00:00",
                "conf": {"i": i},
            }
            for i in range(rows)
        ],
        "total_entries": total,
    }
    result = api.parse_changed_runs(answer(request, body, {"date": DATE}), "v2", "etl")
    assert result.next_page == expected
    for i, listed in enumerate(result.runs):
        assert listed.ref == {"api": "v2", "dag_id": "etl", "dag_run_id": f"r{i}"}
        assert listed.url == f"http://h/base/dags/etl/runs/r{i}"
        assert listed.extra["conf"] == {"i": i} and listed.extra["finished_at"] == at(7)


# -- the cursor ----------------------------------------------------------------------------------


def test_cursor_moves_to_the_latest_change_of_a_single_page():
    assert next_cursor(
        T0, [page(run("1", RunState.SUCCESS, 5), run("2", RunState.RUNNING, 9))]
    ) == T0 + timedelta(seconds=9)


def test_cursor_after_several_pages_moves_only_as_far_as_the_first_page_reached():
    first = page(run("1", RunState.SUCCESS, 5), run("2", RunState.SUCCESS, 6), next_page=2)
    second = page(run("3", RunState.SUCCESS, 50))
    assert next_cursor(T0, [first, second]) == T0 + timedelta(seconds=6)


def test_cursor_never_moves_back_and_never_past_the_vendors_clock():
    assert next_cursor(T0 + timedelta(seconds=60), [page(run("1", RunState.SUCCESS, 5))]) == T0 + timedelta(
        seconds=60
    )
    assert next_cursor(T0, [page(clock=-30)]) == T0 - timedelta(seconds=30)  # our clock ran ahead
    assert next_cursor(T0, [page(run("1", RunState.RUNNING, None))]) == T0  # no time, no move


# -- the watch -----------------------------------------------------------------------------------


def test_a_watch_begins_after_the_runs_already_over_at_its_first_read():
    snapshot = Snapshot((run("1", RunState.FAILED, 40, 40), run("2", RunState.RUNNING, 45)), T0, T0)
    assert Watch.begin(T0 - timedelta(seconds=5), snapshot).since == T0 + timedelta(seconds=40)
    quiet = Snapshot((), T0, None)  # no Date header: our clock when the read was sent
    assert Watch.begin(T0 - timedelta(seconds=5), quiet).since == T0 - timedelta(seconds=5)


@pytest.mark.parametrize(
    ("candidate", "due"),
    [
        (run("a", RunState.SUCCESS, 20, 20), True),
        (run("b", RunState.FAILED, 20, 20), False),  # not a watched state
        (run("c", RunState.SUCCESS, 10, 10), False),  # ended when the watch began
        (run("d", RunState.SUCCESS, 5, 5), False),  # ended before
        (run("e", RunState.RUNNING, 30), False),  # not ended
        (run("f", RunState.SUCCESS, 20, 20), False),  # fired already
    ],
)
def test_a_run_is_due_once_when_it_ended_in_a_watched_state_after_the_watch_began(candidate, due):
    watch = Watch(since=T0 + timedelta(seconds=10), cursor=T0, fired={"f": at(20)})
    assert watch.is_due(candidate, frozenset({RunState.SUCCESS})) is due


def test_a_watch_remembers_the_newest_fired_runs_and_survives_json():
    watch = Watch(since=T0, cursor=T0)
    for i in range(FIRED_KEPT + 5):
        watch.record(run(str(i), RunState.SUCCESS, i, i))
    assert len(watch.fired) == FIRED_KEPT and "4" not in watch.fired and str(FIRED_KEPT + 4) in watch.fired
    stored = json.loads(json.dumps(watch.to_json()))
    assert Watch.from_json(stored) == watch
    for bad in (None, "x", {"v": 99}, {"v": 1, "since": "nonsense", "cursor": at(0), "fired": []}):
        assert Watch.from_json(bad) is None


def test_watches_of_several_assets_merge_into_the_earliest_and_every_fired_run():
    one = Watch(T0, T0 + timedelta(seconds=9), {"a": at(1)})
    two = Watch(T0 + timedelta(seconds=5), T0 + timedelta(seconds=3), {"b": at(2)})
    merged = Watch.merged([one, two])
    assert (merged.since, merged.cursor, set(merged.fired)) == (T0, T0 + timedelta(seconds=3), {"a", "b"})


# -- the watchers' arguments ---------------------------------------------------------------------


@needs_airflow3
def test_kwargs_are_plain_json_and_the_same_for_the_same_watch():
    from airflow.triggers.base import BaseEventTrigger

    one = DataOpsPipelineEventTrigger(
        project=4242, ref="main", states=["failed", "success"], poll_interval=30
    )
    two = DataOpsPipelineEventTrigger(
        project="4242", ref="main", states=("success", "failed", "success"), poll_interval=30.0
    )
    path, kwargs = one.serialize()
    assert (path, kwargs) == two.serialize()
    assert kwargs == {
        "dataops_conn_id": "dataops_default",
        "project": "4242",
        "ref": "main",
        "source": None,
        "states": ["failed", "success"],
        "poll_interval": 30.0,
    }
    rebuilt = DataOpsPipelineEventTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (path, kwargs)
    # Airflow identifies a watcher by this hash: the same watch never replaces itself
    assert BaseEventTrigger.hash(path, kwargs) == BaseEventTrigger.hash(*two.serialize())
    assert one.watch_key() == two.watch_key() != DataOpsPipelineEventTrigger(project="4242").watch_key()
    remote = RemoteDagRunEventTrigger(dag_id="etl", states=["success"])
    assert remote.serialize() == (
        "airflow_provider_pipelines.triggers.events.RemoteDagRunEventTrigger",
        {
            "remote_airflow_conn_id": "remote_airflow_default",
            "dag_id": "etl",
            "states": ["success"],
            "poll_interval": 60.0,
        },
    )
    assert isinstance(one, BaseEventTrigger) and isinstance(remote, BaseEventTrigger)


@needs_airflow3
def test_watchers_on_one_connection_project_and_interval_share_a_poll_whatever_their_ref_or_states():
    key = DataOpsPipelineEventTrigger(project="p", ref="main").shared_stream_key()
    assert (
        key
        == DataOpsPipelineEventTrigger(
            project="p", ref="dev", states=["failed"], source="push"
        ).shared_stream_key()
    )
    assert key != DataOpsPipelineEventTrigger(project="q", ref="main").shared_stream_key()
    assert key != DataOpsPipelineEventTrigger(project="p", ref="main", poll_interval=30).shared_stream_key()
    assert key != DataOpsPipelineEventTrigger(dataops_conn_id="other", project="p").shared_stream_key()
    remote = RemoteDagRunEventTrigger(dag_id="etl").shared_stream_key()
    assert remote == RemoteDagRunEventTrigger(dag_id="etl", states=["failed"]).shared_stream_key() != key


DATAOPS_STATES = r"\['cancelled', 'failed', 'skipped', 'success'\]"


@needs_airflow3
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DataOpsPipelineEventTrigger(project=""), "project"),
        (lambda: DataOpsPipelineEventTrigger(project="p", ref=""), "ref must be a non-empty string or None"),
        (
            lambda: DataOpsPipelineEventTrigger(project="p", states=["running"]),
            f"states must be among {DATAOPS_STATES}, got 'running'",
        ),
        (lambda: DataOpsPipelineEventTrigger(project="p", states=[]), "states must be a non-empty list"),
        (lambda: DataOpsPipelineEventTrigger(project="p", poll_interval=0), "poll_interval must be more"),
        (
            lambda: RemoteDagRunEventTrigger(dag_id="etl", states=["cancelled"]),
            r"states must be among \['failed', 'success'\]",
        ),
        (lambda: RemoteDagRunEventTrigger(dag_id=None), "dag_id must be a non-empty string"),
        (lambda: RemoteDagRunEventTrigger(remote_airflow_conn_id="", dag_id="etl"), "conn_id must be"),
    ],
)
def test_bad_arguments_fail_when_the_dag_file_is_parsed(make, message):
    with pytest.raises(ConfigurationError, match=message):
        make()


@needs_airflow3
def test_payloads_are_plain_json_with_the_vendors_facts():
    dataops = DataOpsPipelineEventTrigger(project="p", ref="main")
    pipeline = RemoteRun(
        "dataops", {"project": "p", "pipeline_id": "11"}, "11", RunState.SUCCESS, "success", "http://h/11",
        extra={"ref": "main", "sha": "abc", "source": "push", "finished_at": at(5), "changed_at": at(5)},
    )  # fmt: skip
    assert json.loads(json.dumps(dataops.payload(pipeline))) == {
        "vendor": "dataops",
        "run_id": "11",
        "state": "success",
        "vendor_status": "success",
        "url": "http://h/11",
        "finished_at": at(5),
        "project": "p",
        "ref": "main",
        "sha": "abc",
        "source": "push",
    }
    remote = RemoteDagRunEventTrigger(dag_id="etl")
    dag_run = RemoteRun(
        "remote_airflow", {"api": "v2", "dag_id": "etl", "dag_run_id": "r1"}, "r1", RunState.FAILED, "failed",
        extra={"conf": {"day": "2026-03-01"}, "logical_date": None, "finished_at": at(9)},
    )  # fmt: skip
    assert remote.payload(dag_run) == {
        "vendor": "remote_airflow", "run_id": "r1", "state": "failed", "vendor_status": "failed", "url": None,
        "finished_at": at(9), "dag_id": "etl", "logical_date": None, "conf": {"day": "2026-03-01"},
    }  # fmt: skip


def test_on_airflow_2_the_watchers_say_they_need_airflow_3():
    """Run by both CI jobs: Airflow 3 builds the watcher, Airflow 2.11 refuses it with the reason."""
    if HAS_EVENT_TRIGGERS:
        assert DataOpsPipelineEventTrigger(project="p").project == "p"
        return
    for make in (
        lambda: DataOpsPipelineEventTrigger(project="p"),
        lambda: RemoteDagRunEventTrigger(dag_id="d"),
    ):
        with pytest.raises(ConfigurationError, match=r"needs Airflow 3\.0 or later"):
            make()


def test_importing_the_event_triggers_in_a_dag_file_loads_no_http_library_hook_or_api_module():
    code = "\n".join(
        [
            "import sys",
            "try:\n    import airflow.sdk\nexcept ImportError:\n    import airflow",
            "import airflow.triggers.base",
            "before = set(sys.modules)",
            "import airflow_provider_pipelines.triggers.events",
            "new = set(sys.modules) - before",
            "print(sorted(m for m in new if m.split('.')[0] in {'requests', 'aiohttp', 'urllib3', 'tenacity'}"
            " or m.startswith(('airflow_provider_pipelines.hooks', 'airflow_provider_pipelines.apis',"
            " 'airflow_provider_pipelines.http'))))",
        ]
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@needs_airflow3
def test_a_run_another_instance_of_the_watcher_fired_is_not_fired_again():
    """While Airflow hands a watcher to another triggerer both may run it for a moment: the one that
    comes second reads the stored watch first, and keeps what each fired."""
    import asyncio

    from airflow_provider_pipelines.triggers.events import WatchStore

    class Accessor:  # what Airflow 3.3's triggerer gives a watcher: aget/aset on the asset's store
        def __init__(self) -> None:
            self.values: dict[str, object] = {}

        async def aget(self, key: str, default: object = None) -> object:
            return json.loads(json.dumps(self.values.get(key, default)))

        async def aset(self, key: str, value: object) -> None:
            self.values[key] = value

    trigger = DataOpsPipelineEventTrigger(project="p")
    store = WatchStore(trigger.watch_key(), Accessor())
    ours = Watch(since=T0, cursor=T0)
    theirs = Watch(since=T0, cursor=T0, fired={"7": at(30)})
    done, new = run("7", RunState.SUCCESS, 30, 30), run("8", RunState.SUCCESS, 40, 40)

    async def scenario() -> tuple[object, object, Watch | None]:
        await store.save(theirs)
        skipped = await trigger._fire(store, ours, done)
        fired = await trigger._fire(store, ours, new)
        return skipped, fired, await store.load()

    skipped, fired, stored = asyncio.run(scenario())
    assert skipped is None and isinstance(fired, dict) and fired["run_id"] == "8"
    assert stored is not None and set(stored.fired) == {"7", "8"}
