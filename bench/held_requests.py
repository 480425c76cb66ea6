"""Requests per remote-Airflow run in the worker: one held request (``held_wait.py``) against polling.

For each run duration, two runs of the sandbox's remote Airflow (Airflow 3.3.2's
``/api/v2``) are waited on side by side from the worker, each in a thread: one
with the held wait, one polling, both with the operators' default schedule
(``poll_interval`` 300 s: every 5 s at first, then a tenth of the elapsed time).
The sandbox's request log counts each run's reads. Prints figures only.

    python bench/held_requests.py [--durations 10 60 300] [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import uuid
from typing import Any

from airflow_provider_pipelines.lifecycle import (
    PollSchedule,
    Waiter,
    deadline_from,
    poll_in_worker,
    utcnow,
    wait_in_worker,
)
from airflow_provider_pipelines.operators.base import DEFAULT_POLL_INTERVAL
from airflow_provider_pipelines.testing import Sandbox

LOG = logging.getLogger("bench.held_requests")


def wait_on(hook: Any, run: Any, held: bool, box: Sandbox, seconds: float) -> int:
    """Wait on one run from the worker; the reads of it the sandbox saw."""
    now = utcnow()
    waiter = Waiter(
        "Remote Airflow", PollSchedule(DEFAULT_POLL_INTERVAL), deadline_from(seconds, now), now, LOG
    )
    final = (wait_in_worker if held else poll_in_worker)(hook, run, waiter)
    if final.state.value != "success":
        raise RuntimeError(f"run {run.run_id} ended {final.state.value}")
    rows = box.client.requests("remote_airflow")
    return sum(1 for r in rows if r["method"] == "GET" and f"/dagRuns/{run.run_id}" in r["path"])


def measure(box: Sandbox, durations: list[float]) -> dict[tuple[float, bool], int]:
    from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook

    results: dict[tuple[float, bool], int] = {}
    threads = []
    for duration in durations:
        # a run takes its plan when it is triggered: one plan per pair of runs
        box.client.plan("remote_airflow", "etl", phases=[("running", duration)], final="success")
        for held in (True, False):
            hook = RemoteAirflowHook()
            run = hook.trigger_dag_run("etl", dag_run_id=f"bench-{uuid.uuid4().hex[:8]}")

            def work(hook: Any = hook, run: Any = run, key: tuple[float, bool] = (duration, held)) -> None:
                results[key] = wait_on(hook, run, key[1], box, 3 * key[0] + 60)

            threads.append(threading.Thread(target=work))
            threads[-1].start()
    for thread in threads:
        thread.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--durations", type=float, nargs="+", default=[10, 30, 60, 120])
    parser.add_argument("--smoke", action="store_true", help="one short run each way")
    args = parser.parse_args()
    durations = [3.0] if args.smoke else args.durations
    with Sandbox(lifetime=3 * max(durations) + 120) as box:
        os.environ.update(box.connection_env())
        results = measure(box, durations)
    print("status requests per run, worker, poll_interval 300 s (the default)")
    print(f"  {'run':>8} {'held':>6} {'polled':>7}")
    for duration in durations:
        held, polled = results.get((duration, True), "-"), results.get((duration, False), "-")
        print(f"  {duration:>7.0f}s {held:>6} {polled:>7}")


if __name__ == "__main__":
    main()
