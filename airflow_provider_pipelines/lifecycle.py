"""The run lifecycle shared by every vendor: poll schedule, progress log, outcome, events.

The worker's polling loop (:func:`wait_in_worker`) and the trigger's loop
(``triggers/runs.py``) are both driven by one :class:`Waiter`, so both waiting
modes schedule polls, log progress, treat errors and meet the deadline the same
way. :func:`conclude` is the single place that turns a final run into success or
a failure message; :class:`RunEvent` is the single place trigger events are built
and parsed.

A wait ends one of four ways, the same in both modes: the run *finished*
(:func:`conclude` decides success from the task's ``success_states``), the
*deadline* passed (:func:`handle_deadline` cancels where it can), the run stayed
*blocked* on a person past the task's grace period (:func:`handle_blocked`), or
an *error* stopped the wait.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from airflow_provider_pipelines.errors import (
    AmbiguousError,
    NotSentError,
    PipelinesError,
    RateLimitedError,
    RunBlockedError,
    RunFailedError,
    RunTimeoutError,
    RunUnknownError,
    ServerError,
)
from airflow_provider_pipelines.runs import RemoteRun, RunState

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks.base import PipelineHook

#: errors that mean "the vendor could not be asked right now": waiting goes on
TRANSIENT_ERRORS = (NotSentError, AmbiguousError, ServerError, RateLimitedError)

#: the states a task counts as success unless it says otherwise
SUCCESS_ONLY: frozenset[RunState] = frozenset({RunState.SUCCESS})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_elapsed(seconds: float) -> str:
    """``3m20s``, ``1h02m``, ``45s``."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


@dataclass(frozen=True)
class PollSchedule:
    """Adaptive polling: short first, then about a tenth of the time elapsed, up to ``poll_interval``.

    A run that ends early is noticed within ``first`` seconds; a long run costs
    few requests, and its end is noticed within about 10 % of its duration.
    """

    poll_interval: float
    first: float = 5.0

    def delay(self, elapsed: float) -> float:
        first = min(self.first, self.poll_interval)
        return min(self.poll_interval, max(first, 0.1 * elapsed))


@dataclass
class UnknownRunWatch:
    """Tells a run that does not exist from a vendor outage, where the vendor cannot say which.

    InVision answers a bare ``500`` for a run id it does not know, as for its own
    failures. A run never once read successfully whose reads still fail with a
    server error ``grace`` seconds after the first such failure is taken for unknown;
    a run read successfully once is waited on through any outage.

    :param grace: seconds of failing reads allowed before the first successful one.
    :param read_once: a read of the run succeeded.
    :param failing_since: UTC time of the first failed read, while none has succeeded.
    """

    grace: float
    read_once: bool = False
    failing_since: datetime | None = None

    def ok(self) -> None:
        self.read_once = True
        self.failing_since = None

    def failed(
        self, exc: PipelinesError, display_name: str, run_id: str, now: datetime | None = None
    ) -> None:
        """Raise :class:`RunUnknownError` once a never-read run kept failing with server errors past
        the grace."""
        if self.read_once or not isinstance(exc, ServerError):
            return
        now = now or utcnow()
        if self.failing_since is None:
            self.failing_since = now
        if (now - self.failing_since).total_seconds() >= self.grace:
            raise RunUnknownError(
                f"{display_name} has answered HTTP {exc.status} to every read of run {run_id} for "
                f"{format_elapsed(self.grace)} and never once answered for it: {display_name} may not "
                f"know this run id (it answers a bare {exc.status} for a run it does not know). Check the "
                f"run id and the data flow id. Last answer: {exc}"
            )

    def to_dict(self) -> dict[str, Any]:
        since = self.failing_since.isoformat() if self.failing_since else None
        return {"read_once": self.read_once, "failing_since": since}

    @classmethod
    def from_dict(cls, grace: float, data: Any) -> UnknownRunWatch:
        """From :meth:`to_dict`; anything unreadable starts a fresh watch."""
        watch = cls(grace)
        if isinstance(data, Mapping):
            watch.read_once = data.get("read_once") is True
            since = data.get("failing_since")
            if isinstance(since, str):
                with contextlib.suppress(ValueError):
                    watch.failing_since = datetime.fromisoformat(since)
        return watch


