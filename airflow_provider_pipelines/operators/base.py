"""The operator every vendor shares: start -> remember -> wait (poll or defer) -> finish.

A vendor operator adds its parameters, checks them in :meth:`validate`, and
starts a run in :meth:`start`. Waiting, deferral, deadlines, cancellation, XCom
and error reporting live here and in :mod:`airflow_provider_pipelines.lifecycle`.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_pipelines._compat import BaseOperator, default_deferrable
from airflow_provider_pipelines.errors import PipelinesError, RunError, keeps_run_error
from airflow_provider_pipelines.links import RUN_ID_KEY, RUN_URL_KEY
from airflow_provider_pipelines.validation import is_template, require_bool, require_seconds

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks import VendorHook
    from airflow_provider_pipelines.hooks.base import PipelineHook
    from airflow_provider_pipelines.lineage import ParentInfo
    from airflow_provider_pipelines.runs import RemoteRun, RunState

# The lifecycle, the hooks and the HTTP layer are imported inside the methods that use them, when
# a task runs: a DAG file that imports an operator module pays only for the operator's own code.

DEFAULT_POLL_INTERVAL = 300.0
DEFAULT_TIMEOUT = timedelta(hours=24)
#: the framework's own deferral timeout is only a safety net behind the trigger's deadline,
#: because when it fires Airflow skips execute_complete and on_kill (no cancel, no message)
DEFERRAL_SAFETY_MARGIN = timedelta(minutes=30)


class RemoteRunOperator(BaseOperator):
    """Base of the operators that start a remote run and wait for it.

    :param conn_id: the Airflow connection id.
    :param wait_for_completion: wait until the run ends (default); when False, return once it started.
    :param deferrable: wait in the triggerer, freeing the worker slot (default:
        ``[operators] default_deferrable``).
    :param poll_interval: the longest pause between two status reads, in seconds. Polling
        starts every few seconds and slows down towards this as the run goes on.
    :param timeout: how long to wait for the run (seconds or a timedelta; default 24 hours).
        Past it the task fails, and the run is cancelled where the vendor allows it.
    :param cancel_on_timeout: cancel the run at the deadline or when the task is killed,
        where the vendor can cancel.
    :param openlineage_inject_parent_info: when the OpenLineage provider is installed and
        enabled, tell the remote run which Airflow task started it, where the vendor takes
        such metadata (a remote Airflow's DAG run conf, DataOps.live pipeline variables for
        dbt-ol); values the user set are never overwritten. Default True; False turns it off.
        Dataform and InVision take no caller metadata: there it does nothing.
    """

    hook_class: ClassVar[VendorHook]
    ui_color = "#e8f4fd"
    #: seconds a run may wait for a person (BLOCKED) before the task fails; None: until ``timeout``
    blocked_grace: float | None = None
    #: True where a retried task finds the run an earlier try started by the vendor's own means (a
    #: marker, a fixed run id), also where Airflow has no ``task_state_store`` (before 3.3)
    reattaches: ClassVar[bool] = False

    def __init__(
        self,
        *,
        conn_id: str,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta | None = DEFAULT_TIMEOUT,
        cancel_on_timeout: bool = True,
        openlineage_inject_parent_info: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.wait_for_completion = require_bool("wait_for_completion", wait_for_completion)
        self.deferrable = (
            default_deferrable() if deferrable is None else require_bool("deferrable", deferrable)
        )
        self.poll_interval = require_seconds("poll_interval", poll_interval) or DEFAULT_POLL_INTERVAL
        self.timeout = require_seconds("timeout", DEFAULT_TIMEOUT if timeout is None else timeout) or 0.0
        self.cancel_on_timeout = require_bool("cancel_on_timeout", cancel_on_timeout)
        self.openlineage_inject_parent_info = require_bool(
            "openlineage_inject_parent_info", openlineage_inject_parent_info
        )
        self._active_run: RemoteRun | None = None
        #: set by :meth:`resume_or_start` before :meth:`start`: the run an earlier try of this task
        #: instance started, which ended without success and which the new run replaces
        self.earlier_run: RemoteRun | None = None
        #: the run's web link as pushed to XCom in this process; the extra link reads it (links.py)
        self._run_url: str | None = None
        #: the remote run as this task last saw it, and the error that ended it: OpenLineage reads them
        self.last_run: RemoteRun | None = None
        self.run_error: RunError | None = None

    # -- what a vendor operator provides ---------------------------------------------------

    def validate(self, rendered: bool) -> None:
        """Check the vendor parameters. Before rendering, templated values are skipped.

        Vendor operators call ``self.validate(rendered=False)`` at the end of ``__init__``
        (DAG parse time); :meth:`execute` calls it again after rendering, before any request.
        """

    def start(self, hook: PipelineHook, context: Any) -> RemoteRun:
        """Start the remote run (or re-attach to one already going by the vendor's own means) and return
        it. :attr:`earlier_run` names the failed run of an earlier try this one replaces, if any."""
        raise NotImplementedError

    # -- the lifecycle -----------------------------------------------------------------------

    @staticmethod
    def check(rendered: bool, value: Any) -> bool:
        """True when a value is to be validated now (always after rendering, else if not templated)."""
        return rendered or not is_template(value)

    @property
    def success_states(self) -> frozenset[RunState]:
        """The final run states this task counts as success: ``SUCCESS`` only, unless a vendor
        operator widens it on request (a skipped DataOps.live pipeline, say)."""
        from airflow_provider_pipelines.lifecycle import SUCCESS_ONLY

        return SUCCESS_ONLY

    def get_hook(self) -> PipelineHook:
        return self.hook_class(self.conn_id)

    @keeps_run_error
    def execute(self, context: Any) -> str:
        from airflow_provider_pipelines.lifecycle import (
            PollSchedule,
            Waiter,
            conclude,
            handle_blocked,
            handle_deadline,
            utcnow,
            wait_in_worker,
        )

        self.validate(rendered=True)
        hook = self.get_hook()
        started_at = utcnow()
        run = self.resume_or_start(hook, context)
        self._active_run = run
        self.remember(context, run)
        if not self.wait_for_completion:
            self.conclude_run(context)
            return run.run_id
        deadline = started_at + timedelta(seconds=self.timeout)
        if self.deferrable and not run.state.is_terminal:
            self.defer_wait(run, started_at, deadline)
        waiter = Waiter(
            hook.api.display_name,
            PollSchedule(self.poll_interval),
            deadline,
            started_at,
            self.log,
            blocked_grace=self.blocked_grace,
        )
        waiter.on_url = functools.partial(self.remember_url, context)
        final = self.last_run = wait_in_worker(hook, run, waiter)
        self._active_run = None
        if waiter.blocked_expired():
            handle_blocked(hook, final, self.blocked_grace, self.log)
        if not final.state.is_terminal:
            handle_deadline(
                hook,
                final,
                self.cancel_on_timeout,
                self.log,
                note=waiter.failure_note(),
                timeout=self.timeout,
            )
        result = conclude(hook, final, self.log, success_states=self.success_states)
        self.conclude_run(context)
        return result

    def resume_or_start(self, hook: PipelineHook, context: Any) -> RemoteRun:
        """The run an earlier try of this task instance started, where it is still of use; else a new one.

        An earlier try's run is known from Airflow's ``task_state_store`` (Airflow 3.3+,
        :mod:`airflow_provider_pipelines.resume`): still going, the task re-attaches; ended in
        success, the task succeeds without a new run; ended otherwise, a new run is started
        (:attr:`earlier_run` tells :meth:`start` which one it replaces). A new run's ref is
        stored right after its start, before any wait.
        """
        from dataclasses import replace

        from airflow_provider_pipelines.resume import RunStore, read_earlier_run

        store = RunStore(context, self.log)
        self.earlier_run = None
        stored = store.read(hook.api.vendor, self.conn_id)
        if stored is None:
            self.say_what_a_retry_does(context, store.available)
        earlier = None
        if stored is not None and stored.concluded:
            self.log.info(
                "This task succeeded before with %s run %s and was cleared: starting a new run",
                hook.api.display_name,
                stored.run_id,
            )
            self.earlier_run = stored.as_run()
            stored = None
        elif stored is not None:
            try:
                earlier = read_earlier_run(hook, stored)
            except ValueError as exc:
                self.log.warning("Ignoring the run kept by an earlier try (%s); starting afresh", exc)
                stored = None
        name = hook.api.display_name
        if stored is not None and earlier is None:
            self.log.warning(
                "%s no longer knows run %s, which an earlier try of this task started; starting a new run",
                name,
                stored.run_id,
            )
        elif earlier is not None and (not earlier.state.is_terminal or earlier.state in self.success_states):
            self.log.info(
                "An earlier try of this task started %s %s, which is %s: %s instead of starting a new run",
                name,
                earlier.describe(),
                earlier.state.value,
                "re-attaching to it" if not earlier.state.is_terminal else "taking its result",
            )
            return replace(earlier, extra={**earlier.extra, "reattached": True})
        elif earlier is not None:
            self.log.warning(
                "An earlier try of this task started %s %s, which ended %s; starting a new run",
                name,
                earlier.describe(),
                earlier.state.value,
            )
            self.earlier_run = earlier
        run = self.start(hook, context)
        store.write(run, self.conn_id)
        return run

    def conclude_run(self, context: Any) -> None:
        """The task succeeded: mark the kept run concluded, so that clearing the task starts a new one."""
        from airflow_provider_pipelines.resume import RunStore

        RunStore(context, self.log).conclude(self.hook_class.api_class.vendor, self.conn_id)

    def say_what_a_retry_does(self, context: Any, store_available: bool) -> None:
        """On a retry that found no kept run, say whether this vendor lets the task find one otherwise."""
        try_number = int(getattr(context.get("ti"), "try_number", 1) or 1)
        if try_number <= 1 or self.reattaches:
            return
        name = self.hook_class.api_class.display_name
        if store_available:
            self.log.warning(
                "This is try %d of the task and no run of an earlier try is kept in the task_state_store: "
                "the earlier tries started none, or one died between its start and keeping it (a window "
                "of a moment). %s offers no way to look, so a new run is started",
                try_number,
                name,
            )
            return
        self.log.warning(
            "This is try %d of the task. %s offers no way to find a run that an earlier try started, "
            "so a new run is started; a run from an earlier try may still be going (its id is in that "
            "try's log and in XCom 'run_id')",
            try_number,
            name,
        )

    def remember(self, context: Any, run: RemoteRun) -> None:
        """Push the run's id and link to XCom and the log before any waiting: a started run is never lost."""
        self.last_run = run
        ti = context["ti"]
        ti.xcom_push(key=RUN_ID_KEY, value=run.run_id)
        if run.url:
            ti.xcom_push(key=RUN_URL_KEY, value=run.url)
        self._run_url = run.url
        self.log.info(
            "%s %s run %s%s",
            "Re-attached to" if run.extra.get("reattached") else "Started",
            self.hook_class.api_class.display_name,
            run.run_id,
            f": {run.url}" if run.url else "",
        )

    def remember_url(self, context: Any, url: str | None, *, announce: bool = True) -> None:
        """Push a run link learnt after the start (its first read may have failed) to XCom and, with
        ``announce``, the log, and give it to the task's extra link; a link already pushed in this
        process is not pushed again."""
        if not url or url == self._run_url:
            return
        self._run_url = url
        context["ti"].xcom_push(key=RUN_URL_KEY, value=url)
        if announce:
            self.log.info("%s run link: %s", self.hook_class.api_class.display_name, url)

    def defer_wait(self, run: RemoteRun, started_at: Any, deadline: Any) -> None:
        from airflow_provider_pipelines.lifecycle import utcnow
        from airflow_provider_pipelines.triggers.runs import RemoteRunTrigger

        self.defer(
            trigger=RemoteRunTrigger(
                vendor=run.vendor,
                conn_id=self.conn_id,
                ref=run.ref,
                run_id=run.run_id,
                deadline=deadline,
                poll_interval=self.poll_interval,
                started_at=started_at,
                run_url=run.url,
                blocked_grace=self.blocked_grace,
                cancel_on_kill=self.cancel_on_timeout,
            ),
            method_name="execute_complete",
            timeout=deadline - utcnow() + DEFERRAL_SAFETY_MARGIN,
        )

    @keeps_run_error
    def execute_complete(self, context: Any, event: Any = None) -> str:
        """Resume after the trigger fired: success only on an explicit, well-formed success event."""
        from airflow_provider_pipelines.lifecycle import complete_from_event, run_in_event, url_from_event

        self.last_run = run_in_event(event) or self.last_run
        hook = self.get_hook()
        # the trigger's reads may have learnt the link (and logged it with the state); push it again
        # quietly, since this process cannot tell it from the one the start pushed
        self.remember_url(context, url_from_event(event), announce=False)
        result = complete_from_event(
            hook,
            event,
            self.cancel_on_timeout,
            self.log,
            success_states=self.success_states,
            blocked_grace=self.blocked_grace,
            timeout=self.timeout,
        )
        self.conclude_run(context)
        return result

    def on_kill(self) -> None:
        run = self._active_run
        if run is None:
            return
        hook = self.get_hook()
        name = hook.api.display_name
        if not self.cancel_on_timeout or hook.cancel_request(run.ref) is None:
            why = "" if self.cancel_on_timeout else " (cancel_on_timeout=False)"
            if hook.cancel_request(run.ref) is None:
                why = f" ({name} offers no cancel)"
            self.log.warning("Task killed; %s %s goes on running in %s%s", name, run.describe(), name, why)
            return
        try:
            hook.cancel_run(run)
            self.log.warning("Task killed; cancelled %s %s", name, run.describe())
        except PipelinesError as exc:
            self.log.error("Task killed; could not cancel %s %s: %s", name, run.describe(), exc)

    # -- OpenLineage (called by apache-airflow-providers-openlineage, when installed) --------------

    def lineage_parent(self, context: Any) -> ParentInfo | None:
        """This task's OpenLineage run, for a vendor's ``start`` to hand to the remote run; None when
        ``openlineage_inject_parent_info`` is off or OpenLineage is not installed and enabled."""
        if not self.openlineage_inject_parent_info:
            return None
        from airflow_provider_pipelines.lineage import parent_info

        return parent_info(context["ti"], self.log)

    def get_openlineage_facets_on_start(self) -> Any:
        """The remote run's vendor and job type (the run does not exist yet)."""
        from airflow_provider_pipelines.lineage import facets_on_start

        return facets_on_start(self)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The remote run: id, link, vendor, final state (``externalQuery``, ``pipelines_remoteRun``)."""
        from airflow_provider_pipelines.lineage import facets_on_complete

        return facets_on_complete(self)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on complete, plus ``errorMessage`` with the vendor's reason the run failed."""
        from airflow_provider_pipelines.lineage import facets_on_failure

        return facets_on_failure(self)
