"""Where a waiting ``RemoteRunTrigger``'s memory goes: tracemalloc, by allocation site, per wait.

N DataOps.live waits (one project, long runs) in one event loop against the sandbox (in this
process, in its own thread), settled past their first reads; then the Python allocations that
the waits hold, grouped by file and line, divided by N. Coalesced by default;
``--per-run`` reads each run on its own. Prints figures only.

    python bench/wait_memory.py [--n 2000] [--per-run] [--top 15]
"""

from __future__ import annotations

import argparse
import asyncio
import linecache
import logging
import os
import tracemalloc
from datetime import datetime, timedelta, timezone


async def _hold(n: int, top: int) -> None:
    from airflow_provider_pipelines.hooks.dataops import DataOpsHook
    from airflow_provider_pipelines.triggers.runs import RemoteRunTrigger

    hook = DataOpsHook()
    runs = [await asyncio.to_thread(hook.start_pipeline, "4242", "main", marker=f"m{i}") for i in range(n)]
    now = datetime.now(timezone.utc)

    async def wait(run: object) -> None:
        trigger = RemoteRunTrigger(
            vendor="dataops",
            conn_id="dataops_default",
            ref=run.ref,  # type: ignore[attr-defined]
            run_id=run.run_id,  # type: ignore[attr-defined]
            deadline=now + timedelta(days=1),
            poll_interval=60,
            started_at=now - timedelta(hours=1),
        )
        async for _ in trigger.run():
            return

    tracemalloc.start(8)
    before = tracemalloc.take_snapshot()
    tasks = [asyncio.ensure_future(wait(run)) for run in runs]
    await asyncio.sleep(15)  # first reads done, pollers planned, waits paused
    after = tracemalloc.take_snapshot()
    stats = after.compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    print(f"{n} waits: {total / n / 1024:.2f} KB of Python allocations per wait (tracemalloc)")
    for stat in stats[:top]:
        frame = stat.traceback[0]
        line = linecache.getline(frame.filename, frame.lineno).strip()
        where = f"{os.path.relpath(frame.filename)}:{frame.lineno}"
        size, count = stat.size_diff / n, stat.count_diff / n
        print(f"{size:>8.0f} B/wait {count:>6.2f} objects/wait  {where}  {line[:60]}")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--per-run", action="store_true", help="PIPELINES_POLLING=per-run")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    from airflow_provider_pipelines.testing import Sandbox

    logging.disable(logging.INFO)
    if args.per_run:
        os.environ["PIPELINES_POLLING"] = "per-run"
    with Sandbox(lifetime=600) as sandbox:
        os.environ.update(sandbox.connection_env())
        sandbox.client.plan("dataops", "*", duration=3600)
        asyncio.run(_hold(args.n, args.top))


if __name__ == "__main__":
    main()
