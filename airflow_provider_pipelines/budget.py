"""A request budget per connection: when the next request to a vendor may go.

Two sources of limits meet in one decision, "this request waits N seconds":

* the connection's extra ``max_requests_per_minute``: a local cap, kept as a
  schedule of sending times (the generic cell rate algorithm, a token bucket that
  hands out reservations): a short burst goes at once, then requests are spaced
  so that no 60-second window ever holds more than the cap;
* what the vendor announces: ``RateLimit-Limit`` / ``RateLimit-Remaining`` /
  ``RateLimit-Reset`` on its answers (GitLab, hence DataOps.live, sends them on
  every answer) and ``Retry-After`` on a 429 or 503. When what is left of the
  vendor's window reaches a low watermark, requests wait for its reset instead of
  drawing a 429, and those that wait share the next windows' allowance.

:class:`RequestBudget` is sans-I/O: it never sleeps and reads no clock; it is
told the time and answers with a wait. The transports in :mod:`.http` drive it,
the sync one with ``time.sleep`` under a lock, the async one with
``asyncio.sleep``. One budget serves every request on a connection id within one
event loop (the triggerer: every trigger on the connection) or one process (a
worker: the task's own requests).

A slowdown is logged once when it starts and once when it is over, never per
request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, NoReturn

log = logging.getLogger(__name__)

#: seconds without any wait after which a slowdown counts as over (and says so)
QUIET_AFTER = 60.0
#: the length of a vendor's rate-limit window, until two resets show it (GitLab's is a minute)
DEFAULT_PERIOD = 60.0
#: share of the vendor's window left unused: other clients on the same token (workers, people,
#: other triggerers) and answers still on their way need some room
WATERMARK_SHARE = 0.02
#: seconds added to a vendor's reset time: it is given in whole seconds, and clocks differ a little
RESET_MARGIN = 0.05
#: seconds a request waits at most for the vendor's sake (the retry policy's ``retry_after_max``)
MAX_VENDOR_WAIT = 120.0
#: the share of a window over which the requests that waited for it are spread
SPREAD = 0.1


class RequestBudget:
    """When the next request on one connection may go; see the module docstring.

    :param conn_id: the connection id, for log lines.
    :param per_minute: the connection's ``max_requests_per_minute``; None: no local cap.
    :param logger: where slowdowns are logged.
    """

    def __init__(self, conn_id: str, per_minute: float | None = None, logger: Any = log) -> None:
        self.conn_id = conn_id
        self.log = logger
        #: the longest wait a vendor's announcement imposes on the connection's requests: a longer
        #: Retry-After is left to the request that got it; a later window refuses the request
        #: (:meth:`_refuse`), so that its wait loop honours it
        self.patience = MAX_VENDOR_WAIT
        #: a lock for the sync driver (threads in one process); the async driver needs none
        self.lock = threading.Lock()
        self.per_minute: float | None = None
        self._step = 0.0  # seconds between two requests at the cap's steady rate; 0: no cap
        self._tau = 0.0  # how far ahead of the steady rate a burst may run
        self._tat = 0.0  # the theoretical time of the next request at the steady rate
        # the vendor's window, as its RateLimit-* headers describe it
        self._limit: int | None = None  # requests per window (RateLimit-Limit)
        self._left: int | None = None  # what we may still send in this window, above the watermark
        self._window_end: float | None = None  # when the vendor's window resets (monotonic)
        self._period = DEFAULT_PERIOD
        self._queued = 0  # requests given a time in a later window
        self._past_end: float | None = None  # the end of the last window rolled out of
        self._estimated = False  # the window's end is a guess (period after the last), no answer yet
        self._blocked_until = 0.0  # a Retry-After
        #: requests sent and not yet answered
        self.in_flight = 0
        #: changes when the vendor imposed a new wait: a request that waited for an older one asks again
        self.epoch = 0
        # the current slowdown, for its two log lines
        self._slow_since: float | None = None
        self._last_wait = 0.0
        self._waited = 0
        self._longest = 0.0
        self.configure(per_minute)

    def configure(self, per_minute: float | None) -> None:
        """Set the local cap (the connection may have been edited); None removes it."""
        if per_minute == self.per_minute:
            return
        self.per_minute = per_minute
        if per_minute is None:
            self._step = self._tau = 0.0
            return
        # a burst of a tenth of the minute goes at once; the rest is spaced so that the burst plus
        # a minute of steady sending stays within the cap
        burst = max(1, int(per_minute // 10))
        self._step = 60.0 / max(1.0, per_minute - burst)
        self._tau = (burst - 1) * self._step

    # -- deciding --------------------------------------------------------------------------------

    def reserve(self, now: float) -> float:
        """Seconds the next request waits before it goes (monotonic ``now``); 0.0: it goes now.

        A request given 0.0 counts as sent. One given a wait sleeps it, then calls
        :meth:`sent` if :attr:`epoch` is still what it was before this call, else
        asks again (the vendor imposed a new wait meanwhile).
        """
        if self._step == 0.0 and self._left is None and self._blocked_until == 0.0:
            self.in_flight += 1  # nothing limits this connection: the common case, kept short
            return 0.0
        earliest, why = self._vendor_allows(now)
        send_at = earliest
        if self._step:
            send_at = max(earliest, self._tat - self._tau)
            self._tat = max(send_at, self._tat) + self._step
            if send_at > earliest and why is None:
                why = f"the connection's max_requests_per_minute ({self.per_minute:g}) is reached"
        wait = send_at - now
        if wait <= 0.0:
            self.in_flight += 1
            self._pace_normal(now)
            return 0.0
        self._slowed(now, wait, why or "")
        return wait

    def _refuse(self, wait: float, what: str) -> NoReturn:
        """A vendor-imposed wait longer than :attr:`patience`: the request is not sent, and its error
        carries the wait, for a caller that knows its deadline (the wait loop) to honour."""
        from airflow_provider_pipelines.errors import RateLimitedError

        raise RateLimitedError(
            f"request on connection {self.conn_id!r} not sent: the vendor {what} for {wait:.0f}s more",
            status=429,
            retry_after=wait,
        )

    def sent(self) -> None:
        """A request that waited goes now."""
        self.in_flight += 1

    def _vendor_allows(self, now: float) -> tuple[float, str | None]:
        """The earliest time the vendor's announcements allow, and why it is later than now."""
        if self._blocked_until:
            if self._blocked_until > now:
                return self._blocked_until, "the vendor asked to wait (Retry-After)"
            self._blocked_until = 0.0
        if self._left is None:
            return now, None
        if self._window_end is not None and now >= self._window_end:
            self._roll(now)
        if self._left is None or self._left > 0:
            if self._left is not None:
                self._left -= 1
            return now, None
        return self._next_window_slot(now)

    def _next_window_slot(self, now: float) -> tuple[float, str | None]:
        """A time in a later window for a request that finds this one used up.

        The requests that wait for one window are spread over its first tenth rather than all
        sent the moment it opens: a crowd of simultaneous requests strains both sides.
        """
        per_window = self._per_window()
        later, place = divmod(self._queued, per_window)
        end = self._window_end if self._window_end is not None else now + 1.0
        at = end + later * self._period + place * (self._period * SPREAD / per_window)
        if at > now + self.patience:
            self._refuse(at - now, "has almost used up its rate limit (RateLimit-Remaining)")
        self._queued += 1
        return at, "the vendor's rate limit is almost used up (RateLimit-Remaining)"

    def _roll(self, now: float) -> None:
        """The vendor's window ended: the requests queued for the next one take its allowance.

        Only into a window that follows one an answer described: when no answer said anything
        about the window rolled into (the vendor stopped sending the headers), or this one is
        over too (idle for a whole window), the budget forgets the vendor's window and the
        next answer says where things stand.
        """
        assert self._window_end is not None
        self._past_end = self._window_end
        if self._estimated or now >= self._window_end + self._period:
            self._left, self._window_end, self._queued = None, None, 0
            return
        per_window = self._per_window()
        take = min(self._queued, per_window)
        self._queued -= take
        self._left = per_window - take
        self._window_end += self._period
        self._estimated = True

    def _per_window(self) -> int:
        if self._limit is None:
            return 1  # unknown: one request per window, until an answer says more
        return max(1, self._limit - _watermark(self._limit))

    # -- learning from answers -----------------------------------------------------------------

    def answered(
        self,
        headers: Mapping[str, str],
        status: int,
        now: float,
        wall: float,
        retry_after: float | None = None,
    ) -> None:
        """Take in an answer: its lower-cased headers, status, and the time (monotonic and unix).

        :param retry_after: the wait a 429 or 503 asked for, in seconds (None: it asked for none).
        """
        self.in_flight = max(0, self.in_flight - 1)
        remaining = headers.get("ratelimit-remaining")
        if remaining is not None:
            self._window(remaining, headers, now, wall)
        if retry_after is None or status not in (429, 503) or retry_after > self.patience:
            return  # a longer wait is honoured by the wait loop of the request that got it
        if now + retry_after > self._blocked_until:
            self._blocked_until = now + retry_after
            self.epoch += 1

    def failed(self) -> None:
        """A request that got no answer at all (refused, dropped, timed out)."""
        self.in_flight = max(0, self.in_flight - 1)

    def _window(self, remaining: str, headers: Mapping[str, str], now: float, wall: float) -> None:
        left = _int(remaining)
        reset = _float(headers.get("ratelimit-reset"))
        if left is None or reset is None:
            return
        limit = _int(headers.get("ratelimit-limit"))
        if limit is not None and limit > 0:
            self._limit = limit
        # GitLab sends the reset as a unix time; the IETF draft as seconds from now
        end = now + (reset - wall if reset > 1_000_000_000 else reset) + RESET_MARGIN
        left -= _watermark(self._limit or left) + self.in_flight
        if self._past_end is not None and end <= self._past_end + 0.5:
            return  # a late answer from a window that has ended
        current = self._window_end
        if current is None:
            self._window_end, self._left = end, left
        elif end > current + 0.5 or (self._estimated and end < current - 0.5):
            # a window this budget has no answer from yet: now its end is known
            start = self._past_end if self._estimated and self._past_end is not None else current
            if 0.5 < end - start <= 3600:
                self._period = float(max(1, round(end - start)))
            if self._estimated and self._left is not None:
                self._left = min(self._left, left)  # the roll counted the queued requests in
            else:
                take = min(self._queued, max(0, left))  # the queued requests go in this window
                self._queued -= take
                self._left = left - take
            self._window_end = end
        elif self._left is None or left < self._left:
            self._left = left
        self._estimated = False
        if self._left is not None and self._left <= 0:
            self.epoch += 1

    # -- saying so, once -----------------------------------------------------------------------

    def _slowed(self, now: float, wait: float, why: str) -> None:
        self._last_wait = now
        self._waited += 1
        self._longest = max(self._longest, wait)
        if self._slow_since is not None:
            return
        self._slow_since = now
        self.log.warning(
            "Requests on connection %r are slowed down: %s. They wait (this one %.1fs) instead of "
            "failing; this is logged once until the pace is back to normal",
            self.conn_id,
            why,
            wait,
        )

    def _pace_normal(self, now: float) -> None:
        if self._slow_since is None or now - self._last_wait < QUIET_AFTER:
            return
        self.log.info(
            "Requests on connection %r are back to their normal pace: %d waited over %.0fs, the "
            "longest %.1fs",
            self.conn_id,
            self._waited,
            self._last_wait - self._slow_since,
            self._longest,
        )
        self._slow_since = None
        self._waited = 0
        self._longest = 0.0


