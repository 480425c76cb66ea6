"""The sensor every vendor shares: wait on a run that something else started."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_pipelines._compat import BaseSensorOperator, default_deferrable
from airflow_provider_pipelines.errors import RunError, keeps_run_error
from airflow_provider_pipelines.validation import is_template, require_bool, require_seconds, require_str

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks import VendorHook
    from airflow_provider_pipelines.hooks.base import PipelineHook
    from airflow_provider_pipelines.runs import RemoteRun, RunState

# As in operators/base.py: the lifecycle, hooks and HTTP layer load when the sensor runs, not when
# a DAG file imports it.


class RemoteRunSensor(BaseSensorOperator):
    """Base of the sensors that wait for a remote run to end.

    Succeeds when the run succeeds; fails at once, with the vendor's status and the
    run's link, when it ends any other way. ``timeout`` (seconds, the sensor's own
    parameter, default 7 days) bounds the wait in both modes.

    :param conn_id: the Airflow connection id.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads when poking; the longest pause when deferred.
    """

    hook_class: ClassVar[VendorHook]
    #: seconds a run never once read may keep failing with server errors before the sensor fails
    #: saying the vendor may not know it (``lifecycle.UnknownRunWatch``); None: waited on
    unknown_run_grace: float | None = None

    def __init__(
        self,
        *,
        conn_id: str,
        deferrable: bool | None = None,
        poll_interval: float | timedelta = 60.0,
        **kwargs: Any,
    ) -> None:
        interval = require_seconds("poll_interval", poll_interval) or 60.0
        kwargs.setdefault("poke_interval", interval)
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.deferrable = (
            default_deferrable() if deferrable is None else require_bool("deferrable", deferrable)
        )
        self.poll_interval = interval
        self._last_seen: tuple[Any, str | None] | None = None  # the state the log last showed
        #: the run as this sensor last read it, and the error that ended it: OpenLineage reads them
        self.last_run: RemoteRun | None = None
        self.run_error: RunError | None = None
        self._seen_since: Any = None
        self._unknown_watch: Any = None  # poke mode: the UnknownRunWatch of this sensor instance

    def ref(self) -> dict[str, str]:
        """The ids of the run to watch (after rendering)."""
        raise NotImplementedError

    def validate(self, rendered: bool) -> None:
        """Check the vendor parameters; see ``RemoteRunOperator.validate``.

        The default: every templated field is a run's id part, so a non-empty string.
        """
        for name in self.template_fields:
            value = getattr(self, name)
            if self.check(rendered, value):
                require_str(name, value)

    @staticmethod
    def check(rendered: bool, value: Any) -> bool:
        return rendered or not is_template(value)

    @property
    def success_states(self) -> frozenset[RunState]:
        """The final run states this sensor counts as success (``SUCCESS`` unless widened)."""
        from airflow_provider_pipelines.lifecycle import SUCCESS_ONLY

        return SUCCESS_ONLY

    def get_hook(self) -> PipelineHook:
        return self.hook_class(self.conn_id)

    def _read(self, hook: PipelineHook, context: Any) -> RemoteRun | None:
        """The run now; None when the read failed in a way worth trying again."""
        from airflow_provider_pipelines.lifecycle import TRANSIENT_ERRORS

        watch = self._watch(context)
        try:
            run = self.last_run = hook.get_run(self.ref())
        except TRANSIENT_ERRORS as exc:
            if watch is not None:
                try:
                    watch.failed(exc, hook.api.display_name, self.ref()[hook.api.ref_keys[-1]])
                finally:
                    self._keep_watch(context, watch)
            self.log.warning("%s status read failed (%s); will try again", hook.api.display_name, exc)
            return None
        if watch is not None and not watch.read_once:
            watch.ok()
            self._keep_watch(context, watch)
        return run

    # In reschedule mode every poke is a new sensor instance: what the unknown-run watch knows is
    # kept in the task_state_store (Airflow 3.3+); without one it lives for one poke only, so the
    # grace cannot run out and the sensor waits on as before.
    _WATCH_KEY = "airflow_provider_pipelines.unknown_run_watch"

    def _watch(self, context: Any) -> Any:
        if self.unknown_run_grace is None:
            return None
        from airflow_provider_pipelines.lifecycle import UnknownRunWatch

        if self._unknown_watch is None:
            stored = None
            store = context.get("task_state_store") if self.mode == "reschedule" else None
            if store is not None:
                try:
                    stored = store.get(self._WATCH_KEY)
                except Exception as exc:
                    self.log.warning("Could not read %s from the task_state_store: %s", self._WATCH_KEY, exc)
            self._unknown_watch = UnknownRunWatch.from_dict(self.unknown_run_grace, stored)
        return self._unknown_watch

    def _keep_watch(self, context: Any, watch: Any) -> None:
        store = context.get("task_state_store") if self.mode == "reschedule" else None
        if store is None:
            return
        try:
            store.set(self._WATCH_KEY, watch.to_dict())
        except Exception as exc:
            self.log.warning("Could not keep %s in the task_state_store: %s", self._WATCH_KEY, exc)

    def poke(self, context: Any) -> bool:
        from airflow_provider_pipelines.lifecycle import conclude, format_elapsed, utcnow
        from airflow_provider_pipelines.runs import RunState

        self.validate(rendered=True)
        hook = self.get_hook()
        run = self._read(hook, context)
        if run is None:
            return False
        # a line when the state changes, not on every poke (a sensor may poke for days)
        seen = (run.state, run.vendor_status)
        if seen != self._last_seen:
            self._last_seen = seen
            self._seen_since = self._seen_since or utcnow()
            waited = format_elapsed((utcnow() - self._seen_since).total_seconds())
            if run.state is RunState.UNKNOWN:
                self.log.warning(
                    "%s %s: status not known to this provider; waiting on (watched for %s)",
                    hook.api.display_name,
                    run.describe(),
                    waited,
                )
            else:
                self.log.info(
                    "%s %s is %s (watched for %s)",
                    hook.api.display_name,
                    run.describe(),
                    run.state.value,
                    waited,
                )
        if not run.state.is_terminal:
            return False
        conclude(hook, run, self.log, success_states=self.success_states)  # raises unless it succeeded
        return True

    @keeps_run_error
    def execute(self, context: Any) -> Any:
        from airflow_provider_pipelines.lifecycle import conclude, deadline_from, utcnow

        if not self.deferrable:
            if self.mode == "poke" and self._offers_held_wait():
                return self._wait_held(context)
            return super().execute(context)
        self.validate(rendered=True)
        hook = self.get_hook()
        run = self._read(hook, context)
        if run is not None and run.state.is_terminal:
            return conclude(hook, run, self.log, success_states=self.success_states)
        from airflow_provider_pipelines.triggers.runs import RemoteRunTrigger

        ref = self.ref()
        now = utcnow()
        deadline = deadline_from(float(self.timeout), now)
        self.defer(
            trigger=RemoteRunTrigger(
                vendor=hook.api.vendor,
                conn_id=self.conn_id,
                ref=ref,
                run_id=run.run_id if run else ref[hook.api.ref_keys[-1]],
                deadline=deadline,
                poll_interval=self.poll_interval,
                started_at=now,
                run_url=run.url if run else None,
                # a run read just now exists; one not read yet is watched in the triggerer
                unknown_run_grace=None if run is not None else self.unknown_run_grace,
            ),
            method_name="execute_complete",
        )

    def _offers_held_wait(self) -> bool:
        """True when the vendor can hold one request open until the run ends (``held_wait.py``).

        Only in ``poke`` mode: in ``reschedule`` mode the task gives its slot back between pokes,
        which a held request would not.
        """
        self.validate(rendered=True)
        return self.get_hook().offers_held_wait(self.ref())

    def _wait_held(self, context: Any) -> str:
        """Wait with held requests until the run ends; past ``timeout`` the sensor times out (or skips,
        with ``soft_fail``) as when poking."""
        from airflow_provider_pipelines._compat import sensor_timeout
        from airflow_provider_pipelines.lifecycle import (
            PollSchedule,
            Waiter,
            conclude,
            deadline_from,
            deadline_message,
            utcnow,
            wait_in_worker,
        )
        from airflow_provider_pipelines.runs import RemoteRun, RunState

        hook = self.get_hook()
        ref = self.ref()
        run_id = ref[hook.api.ref_keys[-1]]
        run = self._read(hook, context) or RemoteRun(hook.api.vendor, ref, run_id, RunState.UNKNOWN)
        now = utcnow()
        waiter = Waiter(
            hook.api.display_name,
            PollSchedule(self.poll_interval),
            deadline_from(float(self.timeout), now),
            now,
            self.log,
            unknown_run_grace=self.unknown_run_grace,
            run_id=run_id,
        )
        final = self.last_run = wait_in_worker(hook, run, waiter)
        if not final.state.is_terminal:
            raise sensor_timeout(deadline_message(hook, final, note=waiter.failure_note()), self.soft_fail)
        return conclude(hook, final, self.log, success_states=self.success_states)

    @keeps_run_error
    def execute_complete(self, context: Any, event: Any = None) -> str:
        """Resume after the trigger fired: success only on an explicit, well-formed success event."""
        from airflow_provider_pipelines.lifecycle import complete_from_event, run_in_event

        self.last_run = run_in_event(event) or self.last_run
        return complete_from_event(
            self.get_hook(),
            event,
            cancel=False,
            logger=self.log,
            success_states=self.success_states,
            timeout=float(self.timeout),
        )

    # -- OpenLineage (called by apache-airflow-providers-openlineage, when installed) --------------

    def get_openlineage_facets_on_start(self) -> Any:
        """The watched run's vendor, job type and id."""
        from airflow_provider_pipelines.lineage import facets_on_start

        return facets_on_start(self, ref=self.ref())

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The watched run: id, link, vendor, final state (``externalQuery``, ``pipelines_remoteRun``)."""
        from airflow_provider_pipelines.lineage import facets_on_complete

        return facets_on_complete(self)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on complete, plus ``errorMessage`` with the vendor's reason the run failed."""
        from airflow_provider_pipelines.lineage import facets_on_failure

        return facets_on_failure(self)
