"""Coalesced status reads in the triggerer: one list request serves every wait of a scope.

::

    RemoteRunTrigger ── status_reads(hook, ref) ──> PerRunReads: one status request per poll
                                                └─> a seat on the Poller of its scope
    Poller: per (event loop, hook class, connection, variant, scope)
        │ one list of the scope's changed runs per cycle (all pages) ──> vendor
        ▼ wakes only the seats whose run changed (or left the list: read directly)
    seat: its run's last known state, when the lists last vouched for it

**What shares a poller.** Waits in one event loop (a triggerer) on one connection whose runs
have one *scope*, :meth:`PipelineHook.list_scope`: a DataOps.live project, or a remote Airflow
deployment's API generation (``/api/v2``, ``/api/v1``). Vendors that cannot list runs (Dataform,
InVision, the experimental Airflow API) have no scope: each wait reads its run on its own, as
before. The switch ``PIPELINES_POLLING=per-run`` in the triggerer's environment does that for
every vendor (a bench and diagnostic knob: it costs one request per wait and poll).

**What a cycle asks.** :meth:`PipelineHook.alist_scope_changes` from the cursor minus
:data:`OVERLAP`, every page: GitLab's ``GET /projects/:id/pipelines?updated_after=…&order_by=
updated_at&sort=asc&per_page=100``; Airflow 3's ``GET /api/v2/dags/~/dagRuns?updated_at_gte=…``;
Airflow 2's ``POST /api/v1/dags/~/dagRuns/list`` (the waited DAGs' runs that ended). Its
requests go through the connection's transport, so its retry policy and its request budget
(:mod:`~airflow_provider_pipelines.budget`) hold as for any other request.

**How often.** Each seat needs a look every ``need`` seconds (its wait's adaptive schedule:
5 s at first, then a tenth of the time elapsed, up to ``poll_interval``). The poller reads every
``T`` seconds, ``T`` chosen among the needs to cost the fewest requests per second (a list of
``p`` pages costs ``p``): the seats that need a look more often than ``T`` read their runs on
their own. With one page, ``T`` is the smallest need: no wait is looked at less often than its
schedule says, so its end is noticed as soon as before.

**Correctness first.**

* A wait's first read is its own (no list can vouch for a state it never saw).
* A run the list shows in a new state wakes its seat. A *terminal* state is read once more on
  its own before the event fires (a list row may be stale).
* A seat counts as looked at only by a list that started after its last read, was complete
  (not cut at :data:`~airflow_provider_pipelines.hooks.base.MAX_LIST_PAGES`, or its run was on
  the pages read), and succeeded. When its pause ends without such a look (the list failed, is
  late, or runs less often than the seat needs), the seat reads its run on its own: a failed
  list falls back to today's per-run reads.
* A run listed by one read and missing from the next, though its row changed after the next one's
  window began (or did not say when it changed), is read directly: a row that moved between
  pages while they were read, a run deleted, a list that lies. A run that only grew older than
  the window has not changed: the list vouches for it as for any other.
* The cursor is the vendor's clock (its ``Date`` header) when a list began, so a run that changes
  later is in the next window. Where rows are ordered by their change time (GitLab) and a read
  took several pages, the cursor moves only as far as the first page reached: a row that changed
  meanwhile moves to the end and may push another over a page boundary unseen; that one sorts
  after the first page, so the next read lists it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_pipelines.errors import PipelinesError
from airflow_provider_pipelines.isotime import aware_or_none
from airflow_provider_pipelines.runs import RemoteRun

if TYPE_CHECKING:
    from airflow_provider_pipelines.apis.base import Page
    from airflow_provider_pipelines.hooks.base import PipelineHook
    from airflow_provider_pipelines.lifecycle import Waiter

log = logging.getLogger(__name__)

#: the environment variable of the bench and diagnostic knob: ``per-run`` reads every run on its own
POLLING_ENV = "PIPELINES_POLLING"
#: every list reaches back this far before its cursor (rows committed late, clocks that differ)
OVERLAP = timedelta(minutes=2)
#: seconds between two list reads at least (a wait with a tiny poll interval, in tests)
MIN_PERIOD = 0.05
#: seconds between two tries of a list that keeps failing, at most (waits read on their own meanwhile)
MAX_RETRY_PERIOD = 300.0


def coalescing() -> bool:
    """False when ``PIPELINES_POLLING=per-run`` (or ``off``): every wait reads its run on its own."""
    value = os.environ.get(POLLING_ENV, "coalesced").strip().lower()
    return value not in ("per-run", "per_run", "perrun", "off", "false", "0")


class StatusReads(Protocol):
    """How a wait learns its run's state: :meth:`read` after each :meth:`pause`."""

    async def read(self, last: RemoteRun) -> RemoteRun:
        """The run's state now (``last`` when nothing changed and no request was needed)."""

    async def pause(self, seconds: float) -> None:
        """Wait until the next read is due; may end early when the run changed."""