def _watermark(limit: int) -> int:
    return max(1, math.ceil(limit * WATERMARK_SHARE))


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        number = float(str(value).strip()) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and number >= 0 else None


# -- one budget per connection: per event loop (the triggerer), per process (a worker) -------------

# (event loop id, connection id) -> (loop, budget). Holding the loop keeps its id from being reused.
_LOOP_BUDGETS: dict[tuple[int, str], tuple[asyncio.AbstractEventLoop, RequestBudget]] = {}
# (process id, connection id) -> budget
_PROCESS_BUDGETS: dict[tuple[int, str], RequestBudget] = {}
_PROCESS_LOCK = threading.Lock()


def loop_budget(conn_id: str, per_minute: float | None) -> RequestBudget:
    """The budget every request on ``conn_id`` in the running event loop shares."""
    loop = asyncio.get_running_loop()
    key = (id(loop), conn_id)
    entry = _LOOP_BUDGETS.get(key)
    if entry is None:
        for stale in [k for k, (held, _) in _LOOP_BUDGETS.items() if held.is_closed()]:
            del _LOOP_BUDGETS[stale]
        entry = (loop, RequestBudget(conn_id, per_minute))
        _LOOP_BUDGETS[key] = entry
    entry[1].configure(per_minute)
    return entry[1]


