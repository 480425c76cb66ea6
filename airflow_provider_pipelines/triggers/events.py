"""Airflow 3 event-driven scheduling: asset watchers that fire when a remote run ends.

::

    Asset("dataops://acme/main", watchers=[AssetWatcher(name=..., trigger=DataOpsPipelineEventTrigger(...))])
        │ the triggerer runs the trigger
        ▼
    one poll loop per (connection, project or DAG, poll interval)   ── one list request per poll ──> vendor
        │ a Snapshot of the runs that changed
        ▼
    each watcher: its filter (ref, source, states), its cursor, the runs it already fired
        │ one TriggerEvent per run that ended in a watched state after the watch began
        ▼
    an asset event whose extra["payload"] the downstream DAG reads (triggering_asset_events)

**One poll for many watchers.** On Airflow 3.3 the triggerer's shared streams
(``shared_stream_key`` / ``open_shared_stream`` / ``filter_shared_stream``) run one
poll loop for every watcher with the same connection, project (or DAG) and poll
interval. Where Airflow has no shared streams (3.0 to 3.2), :meth:`run` shares the
same loop itself, per event loop (``triggers/local_streams.py``). The shared list is
not narrowed by a watcher's ref or source, so watchers on other refs of the project
share it too; each watcher filters for itself.

**When a watcher fires.** For a run that it sees in one of its ``states``, that
ended after the watch began (``since``), and that it has not fired for yet. A
watch begins with a list read of its own: the vendor's clock (its ``Date``
header) and the latest end among the runs already over then make ``since``, so a
run that ended before it never fires. A run fires once, however often it is seen
again (lists overlap, and a running DataOps.live pipeline is listed on every poll).

**Across restarts.** The watch (``since``, a list cursor, the runs fired last) is
kept in the watched asset's state store (Airflow 3.3+), written *before* each
event is handed to Airflow: a restarted or reassigned watcher reads it, lists from
its cursor, fires for the runs that ended while it was away, and never again for
one it fired. (A triggerer that dies between that write and handing the event
over loses that one event; it never doubles it.) Without a state store (Airflow
3.0 to 3.2) the watch is kept in the triggerer process: a watcher restarted in the
same process carries on; a new triggerer process begins a new watch, from then on.

**Cursor.** Each list asks for what changed since ``cursor - OVERLAP``, ordered by
that time. A page boundary can skip a row when rows move while pages are read,
so after a read of several pages the cursor moves only as far as the first page
reached; anything skipped is listed again next time. The overlap covers rows
committed late and clocks that differ between the vendor's hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_pipelines._compat import base_event_trigger
from airflow_provider_pipelines.errors import ConfigurationError, PipelinesError
from airflow_provider_pipelines.isotime import aware_or_none
from airflow_provider_pipelines.params.dataops import check_project, id_text
from airflow_provider_pipelines.runs import RemoteRun, RunState
from airflow_provider_pipelines.triggers.local_streams import LocalSubscription
from airflow_provider_pipelines.validation import require_seconds, require_str

if TYPE_CHECKING:
    from airflow.triggers.base import BaseEventTrigger, TriggerEvent

    from airflow_provider_pipelines.apis.base import Page
    from airflow_provider_pipelines.hooks.base import PipelineHook

# Airflow 2.11 has no BaseEventTrigger: the classes below then refuse to be built, with a reason
_EVENT_TRIGGER_BASE, HAS_EVENT_TRIGGERS = base_event_trigger()
if not TYPE_CHECKING:
    BaseEventTrigger = _EVENT_TRIGGER_BASE

log = logging.getLogger(__name__)

#: every list reaches back this far before the cursor (late commits, clocks that differ)
OVERLAP = timedelta(minutes=2)
#: how many fired runs a watch remembers (the newest), so that none fires twice
FIRED_KEPT = 200
#: seconds between two writes of a cursor that moved without any event
SAVE_EVERY = 300.0
#: the version of the stored watch
STATE_VERSION = 1

__all__ = ["DataOpsPipelineEventTrigger", "RemoteDagRunEventTrigger"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# -- what one poll saw, and where the next one starts --------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What one list read saw: the runs that changed, and the cursor the next read starts from.

    The raw event of the shared poll: every watcher on the poll gets the same one.
    """

    runs: tuple[RemoteRun, ...]
    cursor: datetime
    server_time: datetime | None