class PerRunReads:
    """One status request per poll: vendors without a list, and the ``per-run`` knob."""

    def __init__(self, hook: PipelineHook, ref: Mapping[str, str]) -> None:
        self.hook, self.ref = hook, ref
        self.request = hook.status_request(ref)  # the same request on every poll: built once

    async def read(self, last: RemoteRun) -> RemoteRun:
        return await self.hook.aread_run(self.request, self.ref)

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def status_reads(
    hook: PipelineHook, ref: Mapping[str, str], waiter: Waiter | None = None
) -> AsyncIterator[StatusReads]:
    """The reads of one wait: a seat on its scope's poller where the vendor lists runs, else per run.

    ``waiter`` (the wait's schedule and start) lets a wait on a run begun within the poller's
    window learn its first state from the next list instead of a read of its own.
    Raises :class:`PipelinesError` for a ref the hook cannot read (before any request).
    """
    scope = hook.list_scope(ref) if coalescing() else None
    if scope is None:
        yield PerRunReads(hook, ref)
        return
    seat = Seat(_poller_for(hook, ref, scope), hook, ref)
    if waiter is not None:
        seat.born = waiter.started_at
        seat.need = waiter.schedule.delay(waiter.elapsed())
        seat.poller.needs_changed(seat.need)
    try:
        yield seat
    finally:
        seat.leave()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


#: what a seat's news is when its run left the list: read it directly
_VANISHED: Any = object()