def process_budget(conn_id: str, per_minute: float | None) -> RequestBudget:
    """The budget every sync request on ``conn_id`` in this process shares (a forked child gets its own)."""
    key = (os.getpid(), conn_id)
    with _PROCESS_LOCK:
        budget = _PROCESS_BUDGETS.get(key)
        if budget is None:
            budget = _PROCESS_BUDGETS[key] = RequestBudget(conn_id, per_minute)
    with budget.lock:
        budget.configure(per_minute)
    return budget


def forget_budgets() -> None:
    """Drop every budget of this process (tests: a vendor reset between tests announced nothing yet)."""
    with _PROCESS_LOCK:
        _PROCESS_BUDGETS.clear()
    _LOOP_BUDGETS.clear()


# -- the two drivers ---------------------------------------------------------------------------------


def wait_turn(budget: RequestBudget) -> None:
    """Block until the budget lets the next request go (sync; threads share the budget)."""
    with budget.lock:
        epoch = budget.epoch
        wait = budget.reserve(time.monotonic())
    while wait > 0.0:
        time.sleep(wait)
        with budget.lock:
            if budget.epoch == epoch:
                budget.sent()
                return
            epoch = budget.epoch
            wait = budget.reserve(time.monotonic())


async def await_turn(budget: RequestBudget) -> None:
    """Wait until the budget lets the next request go (async)."""
    epoch = budget.epoch
    wait = budget.reserve(time.monotonic())
    if wait > 0.0:
        await budget_rest(budget, epoch, wait)


async def budget_rest(budget: RequestBudget, epoch: int, wait: float) -> None:
    """The rest of :func:`await_turn` once the budget said ``wait`` (the transport calls
    :meth:`RequestBudget.reserve` itself: most requests wait for nothing, and skip this coroutine)."""
    while wait > 0.0:
        await asyncio.sleep(wait)
        if budget.epoch == epoch:
            budget.sent()
            return
        epoch = budget.epoch
        wait = budget.reserve(time.monotonic())
