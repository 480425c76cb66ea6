"""End to end in a real Airflow 3 cluster: runs that end in the sandbox start the DAGs scheduled on
the watched assets, once each, with the payload in the run.

The session's cluster (``tests/conftest.py``) parses ``tests/event_dags/``: three watchers on one
DataOps.live project (refs main, develop, staging) and one on the fake remote Airflow's DAG
``etl``, each polling every 2 s, and the DAGs they schedule, which return the payloads of the
events that started them. Those DAGs are paused at creation, so that their watchers poll only
while this module runs (a watcher exists only while a DAG scheduled on its asset is unpaused):
elsewhere they would put requests into other tests' sandbox logs. Runs planned to last an hour
are ended on demand (``SandboxClient.finish``), which gives the moment each run ended, on the
sandbox's clock, to measure the time until the downstream DAG run started.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.isotime import parse_iso
from tests.real_airflow import RealAirflow

pytestmark = [pytest.mark.airflow3_only, pytest.mark.cluster]

POLL = 2.0  # the watchers' poll_interval in event_dags/events_e2e.py
PROJECT = "acme/public-demo"
ENCODED = "acme%2Fpublic-demo"
DOWNSTREAM = ("e2e_on_dataops_main", "e2e_on_dataops_other_refs", "e2e_on_remote_etl")
TRIGGERERS = ("triggerer-1", "triggerer-2")
LIMIT = 180.0
#: figures measured by the tests, printed at the end of the module
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def watching(cluster: RealAirflow, sandbox) -> Iterator[RealAirflow]:
    """The session's cluster with this module's watchers running (their DAGs unpaused)."""
    client = sandbox.client
    client.reset()
    for ref in ("main", "develop", "staging"):
        client.plan("dataops", ref, duration=3600)  # pipelines go on until a test ends them
    client.plan("remote_airflow", "etl", duration=3600)
    set_paused(cluster, False)
    try:
        wait_for(lambda: watchers_began(client), "every watcher's first list read", cluster)
        wait_for(lambda: settled(cluster), "the watchers settled on one triggerer each", cluster)
        yield cluster
    finally:
        set_paused(cluster, True)
        wait_for(lambda: quiet(client), "the watchers stopped", cluster)
        for name, value in FIGURES.items():
            print(f"e2e events: {name}: {value}")


def set_paused(cluster: RealAirflow, paused: bool) -> None:
    """Pause or unpause the downstream DAGs, and have their file parsed again now: Airflow starts
    (or stops) the watchers of their assets when it parses the file."""
    for dag_id in DOWNSTREAM:
        api(cluster, "PATCH", f"dags/{dag_id}?update_mask=is_paused", {"is_paused": paused})
    token = api(cluster, "GET", f"dags/{DOWNSTREAM[0]}/details")["file_token"]
    api(cluster, "PUT", f"parseDagFile/{token}")


def api(cluster: RealAirflow, method: str, path: str, body: Any = None) -> Any:
    """One API call, tried again while the API server fails (SQLite busy with another writer, or
    too slow to answer, on a loaded machine)."""
    answer: list[Any] = []
    wait_for(lambda: answer.append(cluster.api(method, path, body)) or True, f"{method} {path}", cluster)
    return answer[0]


WATCHER_MOVES = re.compile(r"^(\S+) .*trigger (?:ID \d+ starting|completed)")


def settled(cluster: RealAirflow, seconds: float = 15.0) -> bool:
    """True once no triggerer has started or stopped a watcher for ``seconds``. Right after watchers
    appear (or triggerers start), Airflow may run one on both triggerers for a few seconds before it
    settles; the requests per minute are measured after that."""
    moves = [
        parse_iso(m.group(1)).timestamp()
        for name in TRIGGERERS
        for line in (cluster.base / f"{name}.log").read_text(errors="replace").splitlines()
        if (m := WATCHER_MOVES.match(line))
    ]
    return bool(moves) and time.time() - max(moves) > seconds


def quiet(client, seconds: float = 4 * POLL) -> bool:
    """True once no watcher has asked the sandbox anything for ``seconds``."""
    reads = list_reads(client, "dataops") + list_reads(client, "remote_airflow")
    return not reads or time.time() - max(r["t"] for r in reads) > seconds


def wait_for(condition: Callable[[], Any], what: str, cluster: RealAirflow, limit: float = LIMIT) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:  # an API server slow to answer (a timeout) or failing (500) on a busy machine
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not within {limit:g}s: {what}\n{cluster.log_tails(60)}")


def list_reads(client, vendor: str) -> list[dict[str, Any]]:
    marker = f"/projects/{ENCODED}/pipelines?" if vendor == "dataops" else "/dags/etl/dagRuns?"
    return [r for r in client.requests(vendor) if marker in r["path"] and r["status"] == 200]


def watchers_began(client) -> bool:
    paths = [r["path"] for r in list_reads(client, "dataops")]
    refs = all(any(f"ref={ref}" in p for p in paths) for ref in ("main", "develop", "staging"))
    return refs and bool(list_reads(client, "remote_airflow"))


def dag_runs(cluster: RealAirflow, dag_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = api(cluster, "GET", f"dags/{dag_id}/dagRuns?order_by=run_after")["dag_runs"]
    return runs


def finished_run(cluster: RealAirflow, dag_id: str, count: int) -> dict[str, Any]:
    """The ``count``-th run of ``dag_id``, once it has ended."""

    def ended() -> dict[str, Any] | None:
        runs = dag_runs(cluster, dag_id)
        done = len(runs) >= count and runs[count - 1]["state"] in ("success", "failed")
        return runs[count - 1] if done else None

    run = wait_for(ended, f"run {count} of {dag_id} ended", cluster)
    assert run["state"] == "success", cluster.log_tails(60)
    return run


def returned(cluster: RealAirflow, dag_id: str, run: dict[str, Any], task_id: str) -> Any:
    path = f"dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/{task_id}/xcomEntries/return_value"
    return api(cluster, "GET", path + "?deserialize=true")["value"]


def asset_events(cluster: RealAirflow, asset: str) -> int:
    (found,) = api(cluster, "GET", f"assets?name_pattern={asset}")["assets"]
    total: int = api(cluster, "GET", f"assets/events?asset_id={found['id']}")["total_entries"]
    return total


def seconds_after(ended: float, run: dict[str, Any]) -> float:
    return parse_iso(run["start_date"]).timestamp() - ended


def start_pipeline(ref: str, marker: str) -> str:
    return DataOpsHook().start_pipeline(PROJECT, ref, {}, marker=marker).run_id


def settle(client, vendor: str, polls: int = 4) -> None:
    """Let the watchers poll a few more times (the run is listed again: it must not fire again)."""
    seen = len(list_reads(client, vendor))
    deadline = time.monotonic() + LIMIT
    while len(list_reads(client, vendor)) < seen + polls and time.monotonic() < deadline:
        time.sleep(0.5)


def test_watchers_on_one_project_share_one_list_request_per_poll(watching, sandbox):
    client = sandbox.client
    window = 30.0
    before = {v: len(list_reads(client, v)) for v in ("dataops", "remote_airflow")}
    time.sleep(window)
    per_minute = {v: (len(list_reads(client, v)) - before[v]) * 60 / window for v in before}
    FIGURES["list requests per minute, 3 watchers on one DataOps.live project (poll 2 s)"] = per_minute[
        "dataops"
    ]
    FIGURES["list requests per minute, 1 watcher on a remote DAG (poll 2 s)"] = per_minute["remote_airflow"]
    # one poll for the three watchers: at most one list request every 2 s (not three)
    assert 0 < per_minute["dataops"] <= 60 / POLL + 4
    assert 0 < per_minute["remote_airflow"] <= 60 / POLL + 4


def test_a_pipeline_that_succeeds_starts_the_downstream_dag_once_with_its_payload(watching, sandbox):
    cluster = watching
    client = sandbox.client
    pipeline = start_pipeline("main", "e2e-events-1")
    other = start_pipeline("develop", "e2e-events-2")
    ended = client.finish("dataops", pipeline, "success")
    client.finish("dataops", other, "failed")  # watched for success only: no run
    run = finished_run(cluster, "e2e_on_dataops_main", 1)
    FIGURES["seconds from a DataOps.live pipeline's end to the downstream run's start"] = round(
        seconds_after(ended, run), 1
    )
    (payload,) = returned(cluster, "e2e_on_dataops_main", run, "on_main")
    assert (payload["vendor"], payload["run_id"], payload["state"]) == ("dataops", pipeline, "success")
    assert (payload["project"], payload["ref"], payload["source"]) == (PROJECT, "main", "api")
    assert payload["url"].endswith(f"/-/pipelines/{pipeline}") and payload["finished_at"]
    settle(client, "dataops")
    assert len(dag_runs(cluster, "e2e_on_dataops_main")) == 1
    assert asset_events(cluster, "e2e_dataops_main") == 1
    assert dag_runs(cluster, "e2e_on_dataops_other_refs") == []


def test_a_remote_dag_run_that_succeeds_starts_the_downstream_dag_once_with_its_conf(watching, sandbox):
    cluster = watching
    client = sandbox.client
    RemoteAirflowHook().trigger_dag_run("etl", dag_run_id="e2e_events_1", conf={"day": "2026-03-01"})
    (sandbox_id,) = [
        r["run_id"] for r in client.runs("remote_airflow") if r["data"]["dag_run_id"] == "e2e_events_1"
    ]
    ended = client.finish("remote_airflow", sandbox_id, "success")
    run = finished_run(cluster, "e2e_on_remote_etl", 1)
    FIGURES["seconds from a remote DAG run's end to the downstream run's start"] = round(
        seconds_after(ended, run), 1
    )
    (payload,) = returned(cluster, "e2e_on_remote_etl", run, "on_remote")
    assert (payload["vendor"], payload["run_id"], payload["dag_id"]) == (
        "remote_airflow",
        "e2e_events_1",
        "etl",
    )
    assert payload["conf"] == {"day": "2026-03-01"} and payload["state"] == "success"
    settle(client, "remote_airflow")
    assert len(dag_runs(cluster, "e2e_on_remote_etl")) == 1
    assert asset_events(cluster, "e2e_remote_etl") == 1


def test_a_triggerer_restart_neither_repeats_an_event_nor_loses_one(watching, sandbox):
    """The watch is in the asset's state store: the new triggerers fire for the pipeline that ended
    while none ran the watcher, and not again for the one fired before the crash."""
    cluster, client = watching, sandbox.client
    missed = start_pipeline("main", "e2e-events-3")
    for name in TRIGGERERS:  # a crash of both: no goodbye, no cleanup
        cluster.signal_component(name, signal.SIGKILL)
    client.finish("dataops", missed, "success")  # while no triggerer runs the watcher
    for name in TRIGGERERS:  # they take the dead ones' watchers over after the health threshold
        cluster.start_triggerer(name)
    run = finished_run(cluster, "e2e_on_dataops_main", 2)
    (payload,) = returned(cluster, "e2e_on_dataops_main", run, "on_main")
    assert payload["run_id"] == missed
    settle(client, "dataops")
    assert len(dag_runs(cluster, "e2e_on_dataops_main")) == 2  # the first pipeline did not fire again
    assert asset_events(cluster, "e2e_dataops_main") == 2
