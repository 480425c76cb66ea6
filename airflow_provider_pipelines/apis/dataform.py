"""Dataform Web API v1: start a run of a project, read a run's status.

Facts (``shared/vendor-apis.md`` §1): ``POST /v1/project/{projectId}/run`` with
an optional ``scheduleName``, ``environmentName`` and ``runConfig.tags``
returns ``{"id"}``; ``GET /v1/project/{projectId}/run/{runId}`` returns
``{"id", "status", "runLogUrl"}``. There is no cancel and no run list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_pipelines.apis.base import VendorApi, field_of
from airflow_provider_pipelines.http import ApiRequest, ApiResponse, quote_segment
from airflow_provider_pipelines.runs import RemoteRun, RunState, StatusTable

DEFAULT_HOST = "https://api.dataform.co"

STATUSES = StatusTable(
    "Dataform",
    {
        # "UNKNOWN" is a real Dataform word; it maps to our UNKNOWN like any unlisted word.
        "UNKNOWN": RunState.UNKNOWN,
        "RUNNING": RunState.RUNNING,
        "SUCCESSFUL": RunState.SUCCESS,
        "FAILED": RunState.FAILED,
        "CANCELLED": RunState.CANCELLED,
        "TIMED_OUT": RunState.FAILED,
    },
)


class DataformApi(VendorApi):
    """Requests and parsers for Dataform Web."""

    vendor = "dataform"
    display_name = "Dataform"
    lineage_job_type = "DATAFORM_RUN"
    statuses = STATUSES
    ref_keys = ("project_id", "run_id")

    def start_request(
        self,
        project_id: str,
        *,
        schedule_name: str | None = None,
        environment_name: str | None = None,
        tags: list[str] | None = None,
    ) -> ApiRequest:
        body: dict[str, Any] = {}
        if schedule_name:
            body["scheduleName"] = schedule_name
        if environment_name:
            body["environmentName"] = environment_name
        if tags:
            body["runConfig"] = {"tags": list(tags)}
        return ApiRequest(
            "POST",
            f"v1/project/{quote_segment(project_id)}/run",
            json=body,
            idempotent=False,
            what=f"start Dataform run in project {project_id}",
            hints={
                404: f"Dataform knows no project {project_id!r}: check project_id and the API token's project"
            },
        )

    def parse_started(self, response: ApiResponse, project_id: str) -> dict[str, str]:
        """The ref of the run a start created."""
        run_id = field_of(response, response.json_object(), "id")
        return {"project_id": project_id, "run_id": str(run_id)}

    def read_request(self, ref: Mapping[str, str]) -> ApiRequest:
        project_id, run_id = ref["project_id"], ref["run_id"]
        return ApiRequest(
            "GET",
            f"v1/project/{quote_segment(project_id)}/run/{quote_segment(run_id)}",
            what=f"read Dataform run {run_id} of project {project_id}",
            hints={
                404: f"Dataform knows no run {run_id!r} in project {project_id!r}: "
                "check project_id and run_id"
            },
        )

    def parse_run(self, response: ApiResponse, ref: Mapping[str, str]) -> RemoteRun:
        data = response.json_object()
        word = field_of(response, data, "status")
        return RemoteRun(
            vendor=self.vendor,
            ref=dict(ref),
            run_id=str(data.get("id") or ref["run_id"]),
            state=self.statuses.classify(word),
            vendor_status=str(word),
            url=data.get("runLogUrl") or None,
        )
