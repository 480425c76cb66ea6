"""Operator that starts a DataOps.live pipeline and waits for it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_pipelines.hooks import VendorHook
from airflow_provider_pipelines.links import DataOpsPipelineLink
from airflow_provider_pipelines.operators.base import RemoteRunOperator
from airflow_provider_pipelines.params.dataops import (
    MARKER_VARIABLE,
    check_project,
    check_variables,
    id_text,
    marker_for,
)
from airflow_provider_pipelines.validation import require_bool, require_seconds, require_str

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks.base import PipelineHook
    from airflow_provider_pipelines.runs import RemoteRun, RunState

DEFAULT_MANUAL_GRACE = timedelta(hours=1)


class DataOpsPipelineOperator(RemoteRunOperator):
    """Start a DataOps.live pipeline and wait until it ends.

    The pipeline id is the task's return value; its id and web link are pushed to
    XCom (keys ``run_id`` and ``run_url``) as soon as it has started, before any
    waiting, and the task gets a **DataOps.live pipeline** link.

    Every pipeline started here carries the variable ``AIRFLOW_PIPELINES_MARKER``,
    derived from the DAG id, run id and task id. A retried task (and a start whose
    answer was lost) first looks for a running or pending pipeline with that marker
    and re-attaches to it, so retries never start a second pipeline. This needs an
    access token; with only a trigger token the task says so and starts afresh.

    Success only on ``success``. ``failed`` fails the task, naming the first failed
    job and logging each failed job's stage, name, link and last log lines;
    ``canceled`` fails it; ``skipped`` fails it unless ``skipped_is_success``.
    ``manual`` means a job waits for a person: after ``manual_grace`` the task
    fails, naming that job (the pipeline is left as it is). At ``timeout``, and when
    the task is killed, the pipeline is cancelled (unless ``cancel_on_timeout=False``).

    :param project: the project's numeric id or its path, e.g. ``"group/sub/project"``
        (templated; the hook URL-encodes it).
    :param ref: the branch or tag to run (templated; default ``main``).
    :param pipeline_file: the pipeline file to run, e.g. ``"full-ci.yml"``; sent as the
        variable ``_PIPELINE_FILE_NAME`` (templated).
    :param variables: pipeline variables, a dict of strings, e.g. ``{"FORCE_INGESTION": "1"}``
        (templated).
    :param dataops_conn_id: connection of type ``dataops_live`` (default ``dataops_default``).
    :param wait_for_completion: wait for the pipeline to end (default True).
    :param deferrable: wait in the triggerer instead of the worker
        (default ``[operators] default_deferrable``).
    :param poll_interval: the longest pause between status reads, in seconds (default 300; polling
        starts every 5 s and grows with about a tenth of the time elapsed).
    :param timeout: how long to wait, seconds or a timedelta (default 24 hours).
    :param cancel_on_timeout: cancel the pipeline at ``timeout`` or when the task is killed
        (default True).
    :param manual_grace: how long a pipeline may wait on a manual job before the task fails,
        seconds or a timedelta (default 1 hour); None waits until ``timeout``.
    :param skipped_is_success: count a ``skipped`` pipeline as success (default False).
    :param openlineage_inject_parent_info: when the OpenLineage provider is installed and enabled,
        add the variables dbt-ol reads for its parent run (``OPENLINEAGE_CONTEXT``,
        ``OPENLINEAGE_PARENT_ID``, ``OPENLINEAGE_ROOT_PARENT_ID``), naming this task's run,
        unless ``variables`` sets any of them (default True).
    """

    template_fields: Sequence[str] = ("project", "ref", "pipeline_file", "variables")
    template_fields_renderers = {"variables": "json"}
    hook_class = VendorHook("dataops")
    reattaches = True
    operator_extra_links = (DataOpsPipelineLink(),)

    def __init__(
        self,
        *,
        project: str | int,
        ref: str = "main",
        pipeline_file: str | None = None,
        variables: dict[str, str] | None = None,
        dataops_conn_id: str = "dataops_default",
        manual_grace: float | timedelta | None = DEFAULT_MANUAL_GRACE,
        skipped_is_success: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=dataops_conn_id, **kwargs)
        self.project = id_text(project)
        self.ref = ref
        self.pipeline_file = pipeline_file
        self.variables = variables
        self.dataops_conn_id = dataops_conn_id
        self.manual_grace = require_seconds("manual_grace", manual_grace, optional=True)
        self.blocked_grace = self.manual_grace
        self.skipped_is_success = require_bool("skipped_is_success", skipped_is_success)
        self.validate(rendered=False)

    @property
    def success_states(self) -> frozenset[RunState]:
        """``success``, and ``skipped`` too when ``skipped_is_success``."""
        from airflow_provider_pipelines.lifecycle import SUCCESS_ONLY
        from airflow_provider_pipelines.runs import RunState

        return SUCCESS_ONLY | {RunState.SKIPPED} if self.skipped_is_success else SUCCESS_ONLY

    def validate(self, rendered: bool) -> None:
        if self.check(rendered, self.project):
            check_project(self.project)
        if self.check(rendered, self.ref):
            require_str("ref", self.ref)
        if self.check(rendered, self.pipeline_file):
            require_str("pipeline_file", self.pipeline_file, optional=True)
        if self.check(rendered, self.variables):
            pipeline_file = self.pipeline_file if self.check(rendered, self.pipeline_file) else None
            check_variables(self.variables, pipeline_file)

    def start(self, hook: PipelineHook, context: Any) -> RemoteRun:
        from airflow_provider_pipelines.hooks.dataops import DataOpsHook

        assert isinstance(hook, DataOpsHook)
        ti = context["ti"]
        marker = marker_for(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
        # A pipeline carrying this marker can only come from an earlier try of this task
        # instance, so the first try skips the look (eight list requests).
        try_number = int(getattr(ti, "try_number", 1) or 1)
        self.log.info("This task's pipelines carry %s=%s (try %d)", MARKER_VARIABLE, marker, try_number)
        variables = check_variables(self.variables, self.pipeline_file)
        parent = self.lineage_parent(context)
        if parent is not None:  # dbt-ol in the pipeline's jobs then names this task as their parent
            from airflow_provider_pipelines.lineage import parent_variables

            variables = parent_variables(variables, parent, self.log)
        return hook.start_pipeline(
            check_project(self.project),
            self.ref,
            variables,
            marker=marker,
            look_first=try_number > 1,
        )
