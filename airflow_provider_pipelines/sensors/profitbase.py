"""Sensor that waits for a Profitbase InVision data flow run to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_pipelines.hooks import VendorHook
from airflow_provider_pipelines.sensors.base import RemoteRunSensor


class ProfitbaseDataFlowSensor(RemoteRunSensor):
    """Wait for a Profitbase InVision data flow run, started elsewhere, to end.

    :param data_flow_id: the data flow's id (templated).
    :param run_id: the run id from the start's reply (templated).
    :param profitbase_conn_id: connection of type ``profitbase_invision`` (default ``profitbase_default``).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads (default 60).
    """

    template_fields: Sequence[str] = ("data_flow_id", "run_id")
    hook_class = VendorHook("profitbase")

    def __init__(
        self,
        *,
        data_flow_id: str,
        run_id: str,
        profitbase_conn_id: str = "profitbase_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=profitbase_conn_id, **kwargs)
        self.data_flow_id = data_flow_id
        self.run_id = run_id
        self.profitbase_conn_id = profitbase_conn_id
        self.validate(rendered=False)

    def ref(self) -> dict[str, str]:
        return {"data_flow_id": self.data_flow_id, "run_id": self.run_id}
