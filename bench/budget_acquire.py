"""CPU per acquire of the request budget (``airflow_provider_pipelines.budget``) against rate-limit libraries.

A triggerer sends thousands of polls a minute at about 470 µs of CPU each; whatever
gates every request must cost a small fraction of that. Measured in one asyncio
loop, as in a triggerer, with ``time.process_time``:

* **free**: a limit far above the demand, so no acquire waits (the common case). Ours is
  measured as the async transport calls it per request: ``reserve`` before, ``answered``
  after (with no rate-limit headers; with GitLab's headers on every answer; with a cap
  set). The libraries: ``aiolimiter.AsyncLimiter`` (``async with``), ``limits``'
  moving window (sync ``hit`` and its asyncio variant), ``pyrate_limiter.Limiter``;
* **queued**: WAITERS tasks at once against 1,000 acquires a second with a burst of 100,
  so nearly all of them wait: CPU per acquire includes the sleeping and waking.

The libraries are optional (``pip install aiolimiter limits pyrate-limiter``); a missing
one is reported as such. Prints figures only.

    python bench/budget_acquire.py [--n 200000] [--waiters 3000] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from airflow_provider_pipelines.budget import RequestBudget, budget_rest

GITLAB_HEADERS = {"ratelimit-limit": "1000000", "ratelimit-remaining": "999999"}


def ours_free(headers: dict[str, str], per_minute: float | None) -> Callable[[int], Awaitable[None]]:
    """N requests through the budget as AsyncTransport._exchange drives it, none waiting."""
    budget = RequestBudget("bench", per_minute)
    head = dict(headers)
    if head:
        head["ratelimit-reset"] = str(int(time.time()) + 3600)

    async def run(n: int) -> None:
        monotonic, wall = time.monotonic, time.time
        for _ in range(n):
            epoch = budget.epoch
            wait = budget.reserve(monotonic())
            if wait > 0.0:
                await budget_rest(budget, epoch, wait)
            budget.answered(head, 200, monotonic(), wall(), None)

    return run


def aiolimiter_free() -> Callable[[int], Awaitable[None]] | None:
    try:
        from aiolimiter import AsyncLimiter
    except ImportError:
        return None
    limiter = AsyncLimiter(10**9, 1)

    async def run(n: int) -> None:
        for _ in range(n):
            async with limiter:
                pass

    return run


def limits_free(use_async: bool) -> Callable[[int], Awaitable[None]] | None:
    try:
        if use_async:
            from limits import RateLimitItemPerMinute
            from limits.aio.storage import MemoryStorage as AsyncMemoryStorage
            from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindow
        else:
            from limits import RateLimitItemPerMinute
            from limits.storage import MemoryStorage
            from limits.strategies import MovingWindowRateLimiter
    except ImportError:
        return None
    item = RateLimitItemPerMinute(10**9)
    if use_async:
        alimiter = AsyncMovingWindow(AsyncMemoryStorage())

        async def arun(n: int) -> None:
            for _ in range(n):
                await alimiter.hit(item, "conn")

        return arun
    limiter = MovingWindowRateLimiter(MemoryStorage())

    async def run(n: int) -> None:
        for _ in range(n):
            limiter.hit(item, "conn")

    return run


def pyrate_free() -> Callable[[int], Awaitable[None]] | None:
    try:
        from pyrate_limiter import Duration, Limiter, Rate
    except ImportError:
        return None
    limiter = Limiter(Rate(10**9, Duration.MINUTE))

    async def run(n: int) -> None:
        for _ in range(n):
            limiter.try_acquire("conn")

    return run


async def cpu_of(run: Callable[[int], Awaitable[None]], n: int) -> float:
    """µs of CPU per acquire (the loop's own cost included, as in a triggerer)."""
    await run(min(n, 2000))  # warm up
    start = time.process_time()
    await run(n)
    return (time.process_time() - start) / n * 1e6


# -- queued: every acquire waits ----------------------------------------------------------------------


def ours_queued() -> Callable[[int], Awaitable[None]]:
    budget = RequestBudget("bench", 60_000)
    budget._step, budget._tau = 0.001, 99 * 0.001  # 1,000 a second, a burst of 100: as aiolimiter's below

    async def one() -> None:
        epoch = budget.epoch
        wait = budget.reserve(time.monotonic())
        if wait > 0.0:
            await budget_rest(budget, epoch, wait)
        budget.answered({}, 200, time.monotonic(), time.time(), None)

    async def run(n: int) -> None:
        await asyncio.gather(*(one() for _ in range(n)))

    return run


def aiolimiter_queued() -> Callable[[int], Awaitable[None]] | None:
    try:
        from aiolimiter import AsyncLimiter
    except ImportError:
        return None
    limiter = AsyncLimiter(100, 0.1)

    async def one() -> None:
        async with limiter:
            pass

    async def run(n: int) -> None:
        await asyncio.gather(*(one() for _ in range(n)))

    return run


async def queued_cpu(run: Callable[[int], Awaitable[None]], n: int) -> tuple[float, float]:
    """(µs of CPU per acquire, seconds it took) for n acquires started together."""
    cpu, wall = time.process_time(), time.monotonic()
    await run(n)
    return (time.process_time() - cpu) / n * 1e6, time.monotonic() - wall


async def main_async(n: int, waiters: int) -> list[tuple[str, Any]]:
    free: list[tuple[str, Callable[[int], Awaitable[None]] | None]] = [
        ("ours, no cap, no RateLimit headers (the fast path)", ours_free({}, None)),
        ("ours, GitLab's RateLimit headers on every answer", ours_free(GITLAB_HEADERS, None)),
        ("ours, max_requests_per_minute set, not reached", ours_free({}, 10**9)),
        ("aiolimiter 1.x AsyncLimiter (async with)", aiolimiter_free()),
        ("limits MovingWindow, memory, sync hit()", limits_free(False)),
        ("limits MovingWindow, memory, asyncio hit()", limits_free(True)),
        ("pyrate-limiter Limiter.try_acquire()", pyrate_free()),
    ]
    rows: list[tuple[str, Any]] = []
    for name, run in free:
        rows.append((f"free: {name}", None if run is None else f"{await cpu_of(run, n):.2f} µs"))
    for name, queued in [("ours", ours_queued()), ("aiolimiter", aiolimiter_queued())]:
        if queued is None:
            rows.append((f"queued: {name}", None))
            continue
        cpu, took = await queued_cpu(queued, waiters)
        rows.append((f"queued ({waiters} at once, 1,000/s): {name}", f"{cpu:.1f} µs ({took:.1f} s)"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200_000, help="acquires per free case")
    parser.add_argument("--waiters", type=int, default=3000, help="acquires started together (queued)")
    parser.add_argument("--smoke", action="store_true", help="a few thousand acquires, to check it runs")
    args = parser.parse_args()
    n, waiters = (5000, 300) if args.smoke else (args.n, args.waiters)
    logging.getLogger("airflow_provider_pipelines.budget").setLevel(logging.ERROR)  # its "slowed down" line
    print("CPU per acquire (µs), one asyncio loop")
    for name, figure in asyncio.run(main_async(n, waiters)):
        print(f"  {name:<66} {figure or 'not installed'}")


if __name__ == "__main__":
    main()
