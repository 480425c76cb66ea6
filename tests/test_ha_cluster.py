"""Faults in a real Airflow 3 cluster: triggerers that stall or die, and a worker killed mid-wait.

The session's cluster (``tests/conftest.py``) runs two triggerers, counted as gone after
10 s without a heartbeat. The sandbox serves the vendors and is the judge: its run
registry says how many runs each task started and how each ended, and its request log
whether anything was cancelled. Airflow's metadata DB says which triggerer held which
trigger, so the tests can show that the fault really moved triggers.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster_dags.ha_dags import KEYS, PER_VENDOR, WORKER_KEYS, planned_outcome
from tests.real_airflow import RealAirflow

pytestmark = [pytest.mark.airflow3_only, pytest.mark.cluster]

#: vendor -> (running word, success word, failure word) of the fakes
WORDS = {
    "dataform": ("RUNNING", "SUCCESSFUL", "FAILED"),
    "profitbase": ("Running", "Succeeded", "Failed"),
    "dataops": ("running", "success", "failed"),
    "remote_airflow": ("running", "success", "failed"),
}
#: how long the ha_load runs go on: past the two faults, whatever the machine's speed
HA_RUN_SECONDS = 150.0
LIMIT = 420.0


def _trigger_run(cluster: RealAirflow, dag_id: str) -> str:
    cluster.api("PATCH", f"dags/{dag_id}?update_mask=is_paused", {"is_paused": False})
    return str(cluster.api("POST", f"dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"])


def _task_states(cluster: RealAirflow, dag_id: str, run_id: str) -> dict[str, str]:
    tis = cluster.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    return {ti["task_id"]: str(ti["state"]) for ti in tis}


def _holders(cluster: RealAirflow, run_id: str) -> dict[str, int | None]:
    """task id -> the id of the triggerer job that holds its trigger (tasks deferred now)."""
    rows = cluster.query(
        "SELECT ti.task_id, t.triggerer_id FROM task_instance ti JOIN trigger t ON ti.trigger_id = t.id "
        "WHERE ti.dag_id = 'ha_load' AND ti.run_id = ?",
        run_id,
    )
    return dict(rows)


def _wait(what: str, check: Any, limit: float, cluster: RealAirflow) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"{what}: not within {limit:g}s\n{cluster.log_tails()}")


def _run_ids_from_xcom(cluster: RealAirflow, dag_id: str, run_id: str, task_ids: Iterable[str]) -> dict:
    out = {}
    for task_id in task_ids:
        entry = cluster.api(
            "GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/run_id"
        )
        out[task_id] = str(entry["value"]).strip('"')
    return out


def _finished(cluster: RealAirflow, dag_id: str, run_id: str) -> dict | None:
    run = cluster.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")
    return run if run["state"] in ("success", "failed") else None


def _vendor_of(task_id: str) -> str:
    return next(v for v in WORDS if task_id.startswith(v))


def _sandbox_ids(sandbox: Any, vendor: str) -> list[str]:
    return [r["data"].get("dag_run_id", r["run_id"]) for r in sandbox.client.runs(vendor)]


def _cancels(sandbox: Any) -> list[dict]:
    """Requests that cancel a run or mark it failed: a DataOps cancel, a remote-Airflow PATCH."""
    return [
        r
        for r in sandbox.client.requests()
        if (r["vendor"] == "dataops" and r["path"].endswith("/cancel"))
        or (r["vendor"] == "remote_airflow" and r["method"] == "PATCH" and "/dagRuns/" in r["path"])
    ]


def _triggerer_logs(cluster: RealAirflow, run_id: str, name: str) -> str:
    """What triggerer ``name`` logged: its per-trigger log files, and its own log, where a trigger's
    lines go once the triggerer has closed that trigger's file."""
    root = cluster.home / "logs" / "dag_id=ha_load" / f"run_id={run_id}"
    paths = sorted(root.glob(f"task_id=*/attempt=1.log.trigger.{cluster.triggerer_jobs[name]}.log"))
    paths.append(cluster.base / f"{name}.log")
    return "\n".join(p.read_text(errors="replace") for p in paths)


