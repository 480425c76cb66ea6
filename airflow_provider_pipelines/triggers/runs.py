"""``RemoteRunTrigger``: waits on any vendor's run in the triggerer, until it ends or the deadline.

It serialises only plain ids: the vendor key, the connection id, the run's ref,
and UTC wall-clock times (never a token, never a monotonic clock), so a
triggerer restart rebuilds it from :meth:`RemoteRunTrigger.serialize` and it
carries on. Transient errors are retried and logged, never turned into task
failures; permanent ones (bad token, unknown run) end it with an ``error`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

# Imported here, not lazily as elsewhere: this module is loaded by the triggerer (and by a worker
# only when it defers), and a first import inside the event loop would block every trigger in it.
import aiohttp  # noqa: F401
import tenacity  # noqa: F401
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_pipelines._compat import TaskStateUnknown, atask_instance_state
from airflow_provider_pipelines.errors import PipelinesError
from airflow_provider_pipelines.hooks import hook_class
from airflow_provider_pipelines.hooks.base import PipelineHook, shared_hook
from airflow_provider_pipelines.http import session_lease
from airflow_provider_pipelines.lifecycle import PollSchedule, RunEvent, Waiter
from airflow_provider_pipelines.runs import RemoteRun, RunState
from airflow_provider_pipelines.triggers.poller import StatusReads, status_reads

#: on_kill work under way (see RemoteRunTrigger.on_kill)
_ON_KILLS: set[asyncio.Task[None]] = set()


def _as_utc(value: str | datetime, name: str) -> datetime:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got {value!r}")
    return when


class RemoteRunTrigger(BaseTrigger):
    """Poll a remote run from the triggerer until it ends, then fire one event.

    :param vendor: the vendor key (``"dataform"``, ...), looked up in an allow-list of hooks.
    :param conn_id: the Airflow connection id; credentials are fetched in the triggerer.
    :param ref: the ids that address the run (strings only).
    :param run_id: the run's id, for log lines.
    :param deadline: UTC time after which the trigger stops with a ``timeout`` event.
    :param poll_interval: the longest pause between two polls, in seconds.
    :param started_at: when the run was started; the adaptive schedule grows from it.
    :param run_url: the run's web link, for log lines.
    :param blocked_grace: seconds the run may stay blocked (waiting for a person) before the
        trigger stops with a ``blocked`` event; None waits on until the deadline. The grace
        clock lives in memory: after a triggerer restart it starts again (the wait is longer,
        never shorter).
    :param unknown_run_grace: seconds a run never once read may keep failing with server errors
        before the trigger stops with an ``error`` event saying the vendor may not know the run
        (a sensor watching an InVision run id; see ``lifecycle.UnknownRunWatch``); None: waited on.
    :param cancel_on_kill: when a user acts on the deferred task (marks it failed or
        successful, clears it), cancel the run where the vendor can (:meth:`on_kill`, called by
        triggerers that support it: Airflow 3.3 and later).
    """

    def __init__(
        self,
        *,
        vendor: str,
        conn_id: str,
        ref: Mapping[str, str],
        run_id: str,
        deadline: str | datetime,
        poll_interval: float,
        started_at: str | datetime,
        run_url: str | None = None,
        blocked_grace: float | None = None,
        cancel_on_kill: bool = False,
        unknown_run_grace: float | None = None,
    ) -> None:
        super().__init__()
        self.vendor = vendor
        self.conn_id = conn_id
        self.ref = dict(ref)
        self.run_id = run_id
        self.deadline = _as_utc(deadline, "deadline")
        self.started_at = _as_utc(started_at, "started_at")
        self.poll_interval = float(poll_interval)
        self.run_url = run_url
        self.blocked_grace = None if blocked_grace is None else float(blocked_grace)
        self.cancel_on_kill = bool(cancel_on_kill)
        self.unknown_run_grace = None if unknown_run_grace is None else float(unknown_run_grace)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "vendor": self.vendor,
                "conn_id": self.conn_id,
                "ref": dict(self.ref),
                "run_id": self.run_id,
                "deadline": self.deadline.isoformat(),
                "poll_interval": self.poll_interval,
                "started_at": self.started_at.isoformat(),
                "run_url": self.run_url,
                "blocked_grace": self.blocked_grace,
                "cancel_on_kill": self.cancel_on_kill,
                "unknown_run_grace": self.unknown_run_grace,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        run = RemoteRun(
            vendor=self.vendor, ref=self.ref, run_id=self.run_id, state=RunState.UNKNOWN, url=self.run_url
        )
        cls = hook_class(self.vendor)
        async with contextlib.AsyncExitStack() as stack:
            # one hook (connection lookup, credentials) and one connection pool per connection
            # id in the triggerer's loop, whatever the number of triggers on it
            try:
                hook = await stack.enter_async_context(
                    shared_hook(cls, self.conn_id, cls.shared_variant(self.ref))
                )
            except PipelinesError as exc:
                event = RunEvent("error", run, str(exc))
            else:
                await stack.enter_async_context(session_lease(await hook.aget_endpoint()))
                event = await self._wait(hook, run)
        yield TriggerEvent(event.to_payload())

    async def _wait(self, hook: PipelineHook, run: RemoteRun) -> RunEvent:
        waiter = Waiter(
            hook.api.display_name,
            PollSchedule(self.poll_interval),
            self.deadline,
            self.started_at,
            self.log,
            blocked_grace=self.blocked_grace,
            unknown_run_grace=self.unknown_run_grace,
            run_id=self.run_id,
        )
        try:
            async with status_reads(hook, self.ref, waiter) as reads:
                return await self._poll(reads, waiter, run)
        except PipelinesError as exc:  # a ref the hook cannot read (before any request)
            return RunEvent("error", run, str(exc))

    async def _poll(self, reads: StatusReads, waiter: Waiter, run: RemoteRun) -> RunEvent:
        """Read until the run ends, stays blocked past its grace, or the deadline passes. Where the
        vendor lists runs, ``reads`` is a seat on the shared poller of ``triggers/poller.py``."""
        while True:
            try:
                run = await reads.read(run)
                waiter.observe(run)
            except PipelinesError as exc:
                try:
                    waiter.observe_error(exc)
                except PipelinesError as permanent:
                    return RunEvent("error", run, str(permanent))
            if run.state.is_terminal:
                return RunEvent("finished", run)
            if waiter.blocked_expired():
                return RunEvent("blocked", run)
            pause = waiter.next_sleep()
            if pause is None:
                return RunEvent("timeout", run, waiter.failure_note())
            await reads.pause(pause)

    async def on_kill(self) -> None:
        """The triggerer cancelled this trigger "by user action": cancel the run only if a user really
        acted on the task, the task asked for it, the vendor can, and the run is still going; say which.

        The work runs in a task of its own, shielded: Airflow 3.3.2's triggerer sends the
        cancel again on every loop (about each second) until the trigger has ended, and a
        second cancel landing inside ``on_kill`` would stop it half-way, silently.
        """
        work = asyncio.get_running_loop().create_task(self._on_kill())
        _ON_KILLS.add(work)  # the loop keeps only a weak reference to a task
        work.add_done_callback(_ON_KILLS.discard)
        await asyncio.shield(work)

    async def _on_kill(self) -> None:
        """What :meth:`on_kill` decides and does.

        Airflow 3.3's triggerer calls this for every trigger it drops, and it also drops
        a trigger that was handed to another triggerer while this one missed its
        heartbeats (apache/airflow#73454). So the task instance's state is read first:
        still ``deferred`` means another triggerer waits on the run, and nothing is
        cancelled; a state that cannot be read cancels nothing either. A run that
        already ended is not touched (a remote-Airflow run that succeeded must not be
        marked failed).
        """
        name = f"run {self.run_id}"
        try:
            state = await atask_instance_state(getattr(self, "task_instance", None))
        except TaskStateUnknown as exc:
            self.log.warning(
                "Trigger stopped by the triggerer, but the task's state could not be read (%s); "
                "not cancelling %s, which goes on running",
                exc,
                name,
            )
            return
        if state == "deferred":
            self.log.info(
                "Trigger moved to another triggerer (the task is still deferred); %s goes on there", name
            )
            return
        if not self.cancel_on_kill:
            self.log.warning(
                "Task killed while deferred (now %s); %s goes on running (cancel not asked for)", state, name
            )
            return
        await self._cancel_on_kill(name, state)

    async def _cancel_on_kill(self, name: str, state: str | None) -> None:
        cls = hook_class(self.vendor)
        try:
            async with shared_hook(cls, self.conn_id, cls.shared_variant(self.ref)) as hook:
                vendor = hook.api.display_name
                request = hook.cancel_request(self.ref)
                if request is None:
                    self.log.warning(
                        "Task killed while deferred (now %s); %s offers no cancel, so %s %s goes on "
                        "running there",
                        state,
                        vendor,
                        vendor,
                        name,
                    )
                    return
                async with session_lease(await hook.aget_endpoint()):
                    run = await hook.aget_run(self.ref)
                    if run.state.is_terminal:
                        self.log.info(
                            "Task killed while deferred (now %s); %s %s had already ended %s, nothing to "
                            "cancel",
                            state,
                            vendor,
                            name,
                            run.state.value,
                        )
                        return
                    await hook.acall(request)
        except PipelinesError as exc:
            self.log.error("Task killed while deferred (now %s); could not cancel %s: %s", state, name, exc)
            return
        self.log.warning("Task killed while deferred (now %s); cancelled %s %s", state, vendor, name)
