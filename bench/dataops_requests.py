"""Requests one DataOps.live pipeline run costs, by kind, against the sandbox (real HTTP, the real hook).

Four cases, each waited on in the worker with the operators' default poll schedule:
a pipeline that succeeds, one that fails (the diagnostics read its jobs and log
tails), a retried task that re-attaches to the pipeline its first try started, and a
start whose answer was lost. Prints figures only; nothing is asserted.

    python bench/dataops_requests.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import logging
import os
from collections import Counter
from datetime import datetime, timedelta, timezone

PROJECT = "acme/analytics/snowflake-pipelines"


def kind(method: str, path: str) -> str:
    path = path.split("?", maxsplit=1)[0]
    if method == "POST":
        return "start" if path.endswith("/pipeline") else "other POST"
    for end, name in (("/variables", "variables"), ("/jobs", "jobs list"), ("/trace", "job log")):
        if path.endswith(end):
            return name
    return "list" if path.endswith("/pipelines") else "status read"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each pipeline runs")
    args = parser.parse_args()
    from airflow_provider_pipelines.testing import Sandbox

    with Sandbox(lifetime=600) as sandbox:
        os.environ.update(sandbox.connection_env())
        from airflow_provider_pipelines.hooks.dataops import DataOpsHook
        from airflow_provider_pipelines.lifecycle import PollSchedule, Waiter, wait_in_worker
        from airflow_provider_pipelines.operators.base import DEFAULT_POLL_INTERVAL

        client = sandbox.client
        quiet = logging.getLogger("bench.quiet")
        quiet.disabled = True

        def wait(hook: DataOpsHook, run):  # type: ignore[no-untyped-def]
            now = datetime.now(timezone.utc)
            waiter = Waiter(
                "DataOps.live", PollSchedule(DEFAULT_POLL_INTERVAL), now + timedelta(hours=1), now, quiet
            )
            final = wait_in_worker(hook, run, waiter)
            hook.explain_failure(final)
            return final

        cases = {
            "success": dict(outcome="success", look_first=False, lost=False),
            "failure (1 failed job)": dict(outcome="failed", look_first=False, lost=False),
            "retry that re-attaches": dict(outcome="success", look_first=True, lost=False),
            "start whose answer was lost": dict(outcome="success", look_first=False, lost=True),
        }
        print(
            f"each pipeline runs {args.seconds:g} s; the default poll schedule "
            f"(poll_interval {DEFAULT_POLL_INTERVAL:g} s)"
        )
        head = (
            "case",
            "total",
            "start",
            "list",
            "variables",
            "status read",
            "jobs list",
            "job log",
            "pipelines",
        )
        print("{:<28} {:>5} {:>5} {:>4} {:>9} {:>11} {:>9} {:>7} {:>9}".format(*head))
        for name, case in cases.items():
            client.reset()
            client.plan("dataops", "main", duration=args.seconds, outcome=case["outcome"])
            hook = DataOpsHook()
            if case["look_first"]:  # the first try started it, then died
                hook.start_pipeline(PROJECT, "main", {}, marker="bench-retry")
            skip = len(client.requests("dataops"))
            if case["lost"]:
                client.fault("accept_then_drop", r"/pipeline$", method="POST")
            run = hook.start_pipeline(
                PROJECT, "main", {}, marker="bench-retry", look_first=case["look_first"]
            )
            wait(hook, run)
            counts = Counter(kind(r["method"], r["path"]) for r in client.requests("dataops")[skip:])
            pipelines = len(client.runs("dataops"))
            row = [counts[k] for k in ("start", "list", "variables", "status read", "jobs list", "job log")]
            print(
                f"{name:<28} {sum(counts.values()):>5} "
                + " ".join(f"{v:>{w}}" for v, w in zip(row, (5, 4, 9, 11, 9, 7), strict=True))
                + f" {pipelines:>9}"
            )
            hook.close()


if __name__ == "__main__":
    main()