def test_a_stalled_and_a_killed_triggerer_neither_cancel_nor_duplicate_a_run(cluster, sandbox):
    client = sandbox.client
    client.reset()
    for vendor, (ok, bad) in KEYS.items():
        running, success, failure = WORDS[vendor]
        client.plan(vendor, ok, phases=[(running, HA_RUN_SECONDS)], final=success)
        client.plan(vendor, bad, phases=[(running, HA_RUN_SECONDS)], final=failure)
    began = time.monotonic()
    run_id = _trigger_run(cluster, "ha_load")
    tasks = len(KEYS) * PER_VENDOR

    def all_deferred() -> dict[str, int | None] | None:
        held = _holders(cluster, run_id)
        return held if len(held) == tasks and None not in held.values() else None

    holders = _wait("every ha_load task deferred to a triggerer", all_deferred, 240, cluster)
    deferred_after = time.monotonic() - began
    by_job = Counter(holders.values())
    names = {job: name for name, job in cluster.triggerer_jobs.items()}
    stalled_job = by_job.most_common(1)[0][0]
    stalled, other = names[stalled_job], next(n for n in names.values() if n != names[stalled_job])
    moved = {task for task, job in holders.items() if job == stalled_job}

    # fault (a): the triggerer holding the most triggers stops past the health-check threshold
    cluster.signal_component(stalled, signal.SIGSTOP)
    stopped_at = time.monotonic()
    other_job = cluster.triggerer_jobs[other]
    _wait(
        f"{other} took over the triggers of {stalled}",
        lambda: all(_holders(cluster, run_id).get(t) == other_job for t in moved),
        120,
        cluster,
    )
    taken_after = time.monotonic() - stopped_at
    cluster.signal_component(stalled, signal.SIGCONT)

    # the stalled triggerer drops the triggers it no longer holds (Airflow calls on_kill for each)
    def dropped_all() -> str | None:
        text = _triggerer_logs(cluster, run_id, stalled)
        return text if text.count("Trigger moved to another triggerer") >= len(moved) else None

    stall_log = _wait(f"{stalled} dropped the triggers it lost", dropped_all, 60, cluster)

    # fault (b): the other triggerer dies and is started again
    cluster.signal_component(other, signal.SIGKILL)
    new_job = cluster.start_triggerer(other)
    alive = {stalled_job, new_job}
    _wait(
        "the killed triggerer's triggers taken over",
        lambda: all(j in alive for j in _holders(cluster, run_id).values()),
        120,
        cluster,
    )
    final = _wait("ha_load finished", lambda: _finished(cluster, "ha_load", run_id), LIMIT, cluster)
    states = _task_states(cluster, "ha_load", run_id)
    assert states == {t: planned_outcome(t) for t in states} and len(states) == tasks, states
    assert final["state"] == "failed"  # the planned failures fail the DAG run

    # the sandbox's own registry: one run per task, each ended as planned, none cancelled by us
    started = _run_ids_from_xcom(cluster, "ha_load", run_id, states)
    for vendor in KEYS:
        mine = {t: r for t, r in started.items() if _vendor_of(t) == vendor}
        assert sorted(_sandbox_ids(sandbox, vendor)) == sorted(mine.values()), vendor  # no run twice
        words = {
            r["run_id"] if vendor != "remote_airflow" else r["data"]["dag_run_id"]: r["status"]
            for r in client.runs(vendor)
        }
        _, success, failure = WORDS[vendor]
        for task_id, remote_id in mine.items():
            assert words[remote_id] == (failure if task_id.endswith("_fail") else success), (task_id, words)
    assert _cancels(sandbox) == []
    assert "Trigger cancelled by user action, invoking on_kill" in stall_log  # Airflow's path was taken
    assert "Task killed while deferred" not in stall_log
    print(
        f"\nHA: {tasks} deferred runs (all deferred after {deferred_after:.0f}s); {stalled} stopped, "
        f"{len(moved)} triggers reassigned to {other} after {taken_after:.0f}s; "
        f"{stall_log.count('Trigger moved')} dropped by {stalled} without cancel; {other} killed and "
        "restarted; cancels by us: "
        f"{len(_cancels(sandbox))}; duplicate starts: 0; run ended in {time.monotonic() - began:.0f}s"
    )


def test_a_worker_killed_while_it_polls_is_retried_and_re_attaches(cluster, sandbox):
    client = sandbox.client
    client.reset()
    for vendor, key in WORKER_KEYS.items():
        running, success, _ = WORDS[vendor]
        client.plan(vendor, key, phases=[(running, 45.0)], final=success)
    pid_dir = Path(cluster.extra_env["PIPELINES_TEST_PID_DIR"])
    for old in pid_dir.glob("*"):
        old.unlink()
    run_id = _trigger_run(cluster, "ha_worker_kill")
    tasks = [f"{vendor}_worker" for vendor in WORKER_KEYS]

    def polling() -> bool:
        # each task wrote its pid, started its run, and is past the start (its run_id is in XCom)
        states = _task_states(cluster, "ha_worker_kill", run_id)
        return all((pid_dir / f"{t}.1").exists() and states.get(t) == "running" for t in tasks) and all(
            len(client.runs(v)) == 1 for v in WORKER_KEYS
        )

    _wait("every worker task polling", polling, 180, cluster)
    time.sleep(3)  # well inside the wait: several polls done
    for task_id in tasks:
        os.kill(int((pid_dir / f"{task_id}.1").read_text()), signal.SIGKILL)
    final = _wait(
        "ha_worker_kill finished",
        lambda: (
            (r := cluster.api("GET", f"dags/ha_worker_kill/dagRuns/{run_id}"))["state"]
            in ("success", "failed")
            and r
        ),
        LIMIT,
        cluster,
    )
    tis = cluster.api("GET", f"dags/ha_worker_kill/dagRuns/{run_id}/taskInstances")["task_instances"]
    assert {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in tis} == dict.fromkeys(
        tasks, ("success", 2)
    ), cluster.log_tails()
    assert final["state"] == "success"
    for vendor in WORKER_KEYS:
        assert len(client.runs(vendor)) == 1, (vendor, client.runs(vendor))  # exactly one run per task
    logs = cluster.home / "logs" / "dag_id=ha_worker_kill" / f"run_id={run_id}"
    for task_id in tasks:
        second = (logs / f"task_id={task_id}" / "attempt=2.log").read_text(errors="replace")
        assert "re-attaching to it instead of starting a new run" in second, second[-2000:]
    print(f"\nworker kill: {len(tasks)} tasks killed mid-poll, each retried and re-attached; 1 run each")