class Waiter:
    """Decides, poll after poll, how long to sleep and what to log.

    ``on_url``, when set, is called with the run's web link whenever a read returns one
    not seen before (the operator pushes it to XCom and the log).

    :param display_name: the vendor's name for log lines.
    :param schedule: the poll schedule.
    :param deadline: UTC wall-clock time after which waiting stops.
    :param started_at: when the run was started (the schedule grows from there).
    :param blocked_grace: seconds a run may stay BLOCKED (waiting for a person) before the
        wait ends with "blocked"; None waits on until the deadline. The clock restarts
        whenever the run moves on and blocks again.
    :param unknown_run_grace: seconds a run never once read may keep failing with server
        errors before the wait ends with :class:`RunUnknownError` (see :class:`UnknownRunWatch`);
        None: such a run is waited on until the deadline.
    :param run_id: the run's id, for that message.
    """

    on_url: Callable[[str], None] | None = None

    def __init__(
        self,
        display_name: str,
        schedule: PollSchedule,
        deadline: datetime,
        started_at: datetime,
        logger: logging.Logger | Any,
        *,
        blocked_grace: float | None = None,
        unknown_run_grace: float | None = None,
        run_id: str = "",
    ) -> None:
        self.display_name = display_name
        self.run_id = run_id
        self.unknown = None if unknown_run_grace is None else UnknownRunWatch(unknown_run_grace)
        self.schedule = schedule
        self.deadline = deadline
        self.started_at = started_at
        self.log = logger
        self.blocked_grace = blocked_grace
        self._last: tuple[RunState, str | None] | None = None
        self._blocked_since: datetime | None = None
        self._not_before: datetime | None = None
        self.polls = 0
        self._url: str | None = None
        #: status reads that failed (after the retry policy's own tries) since the last good one
        self.failed_reads = 0
        self.last_error: str | None = None

    def elapsed(self) -> float:
        return (utcnow() - self.started_at).total_seconds()

    def observe(self, run: RemoteRun) -> None:
        """Log the run's state when it changed since the last poll (not on every poll)."""
        self.polls += 1
        self.failed_reads = 0
        if self.unknown is not None:
            self.unknown.ok()
        if run.state is not RunState.BLOCKED:
            self._blocked_since = None
        elif self._blocked_since is None:
            self._blocked_since = utcnow()
        if run.url and run.url != self._url:
            self._url = run.url
            if self.on_url is not None:
                self.on_url(run.url)  # a link a later read returned (the first may have failed)
        key = (run.state, run.vendor_status)
        if key == self._last:
            return
        self._last = key
        where = f" ({run.detail})" if run.detail else ""
        link = f" {run.url}" if run.url else ""
        if run.state is RunState.UNKNOWN:
            self.log.warning(
                "%s run %s reports status %r, which this provider does not know; treating it as "
                "not finished and waiting on%s",
                self.display_name,
                run.run_id,
                run.vendor_status,
                link,
            )
            return
        self.log.info(
            "%s run %s %s %s %s%s%s",
            self.display_name,
            run.run_id,
            run.status_words(),  # the vendor's own word: created and pending are both queued
            "after" if run.state.is_terminal else "for",
            format_elapsed(self.elapsed()),
            where,
            link,
        )
        if run.state is RunState.BLOCKED and self.blocked_grace is not None:
            self.log.warning(
                "%s run %s waits for someone to act; the task fails if it still waits %s from now",
                self.display_name,
                run.run_id,
                format_elapsed(self.blocked_grace),
            )

    def blocked_expired(self) -> bool:
        """True once the run has been BLOCKED for longer than the grace period."""
        if self.blocked_grace is None or self._blocked_since is None:
            return False
        return (utcnow() - self._blocked_since).total_seconds() >= self.blocked_grace

    def observe_error(self, exc: PipelinesError) -> None:
        """Re-raise a permanent error; log a transient one and let waiting go on."""
        if not isinstance(exc, TRANSIENT_ERRORS):
            raise exc
        if self.unknown is not None:
            self.unknown.failed(exc, self.display_name, self.run_id)
        self.failed_reads += 1
        self.last_error = str(exc)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            # the vendor asked for a longer pause than the retry policy sleeps: honour it here,
            # where the deadline is known (next_sleep never sleeps past it)
            self._not_before = utcnow() + timedelta(seconds=float(retry_after))
        self.log.warning(
            "%s status read failed after retries (%s); still waiting until %s",
            self.display_name,
            exc,
            self.deadline.isoformat(timespec="seconds"),
        )

    def failure_note(self) -> str:
        """What the deadline message adds when the last status reads failed ("" when they did not)."""
        if not self.failed_reads:
            return ""
        reads = "status read" if self.failed_reads == 1 else f"{self.failed_reads} status reads"
        return f"the last {reads} before the deadline failed, the last with: {self.last_error}"

    def next_sleep(self) -> float | None:
        """Seconds until the next poll, or None once the deadline has passed."""
        now = utcnow()
        remaining = (self.deadline - now).total_seconds()
        if remaining <= 0:
            return None
        pause = self.schedule.delay(self.elapsed())
        if self._not_before is not None:
            pause = max(pause, (self._not_before - now).total_seconds())
        pause = min(pause, remaining)
        if self.blocked_grace is not None and self._blocked_since is not None:
            # look once more right when the grace ends, so a run still blocked then fails on time
            grace_left = self.blocked_grace - (now - self._blocked_since).total_seconds()
            pause = min(pause, max(grace_left, 0.0))
        return pause


