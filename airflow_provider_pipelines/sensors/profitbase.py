"""Sensor that waits for a Profitbase InVision data flow run to end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow_provider_pipelines.hooks import VendorHook
from airflow_provider_pipelines.sensors.base import RemoteRunSensor
from airflow_provider_pipelines.validation import require_seconds

DEFAULT_UNKNOWN_RUN_GRACE = timedelta(minutes=10)


class ProfitbaseDataFlowSensor(RemoteRunSensor):
    """Wait for a Profitbase InVision data flow run, started elsewhere, to end.

    :param data_flow_id: the data flow's id (templated).
    :param run_id: the run id from the start's reply (templated).
    :param profitbase_conn_id: connection of type ``profitbase_invision`` (default ``profitbase_default``).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads (default 60).
    :param unknown_run_grace: InVision answers a bare ``500`` for a run id it does not know, as
        for its own failures. A run never once read successfully that is still answered with a
        server error this long after the first one fails the sensor, saying InVision may not know
        the run id (seconds or a timedelta; default 10 minutes; None: wait until ``timeout``). A run
        read successfully once is waited on through any outage. In ``reschedule`` mode this needs
        Airflow 3.3+ (the ``task_state_store`` keeps the count between pokes); before, it waits on.
    """

    template_fields: Sequence[str] = ("data_flow_id", "run_id")
    hook_class = VendorHook("profitbase")

    def __init__(
        self,
        *,
        data_flow_id: str,
        run_id: str,
        profitbase_conn_id: str = "profitbase_default",
        unknown_run_grace: float | timedelta | None = DEFAULT_UNKNOWN_RUN_GRACE,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=profitbase_conn_id, **kwargs)
        self.unknown_run_grace = require_seconds("unknown_run_grace", unknown_run_grace, optional=True)
        self.data_flow_id = data_flow_id
        self.run_id = run_id
        self.profitbase_conn_id = profitbase_conn_id
        self.validate(rendered=False)

    def ref(self) -> dict[str, str]:
        return {"data_flow_id": self.data_flow_id, "run_id": self.run_id}
