"""Operator that triggers a DAG on another Airflow deployment and waits for its run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_pipelines.hooks import VendorHook
from airflow_provider_pipelines.links import RemoteDagRunLink
from airflow_provider_pipelines.operators.base import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    RemoteRunOperator,
)
from airflow_provider_pipelines.params.remote_airflow import (
    check_conf,
    check_run_id,
    default_dag_run_id,
    normalise_logical_date,
    replacement_run_id,
)
from airflow_provider_pipelines.validation import require_bool, require_str

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks.base import PipelineHook
    from airflow_provider_pipelines.runs import RemoteRun


class TriggerRemoteDagRunOperator(RemoteRunOperator):
    """Trigger a DAG on a remote Airflow (Airflow 3, Airflow 2, or Astronomer's experimental API) and wait.

    Which API the deployment speaks, and how to authenticate, is found out from
    the connection (see :class:`~airflow_provider_pipelines.hooks.remote_airflow.RemoteAirflowHook`).

    **No duplicate runs.** The remote run id is this task instance's own: by
    default it is derived from this DAG, this DAG run and this task (and map
    index), never from the try number. A retried task's trigger is refused by the
    remote Airflow as a duplicate and the task re-attaches to the run its first
    try started. On Airflow 3.3+ the run is also kept in the task's
    ``task_state_store``: a retry after that run *failed*, and a clear of a task
    that succeeded, trigger a new run under the next id (``<id>.r2``, ``.r3``,
    ...). Before Airflow 3.3, and with a given ``dag_run_id``, the task always
    re-attaches (to run the remote DAG afresh, give a new ``dag_run_id``).

    The remote run id is the task's return value; it and the run's link are
    pushed to XCom (``run_id``, ``run_url``) as soon as the run exists. A queued run
    whose DAG is paused is reported in the log (once). On ``failed``, the error
    names the remote failed tasks.

    :param dag_id: the remote DAG's id (templated).
    :param conf: the run's configuration, a JSON object (templated).
    :param logical_date: the run's logical date: a datetime, an ISO 8601 string or a
        template (templated). Default: none (Airflow 3) or now (Airflow 2).
    :param dag_run_id: the remote run id (templated); default: derived as above. Must match
        ``^[A-Za-z0-9_.~:+-]+$``.
    :param remote_airflow_conn_id: connection of type ``remote_airflow``
        (default ``remote_airflow_default``).
    :param wait_for_completion: wait for the run to end (default True).
    :param deferrable: wait in the triggerer instead of the worker
        (default ``[operators] default_deferrable``).
    :param poll_interval: the longest pause between status reads, in seconds (default 300; polling
        starts every 5 s and grows with about a tenth of the time elapsed).
    :param timeout: how long to wait, seconds or a timedelta (default 24 hours).
    :param fail_on_timeout: when the wait times out or the task is killed, mark the
        remote run failed (``PATCH … {"state": "failed"}``; the experimental API
        cannot). Default True.
    :param unpause_if_paused: unpause the remote DAG when the run waits on it being paused
        (default False: only warn).
    :param openlineage_inject_parent_info: when the OpenLineage provider is installed and enabled,
        put ``conf["openlineage"]`` naming this task's run (the keys ``TriggerDagRunOperator``
        writes), unless ``conf["openlineage"]`` already holds a parent or root key (default True).
    """

    template_fields: Sequence[str] = ("remote_dag_id", "conf", "logical_date", "dag_run_id")
    template_fields_renderers = {"conf": "json"}
    hook_class = VendorHook("remote_airflow")
    reattaches = True
    operator_extra_links = (RemoteDagRunLink(),)

    def __init__(
        self,
        *,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        logical_date: str | datetime | None = None,
        dag_run_id: str | None = None,
        remote_airflow_conn_id: str = "remote_airflow_default",
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta | None = DEFAULT_TIMEOUT,
        fail_on_timeout: bool = True,
        unpause_if_paused: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            conn_id=remote_airflow_conn_id,
            wait_for_completion=wait_for_completion,
            deferrable=deferrable,
            poll_interval=poll_interval,
            timeout=timeout,
            cancel_on_timeout=fail_on_timeout,
            **kwargs,
        )
        # ``dag_id`` is BaseOperator's own (this task's DAG): the remote one lives here
        self.remote_dag_id = dag_id
        self.conf = conf
        self.logical_date = logical_date
        self.dag_run_id = dag_run_id
        self.remote_airflow_conn_id = remote_airflow_conn_id
        self.fail_on_timeout = require_bool("fail_on_timeout", fail_on_timeout)
        self.unpause_if_paused = require_bool("unpause_if_paused", unpause_if_paused)
        self.validate(rendered=False)

    def validate(self, rendered: bool) -> None:
        if self.check(rendered, self.remote_dag_id):
            require_str("dag_id", self.remote_dag_id)
        if self.check(rendered, self.conf):
            check_conf(self.conf)
        if self.check(rendered, self.logical_date):
            normalise_logical_date(self.logical_date)
        blank = rendered and _rendered_blank(self.dag_run_id)  # then the default id is used
        if self.dag_run_id is not None and self.check(rendered, self.dag_run_id) and not blank:
            check_run_id(self.dag_run_id)

    def remote_run_id(self, context: Any) -> str:
        """The given ``dag_run_id``, else the one this task instance always uses.

        A template that rendered to nothing (``""``, or ``"None"`` from a missing value) is no id:
        taken literally, every run of this task would re-attach to one remote run named "None".
        """
        if not _rendered_blank(self.dag_run_id):
            if self.earlier_run is not None and self.earlier_run.run_id == str(self.dag_run_id):
                self.log.warning(
                    "Remote run %s ended %s in an earlier try, and dag_run_id names it, so it cannot be run "
                    "afresh: the task re-attaches to it. Give a new dag_run_id to run the remote DAG again",
                    self.dag_run_id,
                    self.earlier_run.state.value,
                )
            return str(self.dag_run_id)
        map_index = getattr(context["ti"], "map_index", None)
        base = default_dag_run_id(
            self.dag_id, context["dag_run"].run_id, self.task_id, -1 if map_index is None else int(map_index)
        )
        # a run of an earlier try that failed is replaced by one under the next id of this task instance
        return base if self.earlier_run is None else replacement_run_id(base, self.earlier_run.run_id)

    def start(self, hook: PipelineHook, context: Any) -> RemoteRun:
        from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook

        assert isinstance(hook, RemoteAirflowHook)
        conf = check_conf(self.conf)
        parent = self.lineage_parent(context)
        if parent is not None:  # the remote's OpenLineage provider then names this task as the parent
            from airflow_provider_pipelines.lineage import parent_conf

            conf = parent_conf(conf, parent, self.log)
        run = hook.trigger_dag_run(
            self.remote_dag_id,
            dag_run_id=self.remote_run_id(context),
            conf=conf,
            logical_date=normalise_logical_date(self.logical_date),
        )
        hook.check_paused(run, unpause=self.unpause_if_paused)
        return run


def _rendered_blank(value: Any) -> bool:
    """True for no value, or a template that rendered to nothing ("" or "None")."""
    return value is None or (isinstance(value, str) and value.strip() in ("", "None"))