def next_cursor(old: datetime, pages: Sequence[Page]) -> datetime:
    """Where the next list read starts (before :data:`OVERLAP`), after one that returned ``pages``.

    The rows are ordered by their ``changed_at``. With one page, the cursor moves to the latest
    one. With several, only as far as the first page reached: while pages are read, a row that
    changes moves to the end and shifts the others, and the row shifted over a page boundary is
    skipped; it sorts after the first page, so the next read lists it again. The cursor never
    moves back, and never past the vendor's clock (a cursor started from ours, when ours is ahead).
    """
    counted = pages[:1] if len(pages) > 1 else pages
    stamps = (aware_or_none(run.extra.get("changed_at")) for page in counted for run in page.runs)
    seen = [when for when in stamps if when is not None]
    cursor = max([old, *seen])
    clock = pages[0].server_time if pages else None
    return min(cursor, clock) if clock is not None else cursor


def snapshot_of(old: datetime, pages: Sequence[Page]) -> Snapshot:
    runs = tuple(run for page in pages for run in page.runs)
    return Snapshot(runs, next_cursor(old, pages), pages[0].server_time if pages else None)


# -- one watch: when it began, where its list is, what it fired ----------------------------------


@dataclass
class Watch:
    """The state of one watcher, kept across restarts (see the module docstring).

    :param since: the watch began here: runs that ended at or before it never fire.
    :param cursor: where the next list read of its own starts (a restart's catch-up read).
    :param fired: run id -> its end (ISO), the newest :data:`FIRED_KEPT`, oldest first.
    """

    since: datetime
    cursor: datetime
    fired: dict[str, str] = field(default_factory=dict)

    @classmethod
    def begin(cls, started: datetime, snapshot: Snapshot) -> Watch:
        """A new watch, from its first list read (``started``: our clock when it was sent).

        It begins at the vendor's clock when it answered, or at the latest end among the runs
        already over then, whichever is later: those runs ended before the watch.
        """
        ends = [when for run in snapshot.runs if (when := aware_or_none(run.extra.get("finished_at")))]
        since = max([snapshot.server_time or started, *ends])
        return cls(since=since, cursor=snapshot.cursor)

    def is_due(self, run: RemoteRun, states: frozenset[RunState]) -> bool:
        """True when ``run`` ended in one of ``states`` after the watch began and has not fired yet."""
        if run.state not in states or run.run_id in self.fired:
            return False
        ended = aware_or_none(run.extra.get("finished_at"))
        return ended is not None and ended > self.since

    def record(self, run: RemoteRun) -> None:
        self.fired[run.run_id] = str(run.extra.get("finished_at"))
        while len(self.fired) > FIRED_KEPT:
            del self.fired[next(iter(self.fired))]

    def absorb(self, other: Watch) -> None:
        """Take in the runs another instance of this watcher fired (kept in the same store)."""
        merged = Watch.merged([self, other])
        self.fired = merged.fired

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "since": self.since.isoformat(),
            "cursor": self.cursor.isoformat(),
            "fired": [[run_id, ended] for run_id, ended in self.fired.items()],
        }

    @classmethod
    def from_json(cls, data: Any) -> Watch | None:
        """The watch a store held; None for anything else (it is logged, and a new watch begins)."""
        if not isinstance(data, Mapping) or data.get("v") != STATE_VERSION:
            return None
        since, cursor = aware_or_none(data.get("since")), aware_or_none(data.get("cursor"))
        fired = data.get("fired")
        if since is None or cursor is None or not isinstance(fired, list):
            return None
        pairs = [p for p in fired if isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)]
        return cls(since=since, cursor=cursor, fired={run_id: str(ended) for run_id, ended in pairs})

    @classmethod
    def merged(cls, watches: Sequence[Watch]) -> Watch:
        """One watch from those of several assets watched by one trigger (normally all the same)."""
        fired: dict[str, str] = {}
        for watch in watches:
            fired.update(watch.fired)
        merged = cls(min(w.since for w in watches), min(w.cursor for w in watches), fired)
        while len(merged.fired) > FIRED_KEPT:
            del merged.fired[next(iter(merged.fired))]
        return merged


