"""Chaos run: hundreds of remote runs across the four vendors, with random durations, outcomes
and injected faults, all waited on at once through the real trigger code in one event loop,
as in a triggerer.

The DataOps.live and remote Airflow waits go through the coalesced poller: its list endpoints
get faults too (5xx, 429, dropped connections, HTML pages), and some runs leave the list window
while they run (``SandboxClient.age_out``): each must still end with its true outcome.

The seed is printed (and can be set with CHAOS_SEED) so that a failure can be replayed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_pipelines.errors import RunFailedError
from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.lifecycle import RunEvent, complete_from_event
from airflow_provider_pipelines.runs import RemoteRun, RunState
from airflow_provider_pipelines.triggers.runs import RemoteRunTrigger

pytestmark = pytest.mark.resilience

RUNS = 200
HOOKS = {
    "dataform": DataformHook,
    "profitbase": ProfitbaseHook,
    "dataops": DataOpsHook,
    "remote_airflow": RemoteAirflowHook,
}
FLOWS = [
    "2b081248-4963-43b3-ba06-5b7403d58b4d",
    "6f1c2d3e-0000-4000-8000-000000000001",
    "6f1c2d3e-0000-4000-8000-000000000002",
]
REMOTE_DAGS = ["etl", "report"]
OUTCOMES = {
    "dataform": ["SUCCESSFUL", "FAILED", "CANCELLED", "TIMED_OUT"],
    "profitbase": ["Succeeded", "Failed"],
    "dataops": ["success", "failed", "canceled"],
    "remote_airflow": ["success", "failed"],
}
#: the status-read path of each vendor, where faults are injected
READS = {
    "dataform": r"^/dataform/v1/project/[^/]+/run/\d+$",
    "profitbase": r"/status$",
    "dataops": r"/pipelines/\d+$",
    "remote_airflow": r"/dagRuns/[^/]+$",
}
#: the list each coalesced poller reads (triggers/poller.py), where faults are injected too
LISTS = {
    "dataops": r"^/dataops/api/v4/projects/.+/pipelines$",
    "remote_airflow": r"^/remote_airflow/api/v2/dags/~/dagRuns$",
}
LIST_FAULTS = [
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 503},
    {"kind": "status", "status": 429, "headers": {"Retry-After": "1"}},
    {"kind": "html", "status": 502},
    {"kind": "drop"},
]
FAULTS = [
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 502},
    {"kind": "status", "status": 503},
    {"kind": "status", "status": 504},
    {"kind": "status", "status": 429, "headers": {"Retry-After": "1"}},
    {"kind": "html", "status": 502},
    {"kind": "drop"},
    {"kind": "delay", "seconds": 6.0},  # beyond the 5 s request timeout of the sandbox connections
]


def _keys(vendor: str) -> list[str]:
    if vendor == "profitbase":
        return FLOWS
    if vendor == "remote_airflow":
        return REMOTE_DAGS
    return [f"chaos-{vendor}-{i}" for i in range(8)]


def _start(vendor: str, key: str, n: int) -> RemoteRun:
    if vendor == "dataform":
        return DataformHook().start_run("1234", schedule_name=key)
    if vendor == "profitbase":
        return ProfitbaseHook().start_data_flow(key)
    if vendor == "dataops":
        return DataOpsHook().start_pipeline(
            "acme/analytics/snowflake-pipelines", "main", {"_PIPELINE_FILE_NAME": key}, marker=f"chaos-{n}"
        )
    return RemoteAirflowHook().trigger_dag_run(key, dag_run_id=f"chaos_{n}")


def _task_outcome(vendor: str, run: RemoteRun, event: RunEvent, logger: logging.Logger) -> str:
    """What the deferred task would end as: execute_complete's decision on the trigger's event."""
    try:
        returned = complete_from_event(HOOKS[vendor](), event.to_payload(), False, logger)
    except RunFailedError as exc:
        assert run.run_id in str(exc)  # the failure names the run: it is not lost
        return "failed"
    assert returned == run.run_id
    return "success"


def _inject_faults(client, rng: random.Random) -> Counter[str]:
    """Faults on the vendors' status reads, and on the coalesced pollers' lists; what was planned."""
    injected: Counter[str] = Counter()
    for _ in range(RUNS // 2):
        vendor = rng.choice(sorted(READS))
        fault = dict(rng.choice(FAULTS))
        fault["times"] = rng.randint(1, 3)
        client.fault(path=READS[vendor], method="GET", **fault)
        injected[f"{fault['kind']} {fault.get('status', '')}".strip()] += fault["times"]
    for _ in range(RUNS // 8):
        vendor = rng.choice(sorted(LISTS))
        fault = dict(rng.choice(LIST_FAULTS))
        fault["times"] = rng.randint(1, 4)
        client.fault(path=LISTS[vendor], method="GET", **fault)
        injected[f"list {fault['kind']} {fault.get('status', '')}".strip()] += fault["times"]
    return injected


@pytest.mark.timeout(180)  # the bound for the whole run, on 2 cores
def test_chaos_every_outcome_true_no_duplicate_start_no_run_lost(client, caplog):
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1_000_000))
    print(f"\nchaos seed: {seed} (replay with CHAOS_SEED={seed})")
    rng = random.Random(seed)
    began = time.monotonic()

    # plans: each key of each vendor gets a random duration and outcome
    expected_word: dict[tuple[str, str], str] = {}
    for vendor, words in OUTCOMES.items():
        for key in _keys(vendor):
            word = rng.choice(words)
            client.plan(vendor, key, duration=rng.uniform(2.0, 25.0), outcome=word)
            expected_word[(vendor, key)] = word

    # ambiguous starts where the vendor lets a start be found again: the vendor acts, the answer
    # is lost; the hook must re-attach rather than start a second run
    for path in (r"^/dataops/.*/pipeline$", r"^/remote_airflow/.*/dagRuns$"):
        client.fault("accept_then_drop", path, method="POST", times=3)

    # start the runs (the operators' part), then inject faults on the status reads
    started: list[tuple[str, str, RemoteRun]] = []
    for n in range(RUNS):
        vendor = rng.choice(sorted(OUTCOMES))
        key = rng.choice(_keys(vendor))
        started.append((vendor, key, _start(vendor, key, n)))
    injected = _inject_faults(client, rng)
    # some runs drop out of the lists while they run (as runs quiet for longer than the window)
    listed = [(v, run) for v, _, run in started if v in LISTS]
    aged = rng.sample(listed, k=len(listed) // 10)
    for vendor, run in aged:
        client.age_out(vendor, run.run_id)

    # wait on every run at once, through the trigger, in one event loop
    now = datetime.now(timezone.utc)

    async def wait_all() -> list[RunEvent]:
        async def one(run: RemoteRun, conn_id: str) -> RunEvent:
            trigger = RemoteRunTrigger(
                vendor=run.vendor,
                conn_id=conn_id,
                ref=run.ref,
                run_id=run.run_id,
                deadline=now + timedelta(seconds=120),
                poll_interval=1.0,
                started_at=now,
                run_url=run.url,
            )
            async for event in trigger.run():
                return RunEvent.parse(event.payload)
            raise AssertionError("no event")

        return await asyncio.gather(*(one(run, HOOKS[v].default_conn_name) for v, _, run in started))

    events = asyncio.run(wait_all())

    # every outcome is the vendor's final state, and nothing was started twice or lost; the task's
    # outcome is decided as execute_complete decides it, from the event the trigger sent
    outcomes: Counter[str] = Counter()
    task_log = logging.getLogger("chaos.task")
    for (vendor, key, run), event in zip(started, events, strict=True):
        want = HOOKS[vendor].api_class.statuses.classify(expected_word[(vendor, key)])
        assert event.status == "finished", (seed, vendor, run.run_id, event)
        assert event.run is not None and event.run.run_id == run.run_id
        assert event.run.state is want, (seed, vendor, key, event.run)
        task = _task_outcome(vendor, run, event, task_log)
        assert task == ("success" if want is RunState.SUCCESS else "failed"), (seed, vendor, key, task)
        outcomes[f"{vendor}:{want.value}"] += 1
    log = client.requests()
    starts = Counter(
        r["vendor"]
        for r in log
        if r["method"] == "POST" and "/_sandbox" not in r["path"] and not r["path"].endswith("/auth/token")
    )
    assert sum(len(client.runs(v)) for v in OUTCOMES) == RUNS, "a duplicate or missing start"
    assert len({(v, run.run_id) for v, _, run in started}) == RUNS
    seen_faults = Counter(r["fault"] for r in log if r["fault"])
    print(f"chaos: {RUNS} runs in {time.monotonic() - began:.1f}s; starts by vendor {dict(starts)}")
    print(f"chaos: faults planned {dict(injected)}; faults served {dict(seen_faults)}")
    reads = sum(1 for r in log if r["method"] == "GET")
    listing = [r for r in log if any(re.search(p, r["path"].split("?")[0]) for p in LISTS.values())]
    lists = len(listing)
    retries = caplog.text.count("; retrying in ")
    print(f"chaos: status requests {reads} ({lists} coalesced lists); {len(aged)} runs aged out of the lists")
    print(f"chaos: retries {retries}; outcomes {dict(sorted(outcomes.items()))}")
    print(
        f"chaos summary: seed {seed}, {RUNS} runs, {sum(seen_faults.values())} faults served, "
        f"{retries} retries, {sum(starts.values())} start requests for {RUNS} runs, 0 lost, "
        f"{time.monotonic() - began:.0f}s"
    )
    assert sum(seen_faults.values()) > 0
    assert [r for r in listing if r["fault"]], "no fault reached a coalesced list"
