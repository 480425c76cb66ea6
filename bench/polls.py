"""Status requests and detection delay of the adaptive poll schedule, against a fixed interval.

A virtual clock: for each run duration, walk the schedule the waiter uses
(:class:`airflow_provider_pipelines.lifecycle.PollSchedule`) from the start until
the first poll at or after the run's end, and count the polls. The operator's
start already reads the run once; that read is not counted. Prints figures only.

    python bench/polls.py [--poll-interval 60]
"""

from __future__ import annotations

import argparse

from airflow_provider_pipelines.lifecycle import PollSchedule

DURATIONS = [10, 20, 60, 300, 900, 1800, 3600, 2 * 3600, 6 * 3600]


def walk(duration: float, next_delay) -> tuple[int, float]:
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


def label(seconds: int) -> str:
    return (
        f"{seconds // 3600}h"
        if seconds >= 3600 and seconds % 3600 == 0
        else (f"{seconds // 60}m" if seconds >= 60 else f"{seconds}s")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll-interval", type=float, default=300.0, help="the operator's poll_interval")
    args = parser.parse_args()
    ours = PollSchedule(poll_interval=args.poll_interval)
    print(f"adaptive schedule: first {ours.first:g}s, then 10% of elapsed, at most {args.poll_interval:g}s")
    head = ("run", "ours: requests", "worst delay s", "bound s", "fixed 60s: requests", "worst delay s")
    print("{:>5} | {:>14} {:>13} {:>8} | {:>19} {:>13}".format(*head))
    for duration in DURATIONS:
        n, late = walk(duration, ours.delay)
        fixed_n, fixed_late = walk(duration, lambda _t: 60.0)
        bound = max(5.0, 0.1 * duration)
        flag = "" if late <= bound else "  (over bound)"
        row = f"{label(duration):>5} | {n:>14} {late:>13.1f} {bound:>8.1f} | "
        print(row + f"{fixed_n:>19} {fixed_late:>13.1f}{flag}")


if __name__ == "__main__":
    main()
