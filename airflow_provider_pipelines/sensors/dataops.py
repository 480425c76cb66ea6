"""Sensor that waits for a DataOps.live pipeline to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_pipelines.errors import ConfigurationError
from airflow_provider_pipelines.hooks import VendorHook
from airflow_provider_pipelines.params.dataops import check_project, id_text
from airflow_provider_pipelines.sensors.base import RemoteRunSensor
from airflow_provider_pipelines.validation import require_bool

if TYPE_CHECKING:
    from airflow_provider_pipelines.runs import RunState


class DataOpsPipelineSensor(RemoteRunSensor):
    """Wait for a DataOps.live pipeline, started elsewhere, to end.

    Succeeds on ``success``; fails at once on ``failed`` (naming the failed jobs
    and the tail of their logs), ``canceled`` and ``skipped`` (unless
    ``skipped_is_success``). A pipeline waiting on a manual job is waited on until
    the sensor's ``timeout``.

    :param project: the project's numeric id or its path, e.g. ``"group/project"`` (templated).
    :param pipeline_id: the pipeline id (templated), e.g. ``{{ ti.xcom_pull('start_pipeline') }}``.
    :param dataops_conn_id: connection of type ``dataops_live`` (default ``dataops_default``).
    :param skipped_is_success: count a ``skipped`` pipeline as success (default False).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads (default 60).
    """

    template_fields: Sequence[str] = ("project", "pipeline_id")
    hook_class = VendorHook("dataops")

    def __init__(
        self,
        *,
        project: str | int,
        pipeline_id: str | int,
        dataops_conn_id: str = "dataops_default",
        skipped_is_success: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=dataops_conn_id, **kwargs)
        self.project = id_text(project)
        self.pipeline_id = id_text(pipeline_id)
        self.dataops_conn_id = dataops_conn_id
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
        if self.check(rendered, self.pipeline_id) and (
            not isinstance(self.pipeline_id, str) or not self.pipeline_id.strip().isdigit()
        ):
            raise ConfigurationError(f"pipeline_id must be a pipeline's number, got {self.pipeline_id!r}")

    def ref(self) -> dict[str, str]:
        return {"project": str(self.project), "pipeline_id": str(self.pipeline_id).strip()}
