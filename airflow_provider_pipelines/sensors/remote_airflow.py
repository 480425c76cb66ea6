"""Sensor that waits for a DAG run on a remote Airflow to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_pipelines.hooks import VendorHook
from airflow_provider_pipelines.params.remote_airflow import check_run_id
from airflow_provider_pipelines.sensors.base import RemoteRunSensor
from airflow_provider_pipelines.validation import require_str

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook


class RemoteDagRunSensor(RemoteRunSensor):
    """Wait for a run of a DAG on a remote Airflow, started elsewhere, to end.

    Succeeds when the run succeeds; fails when it fails, naming the remote failed tasks.

    :param dag_id: the remote DAG's id (templated).
    :param dag_run_id: the remote run id (templated), e.g. ``{{ ti.xcom_pull('trigger') }}``.
    :param remote_airflow_conn_id: connection of type ``remote_airflow``
        (default ``remote_airflow_default``).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads (default 60).
    """

    template_fields: Sequence[str] = ("remote_dag_id", "dag_run_id")
    hook_class = VendorHook("remote_airflow")

    def __init__(
        self,
        *,
        dag_id: str,
        dag_run_id: str,
        remote_airflow_conn_id: str = "remote_airflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=remote_airflow_conn_id, **kwargs)
        self.remote_dag_id = dag_id  # ``dag_id`` is BaseOperator's own (this task's DAG)
        self.dag_run_id = dag_run_id
        self.remote_airflow_conn_id = remote_airflow_conn_id
        self._hook: RemoteAirflowHook | None = None
        self.validate(rendered=False)

    def validate(self, rendered: bool) -> None:
        if self.check(rendered, self.remote_dag_id):
            require_str("dag_id", self.remote_dag_id)
        if self.check(rendered, self.dag_run_id):
            check_run_id(self.dag_run_id)

    def get_hook(self) -> RemoteAirflowHook:
        # one hook for all pokes: the API generation is probed and a login token fetched once
        if self._hook is None:
            from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook

            self._hook = RemoteAirflowHook(self.conn_id)
        return self._hook

    def ref(self) -> dict[str, str]:
        hook = self.get_hook()
        return hook.api.ref_for(hook.get_api_version(), self.remote_dag_id, self.dag_run_id)
