"""Profitbase InVision data flow execution API: start a data flow, read a run's status.

Facts (``shared/vendor-apis.md`` §2): ``POST api/pub/v1/dataflows/{id}/start``
(optional ``await=true`` holds the reply until the flow ends) and
``GET api/pub/v1/dataflows/{id}/runs/{runId}/status``, both answering
``{"runId", "status"}``. The only documented error is a bare ``500``. There is
no cancel, no run list and no web link to a run.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_pipelines.apis.base import VendorApi, field_of
from airflow_provider_pipelines.http import ApiRequest, ApiResponse, quote_segment
from airflow_provider_pipelines.runs import RemoteRun, RunState, StatusTable

STATUSES = StatusTable(
    "Profitbase InVision",
    {
        "Pending": RunState.QUEUED,
        "Running": RunState.RUNNING,
        "Succeeded": RunState.SUCCESS,
        "Failed": RunState.FAILED,
    },
    case_sensitive=False,
)


# Only the fact: the hook's call_start adds once that a run may have started and where to look.
_START_500 = "InVision answers a bare 500 to every error, also to one that came after the data flow started"


class ProfitbaseApi(VendorApi):
    """Requests and parsers for Profitbase InVision data flows."""

    vendor = "profitbase"
    display_name = "Profitbase InVision"
    lineage_job_type = "INVISION_DATA_FLOW"
    statuses = STATUSES
    ref_keys = ("data_flow_id", "run_id")

    def start_request(self, data_flow_id: str, *, hold_seconds: float | None = None) -> ApiRequest:
        """Start a data flow; with ``hold_seconds``, ask InVision to answer only when it ended."""
        return ApiRequest(
            "POST",
            f"api/pub/v1/dataflows/{quote_segment(data_flow_id)}/start",
            params={"await": "true"} if hold_seconds else {},
            idempotent=False,
            what=f"start InVision data flow {data_flow_id}",
            timeout=hold_seconds,
            hints={500: _START_500, 404: f"InVision knows no data flow {data_flow_id!r}: check data_flow_id"},
        )

    def parse_started(self, response: ApiResponse, data_flow_id: str) -> RemoteRun:
        """The run a start answered with. Its run id is what matters (it is the only way to read
        the run again); a start answer without a status word is a run whose state is not yet known."""
        data = response.json_object()
        if data.get("runId") and "status" not in data:
            run_id = str(data["runId"])
            return RemoteRun(
                vendor=self.vendor,
                ref={"data_flow_id": data_flow_id, "run_id": run_id},
                run_id=run_id,
                state=RunState.UNKNOWN,
            )
        return self.parse_run(response, {"data_flow_id": data_flow_id, "run_id": ""})

    def read_request(self, ref: Mapping[str, str]) -> ApiRequest:
        flow, run_id = ref["data_flow_id"], ref["run_id"]
        return ApiRequest(
            "GET",
            f"api/pub/v1/dataflows/{quote_segment(flow)}/runs/{quote_segment(run_id)}/status",
            what=f"read InVision data flow {flow} run {run_id}",
        )

    def parse_run(self, response: ApiResponse, ref: Mapping[str, str]) -> RemoteRun:
        data = response.json_object()
        run_id = str(data.get("runId") or ref.get("run_id") or field_of(response, data, "runId"))
        word = field_of(response, data, "status")
        return RemoteRun(
            vendor=self.vendor,
            ref={"data_flow_id": ref["data_flow_id"], "run_id": run_id},
            run_id=run_id,
            state=self.statuses.classify(word),
            vendor_status=str(word),
        )