# -- where a watch is kept -----------------------------------------------------------------------

#: watch key -> stored watch, for watchers without an asset state store (Airflow 3.0 to 3.2): it
#: outlives a watcher restarted in the same triggerer process
_PROCESS_WATCHES: dict[str, dict[str, Any]] = {}


class WatchStore:
    """Keeps a watch where Airflow 3.3 keeps per-asset state, else in this process.

    One trigger may watch several assets (watchers with the same arguments on several assets
    are one trigger in Airflow), so the watch is written to each asset's store.
    """

    def __init__(self, key: str, asset_state_store: Any = None) -> None:
        self.key = key
        self.accessors = _accessors(asset_state_store) if asset_state_store is not None else []

    @property
    def durable(self) -> bool:
        """True when the watch outlives the triggerer process (an asset state store)."""
        return bool(self.accessors)

    async def load(self) -> Watch | None:
        if not self.accessors:
            return Watch.from_json(_PROCESS_WATCHES.get(self.key))
        found = []
        for accessor in self.accessors:
            value = await accessor.aget(self.key)
            watch = Watch.from_json(value)
            if watch is None and value is not None:
                log.warning("Ignoring an unreadable stored watch under %r: %.200r", self.key, value)
            if watch is not None:
                found.append(watch)
        return Watch.merged(found) if found else None

    async def save(self, watch: Watch) -> None:
        value = watch.to_json()
        if not self.accessors:
            _PROCESS_WATCHES[self.key] = value
        for accessor in self.accessors:
            await accessor.aset(self.key, value)


def _accessors(store: Any) -> list[Any]:
    """The per-asset accessors of Airflow's ``AssetStateStoreAccessors``.

    It offers ``aget``/``aset`` directly only when it holds one asset, and no public way to list
    them when it holds several, hence the look at its two private maps (by name, by URI).
    """
    parts = [*getattr(store, "_by_name", {}).values(), *getattr(store, "_by_uri", {}).values()]
    return parts or [store]


# -- a watcher that the triggerer stopped after a refusal waits before asking again ----------------

#: (vendor, connection id) -> when the vendor last refused the connection's credentials
_REFUSED: dict[tuple[str, str], float] = {}


async def _wait_after_refusal(vendor: str, conn_id: str, pause: float, logger: Any) -> None:
    """Airflow restarts a watcher that ended within a second or so; after a refusal (401/403), wait
    out the poll interval first, so that a wrong token costs one request per interval, not per second."""
    refused = _REFUSED.get((vendor, conn_id))
    if refused is None:
        return
    wait = refused + pause - time.monotonic()
    if wait > 0:
        logger.warning(
            "Connection %r was refused %.0fs ago; waiting %.0fs before asking again",
            conn_id,
            pause - wait,
            wait,
        )
        await asyncio.sleep(wait)


# -- the watchers --------------------------------------------------------------------------------


def _check_states(states: Any, reachable: frozenset[RunState], owner: str) -> frozenset[RunState]:
    """``states`` as normalised states, each one a run of this vendor can end in."""
    words = [states] if isinstance(states, str) else states
    if not isinstance(words, list | tuple | set | frozenset) or not words:
        raise ConfigurationError(f"{owner}: states must be a non-empty list of states, got {states!r}")
    allowed = sorted(state.value for state in reachable)
    chosen = set()
    for word in words:
        try:
            state = RunState(word)
        except ValueError:
            state = None
        if state is None or state not in reachable:
            raise ConfigurationError(f"{owner}: states must be among {allowed}, got {word!r}")
        chosen.add(state)
    return frozenset(chosen)