def wait_in_worker(hook: PipelineHook, run: RemoteRun, waiter: Waiter) -> RemoteRun:
    """Wait from the worker until the run ends; a run still going at the deadline, or blocked past
    the waiter's grace period (``waiter.blocked_expired()``), is returned as is.

    Where the vendor can hold one request open until the run ends, the wait does so
    (:mod:`.held_wait`, which falls back to polling); otherwise it polls.
    """
    if not run.state.is_terminal and hook.offers_held_wait(run.ref):
        from airflow_provider_pipelines.held_wait import HeldWait

        return HeldWait(hook, waiter).wait(run)
    return poll_in_worker(hook, run, waiter)


def poll_in_worker(
    hook: PipelineHook, run: RemoteRun, waiter: Waiter, *, observed: bool = False
) -> RemoteRun:
    """Poll from the worker until the run ends (see :func:`wait_in_worker`).

    :param observed: the waiter has already seen ``run`` (a wait that began another way).
    """
    if not observed:
        waiter.observe(run)
    while not run.state.is_terminal and not waiter.blocked_expired():
        pause = waiter.next_sleep()
        if pause is None:
            return run
        time.sleep(pause)
        try:
            run = hook.get_run(run.ref)
        except PipelinesError as exc:
            waiter.observe_error(exc)
            continue
        waiter.observe(run)
    return run


def conclude(
    hook: PipelineHook,
    run: RemoteRun,
    logger: logging.Logger | Any,
    *,
    success_states: frozenset[RunState] = SUCCESS_ONLY,
) -> str:
    """Return the run id of a successful run; raise a failure that says why otherwise.

    :param success_states: the final states the task counts as success; ``SUCCESS``
        only, unless the task asked for more (a skipped DataOps.live pipeline, say).
    """
    name = hook.api.display_name
    if run.state is RunState.SUCCESS:
        logger.info("%s %s succeeded", name, run.describe())
        return run.run_id
    if run.state.is_terminal and run.state in success_states:
        logger.warning(
            "%s %s ended %s, which this task counts as success", name, run.describe(), run.state.value
        )
        return run.run_id
    if run.state.is_terminal:
        reasons = hook.explain_failure(run)
        for line in reasons:
            logger.error("%s", line)
        message = f"{name} {run.describe()} did not succeed: it ended {run.state.value}"
        if reasons:
            message += f": {reasons[0]}"
        logger.error("%s", message)
        raise RunFailedError(message, run, reasons)
    raise RunTimeoutError(deadline_message(hook, run), run)


def deadline_message(
    hook: PipelineHook, run: RemoteRun, cancelled: bool = False, note: str = "", timeout: float | None = None
) -> str:
    """Why the wait ended at the deadline: the task's ``timeout`` (when known), the last state seen,
    and what became of the run."""
    name = hook.api.display_name
    limit = f"timeout {format_elapsed(timeout)}; " if timeout else ""
    text = f"{name} {run.describe()} had not finished by the deadline ({limit}last state {run.state.value})"
    if note:
        text += f" ({note})"
    if cancelled:
        return text + "; it was cancelled"
    if hook.cancel_request(run.ref) is None:
        return text + f"; {name} offers no cancel, so the run may still be going"
    return text + "; it was left running"


def handle_blocked(
    hook: PipelineHook, run: RemoteRun, grace: float | None, logger: logging.Logger | Any
) -> NoReturn:
    """Fail a run that waited for a person past the grace period, saying what it waits for.

    The run is left as it is: someone may still act on it, and a retry of the task
    can find it again (where the vendor lets us) instead of starting another.
    """
    name = hook.api.display_name
    reasons = hook.explain_failure(run)
    for line in reasons:
        logger.error("%s", line)
    waited = f" for more than {format_elapsed(grace)}" if grace is not None else ""
    message = (
        f"{name} {run.describe()} waited for someone to act{waited}; the task gives up and leaves "
        f"the run as it is"
    )
    if reasons:
        message += f": {reasons[0]}"
    logger.error("%s", message)
    raise RunBlockedError(message, run, reasons)