class Seat:
    """One wait's place on a poller; see the module docstring for when it reads on its own."""

    __slots__ = (
        "began",
        "born",
        "direct",
        "future",
        "hook",
        "key",
        "known",
        "known_at",
        "listed",
        "listed_at",
        "looked_at",
        "need",
        "news",
        "news_at",
        "poller",
        "ref",
        "request",
    )

    def __init__(self, poller: Poller, hook: PipelineHook, ref: Mapping[str, str]) -> None:
        self.poller = poller
        self.hook = hook
        self.ref = ref
        self.request = hook.status_request(ref)
        self.key = poller.key_of(ref)
        #: (state, vendor status) last seen, and when the read that saw it began (loop time)
        self.known: tuple[Any, Any] = (None, None)
        self.known_at = -math.inf
        #: when the last list that vouched for this run began (loop time)
        self.looked_at = -math.inf
        #: the last complete list showed this run, changed at this time (None: the row did not say)
        self.listed = False
        self.listed_at: datetime | None = None
        #: seconds between two looks this wait needs (its schedule); the poller's period follows
        self.need = math.inf
        #: when the current pause began (loop time)
        self.began = -math.inf
        #: when the run began (UTC), where known
        self.born: datetime | None = None
        #: a changed run seen in a list (or _VANISHED), not yet read by the wait
        self.news: RemoteRun | None = None
        self.news_at = -math.inf
        #: read the run on its own next time: the first read, a terminal state to confirm, a run gone
        self.direct = True
        self.future: asyncio.Future[None] | None = None
        poller.add(self)

    # -- what the wait calls ----------------------------------------------------------------------

    async def read(self, last: RemoteRun) -> RemoteRun:
        news, self.news = self.news, None
        if news is not None and news is not _VANISHED and not news.state.is_terminal:
            self.direct = False
            self._know(news, self.news_at)
            return news
        if news is not None:  # an end to confirm before the event fires, or a run gone from the list
            self.direct = True
            return await self._read_own()
        if self.known_at == -math.inf and self.poller.lists_new_run(self.born):
            # a run begun within the list's window: the next list shows it (else it is read below)
            await self._await_list(self.need)
            if self.news is not None:
                return await self.read(last)
        elif not self.direct and not self._fresh():
            await self._await_list(min(1.0, 0.2 * self.need))
            if self.news is not None:
                return await self.read(last)  # a change arrived meanwhile
        if not self.direct and self._fresh():
            return last  # the lists vouch that nothing changed: no request
        return await self._read_own()

    async def _read_own(self) -> RemoteRun:
        """A read of the run itself (one status request, under the retry policy)."""
        started = asyncio.get_running_loop().time()
        run = await self.hook.aread_run(self.request, self.ref)
        self.direct = False
        self._know(run, started)
        return run

    async def pause(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.began = loop.time()
        if seconds != self.need:
            self.need = seconds
            self.poller.needs_changed(seconds)
        if self.news is not None:
            return
        future = loop.create_future()
        self.future = future
        handle = loop.call_later(seconds, _wake, future)
        try:
            await future
        finally:
            handle.cancel()
            self.future = None

    def leave(self) -> None:
        """Leave the poller (the wait ended or was cancelled); the last seat stops it."""
        self.poller.remove(self)

    # -- what the poller calls --------------------------------------------------------------------

    def notify(self, news: RemoteRun, at: float) -> None:
        """A list read that began at ``at`` saw the run changed (or gone: ``_VANISHED``)."""
        if news is _VANISHED and self.news is not None:
            return  # a change waiting to be read is news enough
        self.news, self.news_at = news, at
        if self.future is not None:
            _wake(self.future)

    def looked(self, at: float, listed: RemoteRun | bool | None) -> None:
        """A good list read that began at ``at`` vouched for this run: it showed it (the row), or
        not (False), or was cut before the end and says nothing of a run it did not show (None)."""
        self.looked_at = max(self.looked_at, at)
        if isinstance(listed, RemoteRun):
            extra = listed.extra
            self.listed, self.listed_at = (
                True,
                aware_or_none(extra.get("changed_at") or extra.get("state_changed_at")),
            )
        elif listed is False:
            self.listed, self.listed_at = False, None

    def left_early(self, since: datetime) -> bool:
        """Whether a run the last list showed, and this one (from ``since``) does not, should still
        be on it: its row changed after ``since``, or did not say when it changed."""
        return self.listed and (self.listed_at is None or self.listed_at >= since)

    def _know(self, run: RemoteRun, at: float) -> None:
        self.known = (run.state, run.vendor_status)
        self.known_at = max(self.known_at, at)

    def _fresh(self) -> bool:
        """Whether something looked at the run after this pause began (a read, or a list)."""
        return max(self.known_at, self.looked_at) >= self.began - 0.01

    async def _await_list(self, slack: float) -> None:
        """Wait for the list read under way, or one that begins within ``slack`` seconds."""
        loop = asyncio.get_running_loop()
        until = self.poller.next_read_in(loop.time())
        if until is None or until > slack:
            return
        future = loop.create_future()
        self.future = future
        self.poller.waiting.add(self)
        handle = loop.call_later(until + max(2.0, min(self.need, 30.0)), _wake, future)
        try:
            await future
        finally:
            handle.cancel()
            self.future = None
            self.poller.waiting.discard(self)


class Poller:
    """Reads one scope's changed runs for the seats on it; see the module docstring."""

    def __init__(
        self,
        slot: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        *,
        hook_cls: type[PipelineHook],
        conn_id: str,
        variant: str,
        scope: str,
        ref_keys: Sequence[str],
    ) -> None:
        self.slot = slot
        self.loop = loop  # held, so that its id is not reused while this poller lives
        self.hook_cls, self.conn_id, self.variant, self.scope = hook_cls, conn_id, variant, scope
        self.ref_keys = tuple(ref_keys)
        self.seats: dict[Hashable, list[Seat]] = {}
        self.count = 0
        #: seats waiting for the list read under way (woken when it ends)
        self.waiting: set[Seat] = set()
        self.cursor: datetime | None = None
        self.pages = 1
        self.period = math.inf
        self.next_at = math.inf  # loop time of the next read (inf: none planned)
        self.reading = False
        self.failures = 0
        #: the list shows every run changed since the time asked (a run begun later is on it)
        self.shows_new_runs = False
        self.task: asyncio.Task[None] | None = None
        self._alarm: asyncio.Future[None] | None = None
        self.name = f"{hook_cls.hook_name} {scope!r} on connection {conn_id!r}"

    def key_of(self, ref: Mapping[str, str]) -> Hashable:
        return tuple(ref.get(k) for k in self.ref_keys)

    # -- seats --------------------------------------------------------------------------------------

    def add(self, seat: Seat) -> None:
        self.seats.setdefault(seat.key, []).append(seat)
        self.count += 1
        if self.task is None:
            self.cursor = datetime.now(timezone.utc)
            self.task = self.loop.create_task(self._run())

    def remove(self, seat: Seat) -> None:
        seats = self.seats.get(seat.key)
        if seats is None or seat not in seats:
            return
        seats.remove(seat)
        if not seats:
            del self.seats[seat.key]
        self.count -= 1
        self.waiting.discard(seat)
        if self.count == 0:
            if _POLLERS.get(self.slot) is self:
                del _POLLERS[self.slot]
            if self.task is not None:
                self.task.cancel()

    def needs_changed(self, need: float) -> None:
        """A seat's need changed: a read sooner than planned may be due."""
        if self._alarm is not None and self.loop.time() + need < self.next_at:
            _wake(self._alarm)

    def lists_new_run(self, born: datetime | None) -> bool:
        """Whether the next list shows a run begun at ``born`` (our clock; half the overlap is left
        for clocks that differ), so that a wait on it need not read it first."""
        if not self.shows_new_runs or self.failures or born is None or self.cursor is None:
            return False
        return born >= self.cursor - OVERLAP / 2

    def next_read_in(self, now: float) -> float | None:
        """Seconds until the next list read begins (0: under way); None when the lists are failing."""
        if self.failures:
            return None
        return 0.0 if self.reading else max(0.0, self.next_at - now)

    # -- the cycle ------------------------------------------------------------------------------------

    async def _run(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            hook = await self._lease(stack)
            if hook is None:
                self.failures = 1  # each wait reads on its own, and says what is wrong with the connection
                await asyncio.Event().wait()  # until the last seat leaves
                return
            log.debug("Coalescing the status reads of %s", self.name)
            last = self.loop.time()
            while self.count:
                self.period = self._period()
                gap = self.period * (2 ** min(self.failures, 12)) if self.failures else self.period
                self.next_at = last + min(gap, max(self.period, MAX_RETRY_PERIOD))
                await self._sleep_until(self.next_at)
                if self.loop.time() < self.next_at - 0.001:
                    continue  # woken early: a seat needs looks sooner; plan again
                last = self.loop.time()
                try:
                    await self._cycle(hook, last)
                except Exception:  # a fault of ours: the waits read on their own, and it is tried again
                    log.exception(
                        "The poller of %s failed; its waits read their own runs meanwhile", self.name
                    )
                    self.reading = False
                    self.failures += 1
                    self._wake_waiting()

    async def _lease(self, stack: contextlib.AsyncExitStack) -> PipelineHook | None:
        """The hook this triggerer shares for the connection, and its connection pool, while held."""
        from airflow_provider_pipelines.hooks.base import shared_hook
        from airflow_provider_pipelines.http import session_lease

        try:
            hook = await stack.enter_async_context(shared_hook(self.hook_cls, self.conn_id, self.variant))
            await stack.enter_async_context(session_lease(await hook.aget_endpoint()))
        except PipelinesError:
            return None
        return hook

    async def _sleep_until(self, when: float) -> None:
        delay = when - self.loop.time()
        if delay <= 0:
            return
        alarm = self.loop.create_future()
        self._alarm = alarm
        handle = self.loop.call_later(delay, _wake, alarm)
        try:
            await alarm
        finally:
            handle.cancel()
            self._alarm = None

    def _period(self) -> float:
        """The period that costs the fewest requests per second: ``pages / T`` for the lists, plus
        ``1 / need`` for each seat that needs looks more often than ``T`` (it reads on its own)."""
        needs = sorted(seat.need for seats in self.seats.values() for seat in seats)
        best, best_cost, alone = needs[0] if needs else math.inf, math.inf, 0.0
        for need in needs:
            if need == math.inf:
                break
            cost = self.pages / need + alone
            if cost < best_cost:
                best, best_cost = need, cost
            alone += 1.0 / need
        return max(best, MIN_PERIOD)

    async def _cycle(self, hook: PipelineHook, started: float) -> None:
        wall = datetime.now(timezone.utc)
        assert self.cursor is not None
        since = self.cursor - OVERLAP
        refs = [seats[0].ref for seats in self.seats.values()]
        self.reading = True
        try:
            pages = await hook.alist_scope_changes(self.scope, since, refs)
        except Exception as exc:  # any failure: the waits read on their own meanwhile
            self.reading = False
            self._failed(exc)
            self._wake_waiting()
            return
        self.reading = False
        if self.failures:
            log.info("The list of %s works again: waits are looked at together again", self.name)
        self.failures = 0
        self.pages = max(1, len(pages))
        cut = pages[-1].next_page is not None
        self.cursor = next_cursor(self.cursor, wall, pages, cut)
        self._dispatch(pages, started, cut, since)
        self._wake_waiting()

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.failures == 1:
            log.warning(
                "The list of %s failed (%s); each wait reads its own run until the list works again",
                self.name,
                exc,
            )

    def _wake_waiting(self) -> None:
        for seat in list(self.waiting):
            if seat.future is not None:
                _wake(seat.future)

    def _dispatch(self, pages: Sequence[Page], started: float, cut: bool, since: datetime) -> None:
        """Wake the seats whose run the list shows changed, or no longer shows though it should (its
        row changed after ``since``, where the list began); vouch for the rest."""
        shown: dict[Hashable, RemoteRun] = {}
        for page in pages:
            for run in page.runs:
                key = self.key_of(run.ref)
                seats = self.seats.get(key)
                if not seats:
                    continue
                shown[key] = run
                for seat in seats:
                    if seat.known_at <= started and (run.state, run.vendor_status) != seat.known:
                        seat.notify(run, started)
        for key, seats in self.seats.items():
            row = shown.get(key)
            for seat in seats:
                if cut and row is None:
                    continue  # it may be on a page not read: nothing is known of it
                if row is None and seat.known_at <= started and seat.left_early(since):
                    seat.notify(_VANISHED, started)
                seat.looked(started, row if row is not None else False)


def next_cursor(old: datetime, began: datetime, pages: Sequence[Page], cut: bool) -> datetime:
    """Where the next list read starts (before :data:`OVERLAP`), after one that began at ``began``
    (our clock) and returned ``pages``; see the module docstring. Never moves back."""
    clock = pages[0].server_time if pages and pages[0].server_time is not None else began
    stamps = (aware_or_none(run.extra.get("changed_at")) for run in (pages[0].runs if pages else []))
    stamped = [when for when in stamps if when is not None]
    if len(pages) > 1 and stamped:
        cursor = min(clock, max(stamped))  # rows ordered by change time: as far as the first page
    elif cut:
        cursor = old  # rows in another order: the unread pages may hold anything
    else:
        cursor = clock
    return max(old, cursor)


# -- one poller per (event loop, hook class, connection, variant, scope) --------------------------------

_POLLERS: dict[tuple[Any, ...], Poller] = {}


def _poller_for(hook: PipelineHook, ref: Mapping[str, str], scope: str) -> Poller:
    loop = asyncio.get_running_loop()
    cls = type(hook)
    variant = cls.shared_variant(ref)
    slot = (id(loop), cls, hook.conn_id, variant, scope)
    poller = _POLLERS.get(slot)
    if poller is None or poller.loop is not loop or poller.count == 0:
        for stale in [k for k, p in _POLLERS.items() if p.loop.is_closed()]:
            del _POLLERS[stale]
        poller = Poller(
            slot,
            loop,
            hook_cls=cls,
            conn_id=hook.conn_id,
            variant=variant,
            scope=scope,
            ref_keys=hook.api.ref_keys,
        )
        poller.shows_new_runs = hook.list_shows_new_runs(scope)
        _POLLERS[slot] = poller
    return poller


def pollers() -> list[Poller]:
    """The pollers of the running event loop (for tests and benches)."""
    loop = asyncio.get_running_loop()
    return [p for p in _POLLERS.values() if p.loop is loop]


__all__ = ["POLLING_ENV", "PerRunReads", "Poller", "Seat", "StatusReads", "coalescing", "status_reads"]
