"""The request budget's decisions, pure: a clock passed in, no sleeping, no sockets (budget.py)."""

from __future__ import annotations

import bisect
import logging

import pytest

from airflow_provider_pipelines.budget import QUIET_AFTER, RequestBudget
from airflow_provider_pipelines.errors import RateLimitedError

WALL = 1_800_000_000.0  # the unix time at monotonic 0 in these tests


def sending_times(budget: RequestBudget, asks: list[float]) -> list[float]:
    """When each request asked at the given times goes (each answered at once, without headers)."""
    times = []
    for now in asks:
        wait = budget.reserve(now)
        if wait > 0:
            budget.sent()
        times.append(now + wait)
        budget.answered({}, 200, now + wait, WALL + now + wait)
    return times


def most_in_any_window(times: list[float], window: float = 60.0) -> int:
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, start + window) - i for i, start in enumerate(ordered))


def gitlab(remaining: int, reset_in: float, now: float, limit: int = 100) -> dict[str, str]:
    """GitLab's headers: the reset as a unix time."""
    return {
        "ratelimit-limit": str(limit),
        "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(int(WALL + now + reset_in)),
    }


def test_a_connection_without_limits_never_waits():
    budget = RequestBudget("c")
    assert all(budget.reserve(0.0) == 0.0 for _ in range(10_000))
    assert budget.in_flight == 10_000


