"""The request budget against the sandbox's rate-limit mode (GitLab's 429 + RateLimit-* headers).

Triggers run together in one event loop, as in a triggerer, and share one budget per
connection; a worker's hook keeps to the vendor's limit within its process. Runs are
started before the limit is switched on, so that only the waits count against it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.testing.connections import FAST_EXTRAS
from airflow_provider_pipelines.testing.fakes.dataops import FakeDataOps
from tests.test_trigger_shared import all_events
from tests.triggering import make_trigger

PATH = "acme/analytics/snowflake-pipelines"
BUDGET_LOG = "airflow_provider_pipelines.budget"


def dataops_connection(monkeypatch, sandbox, conn_id: str, **extras: Any) -> str:
    conn = {
        "conn_type": "dataops_live",
        "host": sandbox.vendor_url("dataops"),
        "password": FakeDataOps.token,
        "extra": {**FAST_EXTRAS, **extras},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def refused(client) -> int:
    return sum(1 for r in client.requests("dataops") if r["status"] == 429)


def start_many(n: int) -> list[Any]:
    """Runs started through the default connection: the connection under test is the triggers' alone."""
    hook = DataOpsHook()
    return [hook.start_pipeline(PATH, "main", {}, marker=f"budget-{i}") for i in range(n)]


def test_the_budget_keeps_200_triggers_on_one_connection_under_the_limit(
    client, sandbox, monkeypatch, caplog
):
    # 720 a minute: a burst of 72, then one every 0.093 s, so at most 180 in any 10 s
    cid = dataops_connection(monkeypatch, sandbox, "dataops_budgeted", max_requests_per_minute=720)
    client.plan("dataops", "main", duration=1.0, outcome="success")
    runs = start_many(200)
    # 200 per 10 s, told only in the 429s: the budget alone has to keep to it
    client.rate_limit(200, window=10, announce=False, vendors=["dataops"])
    with caplog.at_level(logging.INFO, logger=BUDGET_LOG):
        events = all_events([make_trigger(run, cid, seconds=120, poll=0.5) for run in runs], limit=150)
    assert {(e.status, e.run.state.value) for e in events} == {("finished", "success")}
    reads = [r for r in client.requests("dataops") if r["method"] == "GET"]
    assert len(reads) >= 200 and refused(client) == 0
    slowed = [r.getMessage() for r in caplog.records if "slowed down" in r.getMessage()]
    assert len(slowed) == 1, slowed  # once, not per request
    assert "'dataops_budgeted'" in slowed[0] and "max_requests_per_minute (720) is reached" in slowed[0]


@pytest.mark.parametrize(("announce", "expect_429"), [(True, False), (False, True)])
def test_without_a_budget_the_ratelimit_headers_alone_avoid_429s(
    client, sandbox, monkeypatch, caplog, announce, expect_429
):
    """GitLab's headers on every answer are enough; without them (the control) the limit bites.

    Per-run polling (the load of vendors that cannot list runs): the coalesced poller would keep
    these waits far below the limit, see the next test."""
    monkeypatch.setenv("PIPELINES_POLLING", "per-run")
    cid = dataops_connection(monkeypatch, sandbox, f"dataops_headers_{announce}".lower())
    client.plan("dataops", "main", duration=6.0, outcome="success")
    runs = start_many(200)
    # the first round of 200 reads fits; polling every 0.5 s wants 4,000 in a window of 10 s
    client.rate_limit(300, window=10, announce=announce, vendors=["dataops"])
    with caplog.at_level(logging.INFO, logger=BUDGET_LOG):
        events = all_events([make_trigger(run, cid, seconds=120, poll=0.5) for run in runs], limit=150)
    # slowed down, never failed: with or without the headers every wait ends with the run's end
    assert {(e.status, e.run.state.value) for e in events} == {("finished", "success")}
    if expect_429:
        assert refused(client) > 0
    else:
        assert refused(client) == 0
        slowed = [r.getMessage() for r in caplog.records if "slowed down" in r.getMessage()]
        assert len(slowed) == 1 and "RateLimit-Remaining" in slowed[0], slowed


def test_coalesced_waits_stay_under_the_limit_that_per_run_polling_breaks(client, sandbox, monkeypatch):
    """The control above, coalesced: the same 200 waits and limit, no headers, no budget."""
    cid = dataops_connection(monkeypatch, sandbox, "dataops_coalesced_limit")
    # 15 s, so that the 200 first reads and the 200 reads that confirm the ends fall in two windows
    client.plan("dataops", "main", duration=15.0, outcome="success")
    runs = start_many(200)
    client.rate_limit(300, window=10, announce=False, vendors=["dataops"])
    events = all_events([make_trigger(run, cid, seconds=120, poll=0.5) for run in runs], limit=150)
    assert {(e.status, e.run.state.value) for e in events} == {("finished", "success")}
    assert refused(client) == 0
    lists = [r for r in client.requests("dataops") if r["method"] == "GET" and "updated_after" in r["path"]]
    reads = [
        r for r in client.requests("dataops") if r["method"] == "GET" and "updated_after" not in r["path"]
    ]
    # each wait reads its run itself twice (its first state, and its end to confirm); one list serves the rest
    assert len(lists) >= 3 and len(reads) <= 2 * len(runs) + 20, (len(lists), len(reads))


def test_a_worker_keeps_its_starts_and_reads_within_the_vendors_announced_limit(client, sandbox, monkeypatch):
    cid = dataops_connection(monkeypatch, sandbox, "dataops_worker")
    client.plan("dataops", "main", duration=0.5, outcome="success")
    client.rate_limit(10, window=2, vendors=["dataops"])
    hook = DataOpsHook(cid)
    runs = [hook.start_pipeline(PATH, "main", {}, marker=f"worker-{i}") for i in range(12)]
    reads = [hook.get_run(run.ref) for run in runs for _ in range(2)]
    assert len({run.run_id for run in runs}) == 12 and len(client.runs("dataops")) == 12  # no start twice
    assert len(reads) == 24 and refused(client) == 0


def test_a_worker_honours_the_connections_cap_and_says_so_once(client, sandbox, monkeypatch, caplog):
    cid = dataops_connection(monkeypatch, sandbox, "dataops_worker_cap", max_requests_per_minute=600)
    client.plan("dataops", "main", duration=60, outcome="success")
    hook = DataOpsHook(cid)
    run = hook.start_pipeline(PATH, "main", {}, marker="worker-cap")
    with caplog.at_level(logging.INFO, logger=BUDGET_LOG):
        reads = [hook.get_run(run.ref) for _ in range(80)]  # a burst of 60 goes; the rest are spaced
    assert all(r.state.value == "running" for r in reads)
    slowed = [r.getMessage() for r in caplog.records if "slowed down" in r.getMessage()]
    assert len(slowed) == 1 and "'dataops_worker_cap'" in slowed[0], slowed
