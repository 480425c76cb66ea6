"""Status requests and detection delay of the adaptive poll schedule, against a fixed interval.

A virtual clock: for each run duration, walk the schedule the waiter uses
(:class:`airflow_provider_pipelines.lifecycle.PollSchedule`, with the operators'
default ``poll_interval``) from the start until the first poll at or after the
run's end, and count the polls. The operator's start already reads the run once;
that read is not counted (a deferred task's trigger also reads once as it starts:
one more request in that mode). The worst detection delay of a row is the gap
between the last poll before the end and the poll that sees it: a run that ends
just after a poll waits that long to be noticed.

Targets: a 1 h run costs at most 40 status requests, and every run's end is
noticed within max(5 s, 10 % of its duration) (for a 20 s run: 5 s). Rows over
either are flagged, for ours and for a fixed 60 s interval. The last line is the
floor for *any* schedule that keeps the detection bound at every duration up to
1 h: the run may end just after any poll, so each gap after a poll at t is at most
max(5, 0.1 t); the greediest such schedule is walked to 1 h and its polls counted.
Prints figures only; nothing is asserted.

    python bench/polls.py [--poll-interval 300] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_pipelines.lifecycle import PollSchedule
from airflow_provider_pipelines.operators.base import DEFAULT_POLL_INTERVAL

DURATIONS = [10, 20, 60, 300, 900, 1800, 3600, 2 * 3600, 6 * 3600]
#: the request target: a run of REQUEST_TARGET_RUN seconds costs at most REQUEST_TARGET requests
REQUEST_TARGET_RUN, REQUEST_TARGET = 3600, 40
FIXED = 60.0


def bound(duration: float) -> float:
    """How soon a run's end must be noticed: within max(5 s, 10 % of its duration)."""
    return max(5.0, 0.1 * duration)


def walk(duration: float, next_delay: Callable[[float], float]) -> tuple[int, float]:
    """(status requests, worst detection delay) for a run that ends at ``duration``.

    The worst delay is the gap between the last poll before the end and the poll
    that sees it: a run ending just after a poll waits that long to be noticed.
    """
    t, polls, gap = 0.0, 0, 0.0
    while t < duration:
        gap = next_delay(t)
        t += gap
        polls += 1
    return polls, gap


def floor_polls(horizon: float = REQUEST_TARGET_RUN) -> int:
    """The fewest polls any schedule needs up to ``horizon`` while keeping the detection bound.

    A run may end just after any poll, so a poll at ``t`` must be followed within
    ``bound(t)``; the greediest schedule waits exactly that long each time.
    """
    return walk(horizon, bound)[0]


def label(seconds: int) -> str:
    return (
        f"{seconds // 3600}h"
        if seconds >= 3600 and seconds % 3600 == 0
        else (f"{seconds // 60}m" if seconds >= 60 else f"{seconds}s")
    )


def flags(duration: int, requests: int, delay: float) -> list[str]:
    out = []
    if duration == REQUEST_TARGET_RUN and requests > REQUEST_TARGET:
        out.append(f"over {REQUEST_TARGET} requests")
    if delay > bound(duration):
        out.append("over bound")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_INTERVAL,
        help=f"the operator's poll_interval (default {DEFAULT_POLL_INTERVAL:g}, the operators' default)",
    )
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    ours = PollSchedule(poll_interval=args.poll_interval)
    print(
        f"adaptive schedule: first {min(ours.first, args.poll_interval):g}s, then 10% of elapsed, "
        f"at most {args.poll_interval:g}s; against a fixed {FIXED:g}s interval"
    )
    print(
        f"targets: a {label(REQUEST_TARGET_RUN)} run <= {REQUEST_TARGET} requests; end noticed within "
        "max(5 s, 10% of the run)"
    )
    head = (
        "run",
        "bound s",
        "ours: requests",
        "worst delay s",
        f"fixed {FIXED:g}s: requests",
        "worst delay s",
    )
    print("{:>5} {:>8} | {:>14} {:>13} | {:>19} {:>13} | flags".format(*head))
    rows: list[dict[str, Any]] = []
    for duration in DURATIONS:
        n, late = walk(duration, ours.delay)
        fixed_n, fixed_late = walk(duration, lambda _t: FIXED)
        ours_flags, fixed_flags = flags(duration, n, late), flags(duration, fixed_n, fixed_late)
        noted = [f"ours {f}" for f in ours_flags] + [f"fixed {f}" for f in fixed_flags]
        print(
            f"{label(duration):>5} {bound(duration):>8.1f} | {n:>14} {late:>13.1f} | "
            f"{fixed_n:>19} {fixed_late:>13.1f} | {', '.join(noted) or '-'}"
        )
        rows.append(
            {
                "duration_s": duration,
                "bound_s": bound(duration),
                "ours_requests": n,
                "ours_worst_delay_s": late,
                "ours_flags": ours_flags,
                "fixed_requests": fixed_n,
                "fixed_worst_delay_s": fixed_late,
                "fixed_flags": fixed_flags,
            }
        )
    floor = floor_polls()
    print(
        f"floor: any schedule that notices every run's end within max(5 s, 10% of the run), for runs up "
        f"to {label(REQUEST_TARGET_RUN)}, needs at least {floor} polls for a {label(REQUEST_TARGET_RUN)} "
        f"run (target {REQUEST_TARGET}: {'reachable' if floor <= REQUEST_TARGET else 'not reachable'})"
    )
    if args.json:
        out = {
            "poll_interval": args.poll_interval,
            "request_target": {"run_s": REQUEST_TARGET_RUN, "requests": REQUEST_TARGET},
            "rows": rows,
            "floor_polls": floor,
        }
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
