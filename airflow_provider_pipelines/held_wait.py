"""Waiting in the worker with one held request, where the vendor offers one.

A remote Airflow 3.1 or later answers ``GET /api/v2/dags/{dag_id}/dagRuns/{id}/wait``
with a stream it keeps open: a line with the run's state at once, then one every
``interval`` seconds, until the run has ended. A wait then costs a handful of
requests instead of one per poll. :func:`.lifecycle.wait_in_worker` hands the wait
here when the hook offers it (:meth:`.PipelineHook.offers_held_wait`); the
:class:`.Waiter` keeps its part: the progress log, errors, and the deadline.

The rules, each a decision of :class:`HeldWait`:

* **interval**: the poll schedule's pause when the stream opens (short at first),
  never reaching past the deadline. Once the schedule's pause has doubled, the
  stream is opened anew with the longer one: a long run costs a few requests, and
  the server reads its database less often.
* **deadline**: no line, and no read timeout, reaches past it; the stream is left
  at the first line after it, and the lifecycle's deadline rules apply as when
  polling (the run is marked failed where the task asked for it).
* **cut**: a stream that ends, or breaks, after it sent lines (a proxy's or the
  server's timeout, a restart) is opened again, but never sooner than the poll
  schedule would have polled: never more requests than polling.
* **missing or unexpected**: 404 or 405 (the endpoint is not there: Airflow 3.0),
  another 4xx, an HTML page, or a line that is not a run state, and the rest of the
  wait polls, after one log line saying why. The endpoint is experimental
  upstream: whatever it turns into, the wait goes on.
* **failing**: a 5xx, a 429 or a broken connection as it opens is retried as a
  status read is; one that still fails is the waiter's to judge (logged, tried
  again after its pause; a refused credential fails as when polling); three such
  in a row, and the rest of the wait polls.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_pipelines.errors import (
    AuthError,
    HttpError,
    PipelinesError,
    RateLimitedError,
    ResponseFormatError,
)
from airflow_provider_pipelines.http import ApiResponse
from airflow_provider_pipelines.runs import RemoteRun

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks.base import PipelineHook
    from airflow_provider_pipelines.lifecycle import Waiter

#: the shortest interval asked for (the server needs more than 0)
MIN_INTERVAL = 0.5
#: opens in a row that brought no line before the rest of the wait polls
FAILURES_BEFORE_POLLING = 3
#: a stream is given up when no line came for 2 x interval + this many seconds
SILENCE_MARGIN = 10.0

Ending = Literal["finished", "deadline", "longer", "cut"]


class HeldWaitUnavailable(PipelinesError):
    """The vendor's held wait is not there, or answered something it does not document: poll instead."""


class HeldStream:
    """One held request for one run: opens it and turns its lines into runs.

    :param hook: the run's hook (it builds the request and opens the stream).
    :param ref: the run's ref.
    """

    def __init__(self, hook: PipelineHook, ref: Mapping[str, str]) -> None:
        self.hook = hook
        self.ref = ref

    @contextlib.contextmanager
    def open(self, interval: float, timeout: float) -> Iterator[Iterator[RemoteRun]]:
        """The run, once per line, while the stream lasts. An endpoint that is missing or answers
        unexpectedly raises :class:`HeldWaitUnavailable`; other failures raise as when polling."""
        request = self.hook.held_wait_request(self.ref, interval, timeout)
        try:
            opened = self.hook.stream_lines(request)
            head, lines = opened.__enter__()
        except (AuthError, RateLimitedError):
            raise  # the same answers a status read would get: the waiter judges them
        except HttpError as exc:
            if exc.status >= 500:
                raise
            raise HeldWaitUnavailable(f"it answered HTTP {exc.status}") from None
        with contextlib.ExitStack() as stack:
            stack.push(opened)
            if "html" in head.headers.get("content-type", ""):
                raise HeldWaitUnavailable(f"it answered with a web page ({head.headers['content-type']})")
            yield self._runs(lines, head)

    def _runs(self, lines: Iterator[bytes], head: ApiResponse) -> Iterator[RemoteRun]:
        for line in lines:
            try:
                yield self.hook.api.parse_held_line(line, self.ref, head)
            except ResponseFormatError as exc:
                raise HeldWaitUnavailable(str(exc)) from None


