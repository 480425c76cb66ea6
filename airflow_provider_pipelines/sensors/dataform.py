"""Sensor that waits for a Dataform Web run to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_pipelines.hooks import VendorHook
from airflow_provider_pipelines.sensors.base import RemoteRunSensor


class DataformRunSensor(RemoteRunSensor):
    """Wait for a Dataform Web run, started elsewhere, to end.

    :param project_id: the Dataform project id (templated).
    :param run_id: the run id (templated), e.g. ``{{ ti.xcom_pull('start_run') }}``.
    :param dataform_conn_id: connection of type ``dataform_web`` (default ``dataform_default``).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads (default 60).
    """

    template_fields: Sequence[str] = ("project_id", "run_id")
    hook_class = VendorHook("dataform")

    def __init__(
        self,
        *,
        project_id: str,
        run_id: str,
        dataform_conn_id: str = "dataform_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=dataform_conn_id, **kwargs)
        self.project_id = project_id
        self.run_id = run_id
        self.dataform_conn_id = dataform_conn_id
        self.validate(rendered=False)

    def ref(self) -> dict[str, str]:
        return {"project_id": self.project_id, "run_id": self.run_id}
