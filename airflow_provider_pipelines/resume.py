"""Re-attach after a crash or a retry through Airflow's ``task_state_store`` (Airflow 3.3+).

Right after a start, before any wait, the operator stores the run's ref in the
task instance's ``task_state_store``; a later try of the same task instance reads
it back and asks the vendor how that run is doing:

- still going: the task re-attaches to it (waits in the worker or defers), no new run;
- ended in one of the task's success states: the task succeeds without a new run;
- ended any other way: a new run is started, and the log says why.

When the task succeeds, the entry is marked *concluded*: a later try of a task
that succeeded can only come from someone clearing it, who wants a new run, so
it starts one (a remote-Airflow task picks the next run id for it rather than
re-attaching to the old run by its fixed id). This is one implementation for every vendor; the vendors' own
ways to find a run (the DataOps.live marker variable, the remote-Airflow run id
fixed per task instance) stay as the fallback for Airflow 2.11 to 3.2 and for the
window between a start's answer and the store write (Airflow's own known gap,
see ``airflow/sdk/bases/resumablejobmixin.py``). Dataform and InVision have no
such fallback: a worker that dies inside that window leaves a run the next try
cannot know about.

Why not ``ResumableJobMixin`` itself: its flow submits, stores and then *blocks*
in ``poll_until_complete``; ours may defer instead, finishing in
``execute_complete`` in another process, and decides from the normalised
:class:`~airflow_provider_pipelines.runs.RunState` rather than raw vendor
words. The store is the same one, under a key of our own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_pipelines.errors import NotFoundError, PipelinesError
from airflow_provider_pipelines.runs import RemoteRun, RunState

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks.base import PipelineHook

#: the key under which a task instance's run is kept (renaming it breaks in-flight retries)
STORE_KEY = "airflow_provider_pipelines.run"
#: the entry's layout version
ENTRY_VERSION = 1


@dataclass(frozen=True)
class StoredRun:
    """What the store keeps of a started run: enough to read it again, nothing secret."""

    vendor: str
    conn_id: str
    ref: Mapping[str, str]
    run_id: str
    url: str | None = None
    #: the task succeeded with this run (a later try is a clear, not a retry)
    concluded: bool = False

    def to_entry(self) -> dict[str, Any]:
        return {
            "version": ENTRY_VERSION,
            "vendor": self.vendor,
            "conn_id": self.conn_id,
            "ref": dict(self.ref),
            "run_id": self.run_id,
            "url": self.url,
            "concluded": self.concluded,
        }

    def as_run(self) -> RemoteRun:
        """The run as last known: it succeeded (only a concluded entry is taken for one)."""
        return RemoteRun(
            vendor=self.vendor, ref=dict(self.ref), run_id=self.run_id, state=RunState.SUCCESS, url=self.url
        )

    @classmethod
    def from_entry(cls, entry: Any) -> StoredRun:
        """Parse an entry; ``ValueError`` saying what is wrong with it otherwise."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"not a JSON object: {entry!r}")
        if entry.get("version") != ENTRY_VERSION:
            raise ValueError(f"unknown layout version {entry.get('version')!r}")
        ref = entry.get("ref")
        if not isinstance(ref, Mapping) or not ref or not all(isinstance(v, str) for v in ref.values()):
            raise ValueError(f"'ref' must be a non-empty object of strings, got {ref!r}")
        fields = {k: entry.get(k) for k in ("vendor", "conn_id", "run_id")}
        bad = [k for k, v in fields.items() if not isinstance(v, str) or not v]
        if bad:
            raise ValueError(f"{', '.join(bad)} must be non-empty strings")
        url = entry.get("url")
        return cls(
            vendor=str(fields["vendor"]),
            conn_id=str(fields["conn_id"]),
            ref=dict(ref),
            run_id=str(fields["run_id"]),
            url=url if isinstance(url, str) else None,
            concluded=entry.get("concluded") is True,
        )


class RunStore:
    """The task instance's ``task_state_store`` as this provider uses it, or nothing where Airflow has none.

    Every failure of the store itself is logged and taken as "nothing stored": the
    store is a safety net, and a broken one must never fail a task that could run.
    """

    def __init__(self, context: Mapping[str, Any], logger: logging.Logger | Any) -> None:
        self.store = context.get("task_state_store") if hasattr(context, "get") else None
        self.log = logger

    @property
    def available(self) -> bool:
        """True on Airflow 3.3+, where the task runs with a ``task_state_store``."""
        return self.store is not None

    def read(self, vendor: str, conn_id: str) -> StoredRun | None:
        """The run an earlier try of this task instance started on this vendor and connection, if any."""
        if self.store is None:
            return None
        try:
            entry = self.store.get(STORE_KEY)
        except Exception as exc:  # the store is Airflow's: any failure of it means "nothing known"
            self.log.warning(
                "Could not read %s from the task_state_store (%s); starting afresh", STORE_KEY, exc
            )
            return None
        if entry is None:
            return None
        try:
            stored = StoredRun.from_entry(entry)
        except ValueError as exc:
            self.log.warning(
                "Ignoring the task_state_store entry %s, which cannot be read (%s); starting afresh",
                STORE_KEY,
                exc,
            )
            return None
        if (stored.vendor, stored.conn_id) != (vendor, conn_id):
            self.log.warning(
                "Ignoring the task_state_store entry %s: it names run %s of vendor %r on connection %r, "
                "and this task runs %r on %r; starting afresh",
                STORE_KEY,
                stored.run_id,
                stored.vendor,
                stored.conn_id,
                vendor,
                conn_id,
            )
            return None
        return stored

    def write(self, run: RemoteRun, conn_id: str) -> None:
        """Keep the run's ref, before any wait, so that a later try can find the run again."""
        if self.store is None:
            return
        entry = StoredRun(run.vendor, conn_id, dict(run.ref), run.run_id, run.url).to_entry()
        try:
            self.store.set(STORE_KEY, entry)
        except Exception as exc:
            self.log.warning(
                "Could not keep run %s in the task_state_store (%s): a later try will not find it there",
                run.run_id,
                exc,
            )

    def conclude(self, vendor: str, conn_id: str) -> None:
        """The task succeeded: mark the kept run concluded, so that clearing the task starts a new one."""
        stored = self.read(vendor, conn_id)
        if stored is None or stored.concluded or self.store is None:
            return
        try:
            self.store.set(STORE_KEY, replace(stored, concluded=True).to_entry())
        except Exception as exc:
            self.log.warning(
                "Could not mark run %s concluded in the task_state_store (%s)", stored.run_id, exc
            )


def read_earlier_run(hook: PipelineHook, stored: StoredRun) -> RemoteRun | None:
    """The stored run as the vendor sees it now; None when the vendor no longer knows it (404).

    A ref that lacks what this vendor needs raises ``ValueError`` (the entry is then
    ignored). Any other failure to read the run raises :class:`PipelinesError`: starting
    a new run while an earlier one may still be going is what the store is there to
    prevent, so this try fails instead and Airflow's next retry looks again.
    """
    hook.api.check_ref(stored.ref)
    try:
        run = hook.get_run(dict(stored.ref))
    except NotFoundError:
        return None
    except PipelinesError as exc:
        raise PipelinesError(
            f"An earlier try of this task started {hook.api.display_name} run {stored.run_id}, and its "
            f"state cannot be read now ({exc}). No new run is started while that one may still be going; "
            "a retry of this task looks again."
        ) from None
    if not run.url and stored.url:
        run = replace(run, url=stored.url)
    return run
