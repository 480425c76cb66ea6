"""Hook for Profitbase InVision data flow execution."""

from __future__ import annotations

from typing import Any

from airflow_provider_pipelines.apis.profitbase import ProfitbaseApi
from airflow_provider_pipelines.errors import StartUncertainError
from airflow_provider_pipelines.forms import with_connection_form
from airflow_provider_pipelines.hooks.base import PipelineHook
from airflow_provider_pipelines.http import ApiRequest
from airflow_provider_pipelines.runs import RemoteRun

_ZERO_GUID = "00000000-0000-0000-0000-000000000000"


@with_connection_form
class ProfitbaseHook(PipelineHook):
    """Talks to InVision's data flow API through a connection of type ``profitbase_invision``.

    The connection's ``host`` is the InVision base URL *with its path*
    (``https://mydomain.com/invision``); its ``password`` is the API key, sent
    only as the ``x-api-key`` header (never as ``api_key=`` in a URL, where
    proxies and Airflow would log it). Extras as for every hook of this
    provider: ``timeout``, ``max_attempts``, ``backoff``, ``backoff_max``, ``verify_ssl``.

    :param profitbase_conn_id: the Airflow connection id.
    """

    conn_name_attr = "profitbase_conn_id"
    default_conn_name = "profitbase_default"
    conn_type = "profitbase_invision"
    hook_name = "Profitbase InVision"
    api_class = ProfitbaseApi
    secret_label = "API key"
    api: ProfitbaseApi

    def __init__(self, profitbase_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=profitbase_conn_id, **kwargs)

    def auth_headers(self, conn: Any) -> dict[str, str]:
        return {"x-api-key": self.require_secret(conn)}

    def probe_request(self) -> ApiRequest:
        # InVision has no "who am I" call: read the status of a run that cannot exist.
        return self.api.read_request({"data_flow_id": _ZERO_GUID, "run_id": _ZERO_GUID})

    def probe_verdict(self, status: int, is_json: bool, url: str) -> tuple[bool, str]:
        if status == 500:
            return True, (
                f"InVision's data flow API answered at {url} and did not refuse the API key "
                "(InVision answers a bare 500 for a run that does not exist)"
            )
        if status == 404:
            return False, (
                f"No InVision data flow API at {url}: check that the host includes InVision's "
                "path (e.g. https://mydomain.com/invision)"
            )
        return super().probe_verdict(status, is_json, url)

    def start_data_flow(self, data_flow_id: str, *, hold_seconds: float | None = None) -> RemoteRun:
        """Start a data flow. With ``hold_seconds`` the reply comes when the flow ended (``await=true``).

        A start is never resent after it may have reached InVision; see ``call_start``.
        """
        request = self.api.start_request(data_flow_id, hold_seconds=hold_seconds)
        try:
            response = self.call_start(request)
        except StartUncertainError as exc:
            if not hold_seconds:
                raise
            raise StartUncertainError(
                f"The held start of InVision data flow {data_flow_id} (await=true) got no reply ({exc}). "
                "The data flow was probably started and goes on running in InVision, but InVision "
                "returns the run id only in that reply and has no way to list runs, so this task "
                "cannot wait on it and will not start it again. Check the data flow in InVision."
            ) from None
        return self.read_start(response, lambda r: self.api.parse_started(r, data_flow_id))