def handle_deadline(
    hook: PipelineHook,
    run: RemoteRun,
    cancel: bool,
    logger: logging.Logger | Any,
    note: str = "",
    *,
    timeout: float | None = None,
) -> None:
    """Cancel the run where the vendor can (and ``cancel`` holds), log it, and raise the timeout.

    :param note: why the last state may be stale (:meth:`Waiter.failure_note`), for the message.
    :param timeout: the task's timeout in seconds, for the message.
    """
    cancelled = False
    if cancel and hook.cancel_request(run.ref) is not None:
        try:
            hook.cancel_run(run)
            cancelled = True
            logger.warning("Cancelled %s %s at the deadline", hook.api.display_name, run.describe())
        except PipelinesError as exc:
            logger.error("Could not cancel %s %s: %s", hook.api.display_name, run.describe(), exc)
    message = deadline_message(hook, run, cancelled, note, timeout)
    logger.error("%s", message)
    raise RunTimeoutError(message, run)


EventStatus = Literal["finished", "timeout", "blocked", "error"]


@dataclass(frozen=True)
class RunEvent:
    """The payload of a :class:`RemoteRunTrigger` event: small, plain JSON, parsed in one place.

    ``finished`` carries a terminal run (success or not is decided by
    :func:`conclude`, from the run's state); ``timeout`` carries the last run seen
    (and, as its message, why that may be stale: failing status reads);
    ``blocked`` a run that stayed blocked past the grace period; ``error`` carries a
    message (and the run, when known).
    """

    status: EventStatus
    run: RemoteRun | None
    message: str = ""

    def to_payload(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run": self.run.to_dict() if self.run else None,
            "message": self.message,
        }

    @classmethod
    def parse(cls, payload: Any) -> RunEvent:
        """Parse an event; anything malformed or unexpected raises :class:`PipelinesError`."""
        if not isinstance(payload, Mapping):
            raise PipelinesError(f"the trigger sent an event that is not a mapping: {payload!r}")
        status = payload.get("status")
        if status not in ("finished", "timeout", "blocked", "error"):
            raise PipelinesError(f"the trigger sent an event with an unexpected status: {payload!r}")
        run = None
        if payload.get("run") is not None:
            try:
                run = RemoteRun.from_dict(payload["run"])
            except ValueError as exc:
                raise PipelinesError(f"the trigger sent a malformed run: {exc}") from None
        if status in ("finished", "timeout", "blocked") and run is None:
            raise PipelinesError(f"the trigger sent a {status!r} event without a run: {payload!r}")
        if status == "finished" and run is not None and not run.state.is_terminal:
            raise PipelinesError(f"the trigger sent 'finished' for a run that is {run.state.value}")
        if status == "blocked" and run is not None and run.state is not RunState.BLOCKED:
            raise PipelinesError(f"the trigger sent 'blocked' for a run that is {run.state.value}")
        return cls(status=status, run=run, message=str(payload.get("message") or ""))


def run_in_event(payload: Any) -> RemoteRun | None:
    """The run a trigger event carries; None for an event without one, or a malformed one
    (:func:`complete_from_event` reports those)."""
    try:
        return RunEvent.parse(payload).run
    except PipelinesError:
        return None


def deadline_from(timeout: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) + timedelta(seconds=timeout)


def url_from_event(payload: Any) -> str | None:
    """The run's web link in a trigger event, if it has one (a malformed event has none: it fails
    in :func:`complete_from_event`)."""
    try:
        event = RunEvent.parse(payload)
    except PipelinesError:
        return None
    return event.run.url if event.run is not None else None


def complete_from_event(
    hook: PipelineHook,
    payload: Any,
    cancel: bool,
    logger: logging.Logger | Any,
    *,
    success_states: frozenset[RunState] = SUCCESS_ONLY,
    blocked_grace: float | None = None,
    timeout: float | None = None,
) -> str:
    """Finish a deferred wait from the trigger's event: success only on an explicit finished success.

    :param timeout: the task's timeout in seconds, for the deadline message.
    """
    event = RunEvent.parse(payload)
    if event.status == "error":
        where = f" for {hook.api.display_name} {event.run.describe()}" if event.run else ""
        raise PipelinesError(f"Waiting{where} stopped on an error: {event.message}")
    assert event.run is not None  # RunEvent.parse guarantees a run for the other statuses
    if event.status == "timeout":
        handle_deadline(hook, event.run, cancel, logger, note=event.message, timeout=timeout)
    if event.status == "blocked":
        handle_blocked(hook, event.run, blocked_grace, logger)
    return conclude(hook, event.run, logger, success_states=success_states)