@pytest.mark.parametrize("per_minute", [1, 7, 60, 600, 2000])
def test_the_cap_lets_a_burst_go_and_never_more_than_the_cap_in_any_minute(per_minute):
    budget = RequestBudget("c", per_minute)
    times = sending_times(budget, [0.0] * (3 * per_minute))  # everything asked at once
    assert most_in_any_window(times) <= per_minute
    assert times[0] == 0.0
    assert sum(1 for t in times if t == 0.0) == max(1, per_minute // 10)  # the burst
    assert times == sorted(times)  # first come, first served


def test_a_steady_pace_under_the_cap_never_waits():
    budget = RequestBudget("c", 120)
    asks = [i * 0.6 for i in range(500)]
    assert sending_times(budget, asks) == asks


def test_removing_the_cap_ends_the_waits():
    budget = RequestBudget("c", 6)
    sending_times(budget, [0.0] * 10)
    assert budget.reserve(0.0) > 0
    budget.configure(None)
    assert budget.reserve(0.0) == 0.0


def test_requests_stop_at_the_watermark_and_go_when_the_window_resets():
    budget = RequestBudget("c")
    budget.reserve(0.0)
    budget.answered(gitlab(remaining=5, reset_in=10, now=0.0), 200, 0.0, WALL)
    # 5 left, 2 kept back (2 % of 100, rounded up): three go now, the rest wait for the reset
    waits = [budget.reserve(1.0) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert all(9.0 <= w <= 9.0 + 0.1 * 60 for w in waits[3:])
    assert waits[3] < waits[4]  # spread over the next window, not all at its first moment


def test_requests_in_flight_count_against_what_the_vendor_says_is_left():
    budget = RequestBudget("c")
    for _ in range(4):
        budget.reserve(0.0)  # four sent, none answered yet
    budget.answered(gitlab(remaining=6, reset_in=30, now=0.0), 200, 0.0, WALL)
    # 6 left - 2 kept back - 3 still on their way = 1
    assert budget.reserve(0.0) == 0.0
    assert budget.reserve(0.0) > 0.0


def test_a_crowd_that_waited_shares_the_next_windows_and_past_two_minutes_is_refused_unsent():
    budget = RequestBudget("c")
    budget.reserve(0.0)
    budget.answered(gitlab(remaining=0, reset_in=10, now=0.0, limit=50), 200, 0.0, WALL)
    waits, refused = [], 0
    for _ in range(120):
        try:
            waits.append(budget.reserve(0.0))
        except RateLimitedError:
            refused += 1
    per_window = 50 - 1  # 2 % of 50, rounded up, kept back
    assert all(10.0 <= t < 10.0 + 6 for t in waits[:per_window])  # the next window (a minute assumed)
    assert all(70.0 <= t < 70.0 + 6 for t in waits[per_window:])
    assert len(waits) == 2 * per_window and refused == 120 - 2 * per_window


def test_the_window_length_is_learned_from_two_resets():
    budget = RequestBudget("c")
    budget.reserve(0.0)
    budget.answered(gitlab(remaining=50, reset_in=5, now=0.0), 200, 0.0, WALL)
    budget.reserve(6.0)
    budget.answered(gitlab(remaining=0, reset_in=4, now=6.0), 200, 6.0, WALL + 6.0)
    waits = [budget.reserve(6.0) for _ in range(200)]
    assert max(waits) < 4.0 + 3 * 5.0  # windows of 5 s, not a minute


def test_a_late_answer_from_an_ended_window_is_not_taken_for_the_new_one():
    budget = RequestBudget("c")
    budget.reserve(0.0)
    budget.answered(gitlab(remaining=0, reset_in=5, now=0.0), 200, 0.0, WALL)
    assert budget.reserve(1.0) > 0  # waits for the window at 5 s
    budget.sent()
    budget.reserve(5.5)  # a new window: the roll gives it its allowance
    budget.answered(gitlab(remaining=0, reset_in=-0.5, now=5.5), 200, 5.5, WALL + 5.5)  # from the old one
    assert budget.reserve(5.6) == 0.0


def test_retry_after_holds_every_request_and_a_long_one_is_left_to_the_request_that_got_it():
    budget = RequestBudget("c")
    budget.reserve(0.0)
    epoch = budget.epoch
    budget.answered({"retry-after": "7"}, 429, 0.0, WALL, retry_after=7.0)
    assert budget.epoch != epoch  # a request that waited for an older decision asks again
    assert budget.reserve(1.0) == pytest.approx(6.0)
    assert budget.reserve(7.5) == 0.0
    # past two minutes the request's own wait loop honours it (never past its deadline); the
    # connection's other requests go on and learn it from their own answers
    budget.answered({}, 429, 8.0, WALL + 8.0, retry_after=3600.0)
    assert budget.reserve(9.0) == 0.0


def test_a_window_further_away_than_two_minutes_refuses_the_request_unsent():
    budget = RequestBudget("c")
    budget.reserve(0.0)
    budget.answered(gitlab(remaining=0, reset_in=3600, now=0.0), 200, 0.0, WALL)
    expected = r"not sent: the vendor has almost used up its rate limit .* for 3600s more"
    with pytest.raises(RateLimitedError, match=expected) as caught:
        budget.reserve(0.0)
    assert caught.value.retry_after == pytest.approx(3600.0, abs=1)


def test_a_vendor_that_stops_sending_the_headers_is_no_longer_held_to_them():
    budget = RequestBudget("c")
    budget.reserve(0.0)
    budget.answered(gitlab(remaining=3, reset_in=5, now=0.0, limit=10), 200, 0.0, WALL)
    assert [budget.reserve(1.0) > 0 for _ in range(3)] == [False, False, True]  # 3 - 1 kept back
    sending_times(budget, [6.0] * 9)  # the next window: answers without the headers
    assert budget.reserve(70.0) == 0.0 and all(budget.reserve(70.0) == 0.0 for _ in range(50))


def test_a_slowdown_is_logged_once_and_its_end_once(caplog):
    budget = RequestBudget("dataops_default", 60)
    with caplog.at_level(logging.INFO, logger="airflow_provider_pipelines.budget"):
        sending_times(budget, [0.0] * 300)
        sending_times(budget, [400.0 + QUIET_AFTER + i for i in range(3)])
        sending_times(budget, [1000.0] * 100)
    lines = [r.getMessage() for r in caplog.records]
    slowed = [line for line in lines if "are slowed down" in line]
    assert len(slowed) == 2  # two episodes, one line each
    assert "'dataops_default'" in slowed[0] and "max_requests_per_minute (60) is reached" in slowed[0]
    back = [line for line in lines if "back to their normal pace" in line]
    assert len(back) == 1 and "294 waited" in back[0]