class HeldWait:
    """Waits on one run with held requests; see the module docstring for the rules.

    :param hook: the run's hook.
    :param waiter: the wait's :class:`.Waiter` (schedule, deadline, log, errors).
    :param sleep: how to pause (``time.sleep``; tests may pass another).
    """

    def __init__(self, hook: PipelineHook, waiter: Waiter, sleep: Any = time.sleep) -> None:
        self.hook = hook
        self.waiter = waiter
        self.sleep = sleep
        #: held requests opened, and how many of them were cut before the run ended
        self.opened = 0
        self.cuts = 0
        self._failures = 0

    def wait(self, run: RemoteRun) -> RemoteRun:
        """Hold until the run ends, the deadline passes or it is blocked past the grace; then the run."""
        from airflow_provider_pipelines.lifecycle import poll_in_worker

        self.waiter.observe(run)
        stream = HeldStream(self.hook, run.ref)
        while not self._over(run):
            interval = self._interval()
            if interval is None:
                return run
            started = time.monotonic()
            try:
                run, ending = self._hold(stream, run, interval)
            except HeldWaitUnavailable as exc:
                self._say_polling(f"its held wait is not available: {exc}")
                return poll_in_worker(self.hook, run, self.waiter, observed=True)
            except PipelinesError as exc:
                if not self._failed(exc):
                    return run
                if self._failures >= FAILURES_BEFORE_POLLING:
                    self._say_polling(f"{self._failures} held requests in a row failed, the last with: {exc}")
                    return poll_in_worker(self.hook, run, self.waiter, observed=True)
                continue
            if ending == "deadline":
                return run
            if ending == "cut":
                self._cut(interval, time.monotonic() - started)
        return run

    def _over(self, run: RemoteRun) -> bool:
        return run.state.is_terminal or self.waiter.blocked_expired()

    def _remaining(self) -> float:
        from airflow_provider_pipelines.lifecycle import utcnow

        return (self.waiter.deadline - utcnow()).total_seconds()

    def _interval(self) -> float | None:
        """The interval to ask for now; None once the deadline has passed."""
        remaining = self._remaining()
        if remaining <= 0:
            return None
        pause = self.waiter.schedule.delay(self.waiter.elapsed())
        return max(MIN_INTERVAL, min(pause, remaining))

    def _hold(self, stream: HeldStream, before: RemoteRun, interval: float) -> tuple[RemoteRun, Ending]:
        """Hold one request: the last run seen (``before`` until a line comes), and why the hold ended."""
        last = before
        timeout = min(2 * interval + SILENCE_MARGIN, max(self._remaining(), 0.0) + 1.0)
        self.opened += 1
        seen = 0
        try:
            with stream.open(interval, timeout) as runs:
                for last in runs:  # each line's run replaces the one before
                    seen += 1
                    self._failures = 0
                    self.waiter.observe(last)
                    if self._over(last):
                        return last, "finished"
                    if self._remaining() <= 0:
                        return last, "deadline"
                    if (self._interval() or 0.0) >= 2 * interval:
                        return last, "longer"
        except HeldWaitUnavailable:
            raise
        except PipelinesError:
            if not seen:
                raise  # it never got going: a failure, not a cut
        return last, "cut"

    def _failed(self, exc: PipelinesError) -> bool:
        """A hold that brought no line: the waiter judges the error (a permanent one raises); False once
        the deadline has come."""
        self._failures += 1
        self.waiter.observe_error(exc)
        pause = self.waiter.next_sleep()
        if pause is None:
            return False
        self.sleep(pause)
        return True

    def _cut(self, interval: float, held: float) -> None:
        """A stream ended before the run did: open the next one, no sooner than a poll would go."""
        self.cuts += 1
        if self.cuts == 1:
            self.waiter.log.info(
                "%s: the held request was cut after %.0fs before the run ended; opening another "
                "(further cuts are not logged)",
                self.waiter.display_name,
                held,
            )
        rest = min(interval - held, self._remaining())
        if rest > 0:
            self.sleep(rest)

    def _say_polling(self, why: str) -> None:
        self.waiter.log.warning("%s: polling for the rest of this wait, as %s", self.waiter.display_name, why)