class _RunEventTrigger(BaseEventTrigger):
    """What both watchers share: the poll, the watch, the events. A vendor subclass says what it
    lists (:meth:`_list`), which runs are its own (:meth:`_matches`) and what an event adds."""

    vendor: ClassVar[str]
    display_name: ClassVar[str]
    #: the states a run of this vendor can end in
    reachable: ClassVar[frozenset[RunState]]

    def __init__(self, *, conn_id: Any, states: Any, poll_interval: Any) -> None:
        owner = type(self).__name__
        if not HAS_EVENT_TRIGGERS:
            raise ConfigurationError(
                f"{owner} is for Airflow 3's event-driven scheduling (assets with watchers), which this "
                "Airflow does not have: it needs Airflow 3.0 or later (3.3+ keeps each watch across "
                "triggerer restarts). On Airflow 2, wait for runs with the sensors instead."
            )
        super().__init__()
        self.conn_id = str(require_str("conn_id", conn_id))
        self.states = _check_states(states, self.reachable, owner)
        self.poll_interval = float(require_seconds("poll_interval", poll_interval) or 0.0)
        #: seconds until the next list read (longer than the interval when the vendor asked for it)
        self._pause = self.poll_interval

    # -- what a vendor subclass says ----------------------------------------------------------

    def scope(self) -> dict[str, Any]:
        """The arguments that choose what is watched, besides the connection and states."""
        raise NotImplementedError

    def _conn_arg(self) -> str:
        raise NotImplementedError

    @classmethod
    def _hook_class(cls) -> type[PipelineHook]:
        raise NotImplementedError

    def _poll_scope(self) -> tuple[str, ...]:
        """What the shared poll lists: the scope values that all watchers on it have in common."""
        raise NotImplementedError

    async def _list(self, hook: Any, after: datetime, *, narrow: bool) -> list[Page]:
        """One list read of runs changed after ``after``; ``narrow``: with this watcher's own
        filters (its catch-up read), else only with what the shared poll has in common."""
        raise NotImplementedError

    def _matches(self, run: RemoteRun) -> bool:
        """True when a run of the shared poll is one this watcher watches."""
        return True

    def _payload_extra(self, run: RemoteRun) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        """What is watched, for log lines and errors."""
        raise NotImplementedError

    # -- Airflow's trigger interface ----------------------------------------------------------

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Plain JSON, the same for the same arguments: Airflow hashes it to identify the watcher."""
        kwargs = {
            self._conn_arg(): self.conn_id,
            **self.scope(),
            "states": sorted(state.value for state in self.states),
            "poll_interval": self.poll_interval,
        }
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def watch_key(self) -> str:
        """Where this watcher's watch is stored: a digest of its class path and arguments."""
        path, kwargs = self.serialize()
        digest = hashlib.sha256(json.dumps([path, kwargs], sort_keys=True).encode()).hexdigest()
        return f"airflow_provider_pipelines.watch.{digest[:20]}"

    def shared_stream_key(self) -> Hashable | None:
        """Watchers on the same connection, project (or DAG) and poll interval share one poll."""
        return (
            "airflow_provider_pipelines",
            self.vendor,
            self.conn_id,
            *self._poll_scope(),
            self.poll_interval,
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The shared poll: one list read per poll interval, yielding a :class:`Snapshot` each time.

        Transient failures (after the retry policy's tries) are logged and the poll goes on; a
        refused or missing connection, an unknown project or DAG, end it with an error that every
        watcher on it ends with.
        """
        watcher = cls(**kwargs)
        async for snapshot in watcher._poll():
            yield snapshot

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the shared poll's snapshots, after its own catch-up read."""
        from airflow.triggers.base import TriggerEvent

        store = WatchStore(self.watch_key(), getattr(self, "asset_state_store", None))
        watch, missed = await self._begin(store)
        last_saved = time.monotonic()
        for run in missed:
            if (payload := await self._fire(store, watch, run)) is not None:
                yield TriggerEvent(payload)
        async for snapshot in shared_stream:
            for run in self._due(watch, snapshot.runs):
                if (payload := await self._fire(store, watch, run)) is not None:
                    yield TriggerEvent(payload)
                last_saved = time.monotonic()
            moved = snapshot.cursor != watch.cursor
            watch.cursor = snapshot.cursor
            if moved and time.monotonic() - last_saved >= SAVE_EVERY:
                await store.save(watch)
                last_saved = time.monotonic()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Where the triggerer has no shared streams (Airflow 3.0 to 3.2): share the poll here, per
        event loop, the same way."""
        _, kwargs = self.serialize()
        subscription = LocalSubscription(type(self), kwargs, self.shared_stream_key())
        try:
            async for event in self.filter_shared_stream(subscription.stream()):
                yield event
        finally:
            subscription.leave()

    # -- the poll -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _hook(self) -> AsyncIterator[Any]:
        """The hook this triggerer shares for the connection, and its connection pool, while held."""
        from airflow_provider_pipelines.hooks.base import shared_hook
        from airflow_provider_pipelines.http import session_lease

        async with contextlib.AsyncExitStack() as stack:
            hook = await stack.enter_async_context(shared_hook(self._hook_class(), self.conn_id))
            await stack.enter_async_context(session_lease(await hook.aget_endpoint()))
            yield hook

    async def _poll(self) -> AsyncIterator[Snapshot]:
        cursor = utcnow()
        async with self._hook() as hook:
            while True:
                snapshot = await self._read(hook, cursor, narrow=False)
                if snapshot is not None:
                    cursor = snapshot.cursor
                    yield snapshot
                await asyncio.sleep(self._pause)

    async def _read(self, hook: Any, cursor: datetime, *, narrow: bool) -> Snapshot | None:
        """One list read from ``cursor - OVERLAP``; None after a transient failure (logged)."""
        from airflow_provider_pipelines.errors import AuthError
        from airflow_provider_pipelines.lifecycle import TRANSIENT_ERRORS

        await _wait_after_refusal(self.vendor, self.conn_id, self.poll_interval, self.log)
        self._pause = self.poll_interval
        try:
            pages = await self._list(hook, cursor - OVERLAP, narrow=narrow)
        except TRANSIENT_ERRORS as exc:
            retry_after = getattr(exc, "retry_after", None)
            self._pause = max(self.poll_interval, float(retry_after or 0.0))
            self.log.warning(
                "Watching %s: the list read failed after retries (%s); trying again in %.0fs",
                self.describe(),
                exc,
                self._pause,
            )
            return None
        except AuthError as exc:
            _REFUSED[(self.vendor, self.conn_id)] = time.monotonic()
            raise PipelinesError(
                f"Watching {self.describe()} stopped: {self.display_name} refused Airflow connection "
                f"{self.conn_id!r} (HTTP {exc.status}): {exc}"
            ) from None
        except PipelinesError as exc:
            raise PipelinesError(f"Watching {self.describe()} stopped: {exc}") from None
        _REFUSED.pop((self.vendor, self.conn_id), None)
        return snapshot_of(cursor, pages)

    # -- the watch ----------------------------------------------------------------------------

    async def _begin(self, store: WatchStore) -> tuple[Watch, list[RemoteRun]]:
        """The watch, stored or new, after a list read of its own; the runs it missed while away."""
        stored = await store.load()
        cursor = stored.cursor if stored is not None else utcnow()
        async with self._hook() as hook:
            while True:
                started = utcnow()
                snapshot = await self._read(hook, cursor, narrow=True)
                if snapshot is not None:
                    break
                await asyncio.sleep(self._pause)
        if stored is None:
            watch = Watch.begin(started, snapshot)
            self.log.info(
                "Watching %s for runs that end %s, from %s on (a new watch; kept %s)",
                self.describe(),
                " or ".join(sorted(s.value for s in self.states)),
                watch.since.isoformat(),
                "in the asset's state store" if store.durable else "in this triggerer process only",
            )
            await store.save(watch)
            return watch, []
        missed = self._due(stored, snapshot.runs)
        stored.cursor = snapshot.cursor
        self.log.info(
            "Watching %s for runs that end %s: carrying on the watch begun %s (%d run(s) ended meanwhile)",
            self.describe(),
            " or ".join(sorted(s.value for s in self.states)),
            stored.since.isoformat(),
            len(missed),
        )
        if not missed:
            await store.save(stored)
        return stored, missed

    def _due(self, watch: Watch, runs: Iterable[RemoteRun]) -> list[RemoteRun]:
        """The runs to fire for, in the order they ended (each run once, the last sighting)."""
        latest = {run.run_id: run for run in runs if self._matches(run)}
        due = [run for run in latest.values() if watch.is_due(run, self.states)]
        return sorted(due, key=lambda run: (str(run.extra.get("finished_at")), run.run_id))

    async def _fire(self, store: WatchStore, watch: Watch, run: RemoteRun) -> dict[str, Any] | None:
        """Record the run as fired (stored before the event leaves: never twice), return the payload.

        While Airflow hands a watcher from one triggerer to another, both may run it for a moment.
        The stored watch is read again first: a run the other one fired meanwhile is not fired
        here (None), and what each fired is kept, not overwritten.
        """
        stored = await store.load()
        if stored is not None:
            watch.absorb(stored)
        if run.run_id in watch.fired:
            self.log.info("%s %s was fired already (by another triggerer)", self.display_name, run.describe())
            return None
        watch.record(run)
        await store.save(watch)
        payload = self.payload(run)
        self.log.info(
            "%s %s ended %s at %s: firing an asset event",
            self.display_name,
            run.describe(),
            run.state.value,
            payload["finished_at"],
        )
        return payload

    def payload(self, run: RemoteRun) -> dict[str, Any]:
        """The event payload: plain JSON, read downstream from ``triggering_asset_events``."""
        return {
            "vendor": self.vendor,
            "run_id": run.run_id,
            "state": run.state.value,
            "vendor_status": run.vendor_status,
            "url": run.url,
            "finished_at": run.extra.get("finished_at"),
            **self._payload_extra(run),
        }


class DataOpsPipelineEventTrigger(_RunEventTrigger):
    """Fire an asset event each time a DataOps.live pipeline of a project ends in one of ``states``.

    For an ``AssetWatcher`` (Airflow 3): the DAGs scheduled on the asset run once per event.
    Runs that ended before the watch began never fire; each pipeline fires once. One list
    request per poll (``GET /projects/:id/pipelines?updated_after=…&order_by=updated_at``) serves
    every watcher on the same connection, project and poll interval.

    The event payload (``triggering_asset_events[asset][i].extra["payload"]``): ``vendor``
    (``"dataops"``), ``run_id`` (the pipeline id), ``state`` (``success``, ``failed``,
    ``cancelled``, ``skipped``), ``vendor_status``, ``url``, ``finished_at`` (ISO, UTC: the
    pipeline's last update, which DataOps.live's list gives for its end), ``project``, ``ref``,
    ``sha`` and ``source``.

    :param dataops_conn_id: the Airflow connection (type ``dataops_live``); it needs an access
        token (a pipeline trigger token cannot list pipelines).
    :param project: the project: a numeric id or its path (``group/project``).
    :param ref: only pipelines on this branch or tag; None: any.
    :param source: only pipelines started this way (``push``, ``schedule``, ``api``, ``trigger``,
        ``web``, ...); None: any.
    :param states: the end states that fire: any of ``success``, ``failed``, ``cancelled``,
        ``skipped``.
    :param poll_interval: seconds between two list reads.
    """

    vendor = "dataops"
    display_name = "DataOps.live"
    reachable = frozenset({RunState.SUCCESS, RunState.FAILED, RunState.CANCELLED, RunState.SKIPPED})

    def __init__(
        self,
        *,
        dataops_conn_id: str = "dataops_default",
        project: str | int,
        ref: str | None = None,
        source: str | None = None,
        states: Sequence[str] = ("success",),
        poll_interval: float = 60,
    ) -> None:
        super().__init__(conn_id=dataops_conn_id, states=states, poll_interval=poll_interval)
        self.project = check_project(id_text(project))
        self.ref = require_str("ref", ref, optional=True)
        self.source = require_str("source", source, optional=True)

    def scope(self) -> dict[str, Any]:
        return {"project": self.project, "ref": self.ref, "source": self.source}

    def _conn_arg(self) -> str:
        return "dataops_conn_id"

    @classmethod
    def _hook_class(cls) -> type[PipelineHook]:
        from airflow_provider_pipelines.hooks.dataops import DataOpsHook

        return DataOpsHook

    def _poll_scope(self) -> tuple[str, ...]:
        return (self.project,)

    async def _list(self, hook: Any, after: datetime, *, narrow: bool) -> list[Page]:
        pages: list[Page] = await hook.alist_changed_runs(
            self.project,
            updated_after=after,
            ref=self.ref if narrow else None,
            source=self.source if narrow else None,
        )
        return pages

    def _matches(self, run: RemoteRun) -> bool:
        return (self.ref is None or run.extra.get("ref") == self.ref) and (
            self.source is None or run.extra.get("source") == self.source
        )

    def _payload_extra(self, run: RemoteRun) -> dict[str, Any]:
        return {
            "project": self.project,
            "ref": run.extra.get("ref"),
            "sha": run.extra.get("sha"),
            "source": run.extra.get("source"),
        }

    def describe(self) -> str:
        where = "".join(
            f", {name} {value!r}" for name, value in (("ref", self.ref), ("source", self.source)) if value
        )
        return f"DataOps.live project {self.project}{where}"


class RemoteDagRunEventTrigger(_RunEventTrigger):
    """Fire an asset event each time a run of a DAG on another Airflow deployment ends in ``states``.

    For an ``AssetWatcher`` (Airflow 3): the DAGs scheduled on the asset run once per event.
    Runs that ended before the watch began never fire; each run fires once. One list request
    per poll (``GET …/dags/{dag_id}/dagRuns?end_date_gte=…&state=…&order_by=end_date``) serves
    every watcher on the same connection, DAG and poll interval. The remote may be Airflow 3
    (``/api/v2``) or Airflow 2 (``/api/v1``); Astronomer's experimental API cannot list runs by
    their end, and is refused with an error.

    The event payload (``triggering_asset_events[asset][i].extra["payload"]``): ``vendor``
    (``"remote_airflow"``), ``run_id`` (the remote ``dag_run_id``), ``state`` (``success`` or
    ``failed``), ``vendor_status``, ``url``, ``finished_at`` (the run's ``end_date``, ISO, UTC),
    ``dag_id``, ``logical_date`` and ``conf`` (the remote run's conf).

    :param remote_airflow_conn_id: the Airflow connection (type ``remote_airflow``).
    :param dag_id: the remote DAG.
    :param states: the end states that fire: ``success``, ``failed``, or both.
    :param poll_interval: seconds between two list reads.
    """

    vendor = "remote_airflow"
    display_name = "Remote Airflow"
    reachable = frozenset({RunState.SUCCESS, RunState.FAILED})

    def __init__(
        self,
        *,
        remote_airflow_conn_id: str = "remote_airflow_default",
        dag_id: str,
        states: Sequence[str] = ("success",),
        poll_interval: float = 60,
    ) -> None:
        super().__init__(conn_id=remote_airflow_conn_id, states=states, poll_interval=poll_interval)
        self.dag_id = str(require_str("dag_id", dag_id))

    def scope(self) -> dict[str, Any]:
        return {"dag_id": self.dag_id}

    def _conn_arg(self) -> str:
        return "remote_airflow_conn_id"

    @classmethod
    def _hook_class(cls) -> type[PipelineHook]:
        from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook

        return RemoteAirflowHook

    def _poll_scope(self) -> tuple[str, ...]:
        return (self.dag_id,)

    async def _list(self, hook: Any, after: datetime, *, narrow: bool) -> list[Page]:
        # every end state is listed, whatever this watcher's: the poll is shared by watchers on others
        pages: list[Page] = await hook.alist_changed_runs(self.dag_id, ended_after=after)
        return pages

    def _payload_extra(self, run: RemoteRun) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "logical_date": run.extra.get("logical_date"),
            "conf": run.extra.get("conf"),
        }

    def describe(self) -> str:
        return f"DAG {self.dag_id!r} on the remote Airflow of connection {self.conn_id!r}"
