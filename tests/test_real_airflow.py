"""The operator against a REAL Airflow 3 remote: API server, scheduler and dag-processor on 127.0.0.1.

One remote is started for the whole test run (the ``real_airflow`` fixture in
``tests/conftest.py``, see ``tests/real_airflow.py``; its DAGs are in ``tests/remote_dags/``)
and stopped at the end. The operator runs in this process
through ``dag.test()``, with its own AIRFLOW_HOME; the connection ``remote_airflow_real``
holds the remote's admin login and password, so every call goes through ``/auth/token``,
whose tokens the remote lets expire after a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_pipelines.errors import ConflictError, RunTimeoutError
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.http import close_shared_sessions
from airflow_provider_pipelines.lifecycle import (
    PollSchedule,
    Waiter,
    deadline_from,
    handle_deadline,
    poll_in_worker,
    utcnow,
    wait_in_worker,
)
from airflow_provider_pipelines.runs import RunState
from tests.airflow_proxy import AirflowProxy
from tests.dagrun import HAS_TASK_STATE_STORE, run_dag
from tests.real_airflow import REAL_CONN, TOKEN_LIFETIME, RealAirflow

#: the remote is a real Airflow 3 (api-server and /api/v2); the 2.11 job leaves this module out
pytestmark = [pytest.mark.airflow3_only, pytest.mark.cluster]

CONN = REAL_CONN


@pytest.fixture
def hook(real_airflow: RealAirflow) -> RemoteAirflowHook:
    return RemoteAirflowHook("remote_airflow_real")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run_count(hook: RemoteAirflowHook, dag_id: str) -> int:
    return int(hook.request("GET", f"api/v2/dags/{dag_id}/dagRuns", params={"limit": "1"})["total_entries"])


@pytest.mark.parametrize("mode", ["poll", "defer"])
def test_success_passes_conf_through_and_links_the_run(airflow_db, real_airflow, hook, mode):
    conf = {"source": "real", "mode": mode, "numbers": [1, 2, 3]}
    outcome = run_dag(f"t_remote_real_{mode}", {"dag": "remote_echo", "remote_conf": conf})
    assert outcome.tasks == {"trigger": "success"}
    run_id = outcome.xcom[("trigger", "return_value")]
    # the default run id is this task instance's own: readable, and valid on the remote
    assert run_id.startswith(f"t_remote_real_{mode}.trigger__manual__")
    assert outcome.xcom[("trigger", "run_id")] == run_id
    assert outcome.xcom[("trigger", "run_url")] == f"{real_airflow.url}/dags/remote_echo/runs/{run_id}"
    echoed = hook.request(
        "GET", f"api/v2/dags/remote_echo/dagRuns/{run_id}/taskInstances/echo/xcomEntries/return_value"
    )
    assert echoed["value"] == conf


def test_failing_dag_fails_the_task_naming_the_failed_task(airflow_db, real_airflow, capfd):
    outcome = run_dag("t_remote_real_defer", {"dag": "remote_broken"})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"trigger": "failed"}
    assert "did not succeed: it ended failed: failed tasks of DAG remote_broken: explode (try 1)" in text
    assert "prepare" not in text.split("failed tasks of DAG remote_broken:")[1].splitlines()[0]


def test_second_trigger_with_the_same_run_id_reattaches_to_the_one_run(airflow_db, real_airflow, hook, capfd):
    dag_run_id = unique("reattach")
    before = run_count(hook, "remote_echo")
    scenario = {"dag": "remote_echo", "dag_run_id": dag_run_id}
    first = run_dag("t_remote_real_poll", {**scenario, "remote_conf": {"try": 1}})
    second = run_dag("t_remote_real_poll", {**scenario, "remote_conf": {"try": 2}})
    text = "".join(capfd.readouterr())
    assert first.tasks == second.tasks == {"trigger": "success"}
    assert first.xcom[("trigger", "return_value")] == second.xcom[("trigger", "return_value")] == dag_run_id
    assert run_count(hook, "remote_echo") == before + 1
    assert f"Run {dag_run_id} of DAG remote_echo already exists on the remote Airflow (success)" in text
    run = hook.get_run({"api": "v2", "dag_id": "remote_echo", "dag_run_id": dag_run_id})
    assert run.extra["conf"] == {"try": 1}  # the run the first trigger made, untouched


def test_a_retried_task_reattaches_to_the_run_its_first_try_triggered(airflow_db, real_airflow, hook, capfd):
    before = run_count(hook, "remote_echo")
    outcome = run_dag("t_remote_real_retry", {"dag": "remote_echo", "remote_conf": {"from": "try 1"}})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"trigger": "success"}
    run_id = outcome.xcom[("trigger", "return_value")]
    assert "the worker died after triggering the remote run (simulated)" in text
    if HAS_TASK_STATE_STORE:  # try 2 read the run back from the task_state_store and waited on it
        assert f"An earlier try of this task started Remote Airflow run {run_id}" in text
    else:  # try 2 sent the same (default, deterministic) run id, got 409, and waited on the first run
        assert f"Run {run_id} of DAG remote_echo already exists on the remote Airflow" in text
    assert run_count(hook, "remote_echo") == before + 1
    run = hook.get_run({"api": "v2", "dag_id": "remote_echo", "dag_run_id": run_id})
    assert run.state is RunState.SUCCESS and run.extra["conf"] == {"from": "try 1"}


def test_a_logical_date_held_by_another_run_fails_clearly(real_airflow, hook):
    when = (
        datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=uuid.uuid4().int % 100_000)
    ).isoformat()
    first = hook.trigger_dag_run("remote_echo", dag_run_id=unique("date-a"), logical_date=when)
    other = unique("date-b")
    try:
        expected = rf"HTTP 409.*no run '{other}'.*a run with logical date {re.escape(when)} already exists"
        with pytest.raises(ConflictError, match=expected):
            hook.trigger_dag_run("remote_echo", dag_run_id=other, logical_date=when)
    finally:
        hook.cancel_run(first)  # no need to run it


def test_login_gets_a_token_and_an_expired_token_is_renewed_sync_and_async(real_airflow, hook, caplog):
    ok, reason = hook.test_connection()
    assert ok, reason
    assert "a token from /auth/token for user 'admin'" in reason
    run = hook.trigger_dag_run("remote_sleepy", dag_run_id=unique("token"))
    async_hook = RemoteAirflowHook("remote_airflow_real")

    async def scenario():
        assert (await async_hook.aget_run(run.ref)).run_id == run.run_id  # a token of its own
        await asyncio.sleep(TOKEN_LIFETIME + 1.5)  # both tokens have expired now
        with caplog.at_level(logging.INFO, logger="airflow_provider_pipelines.http"):
            synced = hook.get_run(run.ref)
            awaited = await async_hook.aget_run(run.ref)
        await close_shared_sessions()
        return synced, awaited

    synced, awaited = asyncio.run(scenario())
    assert synced.run_id == awaited.run_id == run.run_id
    assert caplog.text.count("credential refused (HTTP 401); fetching a new one") == 2
    hook.cancel_run(run)


def test_a_pre_issued_token_alone_is_sent_as_bearer_and_a_bad_login_is_named(real_airflow, monkeypatch):
    long_lived = real_airflow.token("/auth/token/cli")
    monkeypatch.setenv(CONN, real_airflow.connection(login=None, password=long_lived))
    ok, reason = RemoteAirflowHook("remote_airflow_real").test_connection()
    assert ok and "with a Bearer token" in reason, reason
    monkeypatch.setenv(CONN, real_airflow.connection(password="not-the-password"))
    ok, reason = RemoteAirflowHook("remote_airflow_real").test_connection()
    assert not ok
    assert "HTTP 401" in reason and "login or password of connection 'remote_airflow_real' is wrong" in reason
    assert "not-the-password" not in reason


def test_deadline_marks_the_real_run_failed(airflow_db, real_airflow, hook, capfd):
    dag_run_id = unique("sleepy")
    outcome = run_dag("t_remote_real_timeout", {"dag": "remote_sleepy", "dag_run_id": dag_run_id})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"trigger": "failed"}
    assert f"Marked run {dag_run_id} of DAG remote_sleepy failed on the remote Airflow" in text
    assert "had not finished by the deadline" in text and "it was cancelled" in text
    run = hook.get_run({"api": "v2", "dag_id": "remote_sleepy", "dag_run_id": dag_run_id})
    assert run.state is RunState.FAILED


def test_a_paused_dag_is_unpaused_when_asked(airflow_db, real_airflow, hook, capfd):
    assert hook.request("GET", "api/v2/dags/remote_paused")["is_paused"] is True
    outcome = run_dag("t_remote_real_unpause", {"dag": "remote_paused"})
    text = "".join(capfd.readouterr())
    assert outcome.tasks == {"trigger": "success"}
    assert "DAG remote_paused was paused on the remote Airflow; unpaused it" in text
    assert hook.request("GET", "api/v2/dags/remote_paused")["is_paused"] is False


def test_the_remote_runs_in_an_airflow_home_of_its_own(real_airflow):
    assert os.environ["AIRFLOW_HOME"] != str(real_airflow.home)
    assert (real_airflow.home / "airflow.db").exists()


# -- waiting with one held request (GET …/dagRuns/{id}/wait, Airflow 3.1+) ------------------------------

HELD_LOG = logging.getLogger("tests.real_airflow.held")


@pytest.fixture
def proxied(real_airflow: RealAirflow, monkeypatch: pytest.MonkeyPatch) -> Iterator[AirflowProxy]:
    """The real remote behind a counting proxy that can cut or refuse held waits; connection
    ``remote_airflow_proxied`` goes through it."""
    with AirflowProxy(real_airflow.url) as proxy:
        monkeypatch.setenv("AIRFLOW_CONN_REMOTE_AIRFLOW_PROXIED", real_airflow.connection(host=proxy.url))
        yield proxy


def held_waiter(seconds: float = 150.0, schedule: PollSchedule | None = None) -> Waiter:
    now = utcnow()
    schedule = schedule or PollSchedule(300.0)  # the operators' default poll_interval
    return Waiter("Remote Airflow", schedule, deadline_from(seconds, now), now, HELD_LOG)


def reads(proxy: AirflowProxy, run_id: str) -> tuple[list[list], list[list]]:
    """(held waits, single reads) of one run that went through the proxy."""
    rows = [r for r in proxy.requests_to(f"/dagRuns/{run_id}") if r[0] == "GET"]
    return [r for r in rows if "/wait?" in r[1]], [r for r in rows if r[1].endswith(run_id)]


def test_a_held_wait_follows_a_real_run_to_success_with_one_request(proxied):
    hook = RemoteAirflowHook("remote_airflow_proxied")
    run = hook.trigger_dag_run("remote_echo", dag_run_id=unique("held"), conf={"held": True})
    final = wait_in_worker(hook, run, held_waiter())
    assert final.state is RunState.SUCCESS
    waits, single = reads(proxied, run.run_id)
    assert [w[2] for w in waits] == [200] and single == []
    # the same DAG waited on by polling, for the figures
    polled = hook.trigger_dag_run("remote_echo", dag_run_id=unique("polled"))
    assert poll_in_worker(hook, polled, held_waiter()).state is RunState.SUCCESS
    polled_waits, polled_reads = reads(proxied, polled.run_id)
    assert polled_waits == [] and len(polled_reads) >= 1
    print(f"\nrequests per remote_echo run: held {len(waits)}, polled {len(polled_reads)}")


def test_a_held_wait_sees_a_real_run_fail_and_names_the_failed_task(proxied):
    hook = RemoteAirflowHook("remote_airflow_proxied")
    run = hook.trigger_dag_run("remote_broken", dag_run_id=unique("held-broken"))
    final = wait_in_worker(hook, run, held_waiter())
    assert final.state is RunState.FAILED
    assert hook.explain_failure(final)[0] == "failed tasks of DAG remote_broken: explode (try 1)"
    assert len(reads(proxied, run.run_id)[0]) == 1


def test_a_held_wait_cut_by_the_network_is_opened_again(proxied, caplog):
    hook = RemoteAirflowHook("remote_airflow_proxied")
    proxied.cuts, proxied.cut_after = 1, 1.0
    run = hook.trigger_dag_run("remote_echo", dag_run_id=unique("held-cut"))
    with caplog.at_level(logging.INFO, logger=HELD_LOG.name):
        final = wait_in_worker(hook, run, held_waiter(schedule=PollSchedule(30.0, first=0.5)))
    assert final.state is RunState.SUCCESS
    waits, single = reads(proxied, run.run_id)
    assert [w[2] for w in waits] == ["cut", 200] and single == []
    assert "the held request was cut after" in caplog.text


def test_the_deadline_ends_a_held_wait_and_the_real_run_is_marked_failed(proxied):
    hook = RemoteAirflowHook("remote_airflow_proxied")
    run = hook.trigger_dag_run("remote_sleepy", dag_run_id=unique("held-deadline"))
    waiter = held_waiter(seconds=4.0)
    final = wait_in_worker(hook, run, waiter)
    assert final.state in (RunState.QUEUED, RunState.RUNNING) and utcnow() >= waiter.deadline
    assert len(reads(proxied, run.run_id)[0]) == 1
    with pytest.raises(RunTimeoutError, match="it was cancelled"):
        handle_deadline(hook, final, True, HELD_LOG)
    assert hook.get_run(run.ref).state is RunState.FAILED


def test_an_airflow_without_the_held_wait_is_polled_instead(proxied, caplog):
    """As Airflow 3.0 answers: 404 for …/wait."""
    hook = RemoteAirflowHook("remote_airflow_proxied")
    proxied.refuse_waits = True
    run = hook.trigger_dag_run("remote_echo", dag_run_id=unique("held-missing"))
    with caplog.at_level(logging.INFO, logger=HELD_LOG.name):
        final = wait_in_worker(hook, run, held_waiter())
    assert final.state is RunState.SUCCESS
    waits, single = reads(proxied, run.run_id)
    assert [w[2] for w in waits] == [404] and len(single) >= 1
    assert caplog.text.count("polling for the rest of this wait, as its held wait is not available") == 1


# -- coalesced status reads (triggers/poller.py) against the real /api/v2 list ---------------------------


def test_triggers_on_one_real_remote_share_its_list_of_changed_runs(proxied):
    """Waits in one event loop learn their runs' states from Airflow 3's own
    ``GET /api/v2/dags/~/dagRuns?updated_at_gte=…``: each run is read on its own for its first
    state where the list cannot vouch for it and for its end (confirmed), the rest comes
    from the lists. A remote that failed the list would cost a read per poll."""
    from tests.test_trigger_shared import all_events
    from tests.triggering import make_trigger

    hook = RemoteAirflowHook("remote_airflow_proxied")
    runs = [hook.trigger_dag_run("remote_echo", dag_run_id=unique("coalesced")) for _ in range(3)]
    runs.append(hook.trigger_dag_run("remote_broken", dag_run_id=unique("coalesced-broken")))
    triggers = [make_trigger(run, "remote_airflow_proxied", seconds=240, poll=2.0) for run in runs]
    events = all_events(triggers, limit=240)
    assert [(e.status, e.run.state) for e in events] == [("finished", RunState.SUCCESS)] * 3 + [
        ("finished", RunState.FAILED)
    ]
    # the remote's tokens expire within seconds (TOKEN_LIFETIME): a 401, a new token, the same request
    lists = [r for r in proxied.requests_to("/dags/~/dagRuns?") if r[0] == "GET" and r[2] != 401]
    assert len(lists) >= 2 and all("updated_at_gte=" in r[1] for r in lists)
    assert {r[2] for r in lists} == {200}
    own_reads = {run.run_id: sum(r[2] == 200 for r in reads(proxied, run.run_id)[1]) for run in runs}
    # coalesced, a wait reads its first state and its end (2), plus a read wherever a list came too
    # late (a slow server); polled per run, it would read its run at least once per list period
    assert all(1 <= n <= 2 or n < len(lists) for n in own_reads.values()), (own_reads, len(lists))
    print(f"\nfour waits on the real remote: {len(lists)} list reads, own reads {sorted(own_reads.values())}")
