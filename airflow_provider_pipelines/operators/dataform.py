"""Operator that starts a Dataform Web run and waits for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_pipelines.hooks import VendorHook
from airflow_provider_pipelines.links import DataformRunLink
from airflow_provider_pipelines.operators.base import RemoteRunOperator
from airflow_provider_pipelines.validation import require_str, require_str_list

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks.base import PipelineHook
    from airflow_provider_pipelines.runs import RemoteRun


class DataformRunOperator(RemoteRunOperator):
    """Start a run of a Dataform Web project and wait until it ends.

    The run id is the task's return value; the run's id and web link are pushed
    to XCom (keys ``run_id`` and ``run_url``) as soon as the run has started,
    before any waiting. Success only on Dataform's ``SUCCESSFUL``; ``FAILED``,
    ``CANCELLED`` and ``TIMED_OUT`` fail the task, naming the status, the run and
    its link. Dataform has no cancel: a run still going at ``timeout`` goes on.

    :param project_id: the Dataform project id (templated).
    :param schedule_name: run this schedule's actions (templated).
    :param environment_name: run in this environment (templated).
    :param tags: run only the actions with these tags (templated).
    :param dataform_conn_id: connection of type ``dataform_web`` (default ``dataform_default``).
    :param wait_for_completion: wait for the run to end (default True).
    :param deferrable: wait in the triggerer instead of the worker
        (default ``[operators] default_deferrable``).
    :param poll_interval: the longest pause between status reads, in seconds (default 300; polling
        starts every 5 s and grows with about a tenth of the time elapsed).
    :param timeout: how long to wait, seconds or a timedelta (default 24 hours).
    """

    template_fields: Sequence[str] = ("project_id", "schedule_name", "environment_name", "tags")
    hook_class = VendorHook("dataform")
    operator_extra_links = (DataformRunLink(),)

    def __init__(
        self,
        *,
        project_id: str,
        schedule_name: str | None = None,
        environment_name: str | None = None,
        tags: list[str] | None = None,
        dataform_conn_id: str = "dataform_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=dataform_conn_id, **kwargs)
        self.project_id = project_id
        self.schedule_name = schedule_name
        self.environment_name = environment_name
        self.tags = tags
        self.dataform_conn_id = dataform_conn_id
        self.validate(rendered=False)

    def validate(self, rendered: bool) -> None:
        if self.check(rendered, self.project_id):
            require_str("project_id", self.project_id)
        for name in ("schedule_name", "environment_name"):
            value = getattr(self, name)
            if self.check(rendered, value):
                require_str(name, value, optional=True)
        if self.check(rendered, self.tags):
            require_str_list("tags", self.tags)

    def start(self, hook: PipelineHook, context: Any) -> RemoteRun:
        from airflow_provider_pipelines.hooks.dataform import DataformHook

        assert isinstance(hook, DataformHook)
        return hook.start_run(
            self.project_id,
            schedule_name=self.schedule_name,
            environment_name=self.environment_name,
            tags=self.tags,
        )
