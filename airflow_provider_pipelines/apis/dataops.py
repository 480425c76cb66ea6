"""DataOps.live (GitLab API v4 underneath): pipelines, their variables, jobs and job logs.

Facts (``shared/vendor-apis.md`` §3): a pipeline starts with an access token
(``PRIVATE-TOKEN`` header) through ``POST /projects/:id/pipeline`` and a JSON
variables list, or with a pipeline trigger token through
``POST /projects/:id/trigger/pipeline`` and form fields; both answer with the
pipeline (``id``, ``status``, ``web_url``). ``:id`` is a numeric id or the
URL-encoded path (``group%2Fsub%2Fproject``). Lists paginate with ``page`` /
``per_page`` (max 100) and say the next page in ``x-next-page``.

Everything here is pure: requests are built and responses parsed, nothing is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from airflow_provider_pipelines.apis.base import Page, VendorApi, field_of, iso_utc, query_time, server_time
from airflow_provider_pipelines.errors import ResponseFormatError
from airflow_provider_pipelines.http import ApiRequest, ApiResponse, excerpt, quote_segment
from airflow_provider_pipelines.runs import RemoteRun, RunState, StatusTable

DEFAULT_HOST = "https://app.dataops.live"
API_PATH = "/api/v4"
#: GitLab's largest page
MAX_PER_PAGE = 100

STATUSES = StatusTable(
    "DataOps.live",
    {
        "created": RunState.QUEUED,
        "waiting_for_resource": RunState.QUEUED,
        "preparing": RunState.QUEUED,
        "waiting_for_callback": RunState.QUEUED,
        "pending": RunState.QUEUED,
        "scheduled": RunState.QUEUED,
        "running": RunState.RUNNING,
        "canceling": RunState.RUNNING,
        "success": RunState.SUCCESS,
        "failed": RunState.FAILED,
        "canceled": RunState.CANCELLED,
        "skipped": RunState.SKIPPED,
        "manual": RunState.BLOCKED,
    },
)

#: the statuses of a pipeline worth re-attaching to, in the order a pipeline passes through them.
#: Each is listed with its own request (the list filter takes one status); asking in this order
#: means a pipeline that moves on while we look moves into a status not yet asked about, so it is
#: still found. ``canceling`` is left out: it ends cancelled, and a retry should start afresh.
ATTACHABLE_STATUSES = (
    "created",
    "waiting_for_resource",
    "preparing",
    "pending",
    "running",
    "waiting_for_callback",
    "scheduled",
    "manual",
)


def api_base_url(base_url: str) -> str:
    """The API root under a host: ``https://app.dataops.live`` -> ``https://app.dataops.live/api/v4``."""
    base = base_url.rstrip("/")
    return base if base.endswith(API_PATH) else base + API_PATH


def _bad_start_hint(project: str, ref: str) -> str:
    return f"check that ref {ref!r} exists in project {project!r} and that the pipeline file is valid"


@dataclass(frozen=True)
class Job:
    """One job of a pipeline, as the jobs list shows it."""

    id: str
    name: str
    stage: str
    status: str
    web_url: str | None = None
    failure_reason: str | None = None

    def describe(self) -> str:
        """``job 'Build all Models' in stage 'Data Transformation'``."""
        return f"job {self.name!r} in stage {self.stage!r}"


class DataOpsApi(VendorApi):
    """Requests and parsers for DataOps.live pipelines."""

    vendor = "dataops"
    display_name = "DataOps.live"
    lineage_job_type = "DATAOPS_PIPELINE"
    statuses = STATUSES
    ref_keys = ("project", "pipeline_id")

    # -- starting ------------------------------------------------------------------------------

    def start_request(self, project: str, ref: str, variables: Mapping[str, str]) -> ApiRequest:
        """Start with an access token: JSON body, variables as a list of env vars."""
        return ApiRequest(
            "POST",
            f"projects/{quote_segment(project)}/pipeline",
            json={
                "ref": ref,
                "variables": [
                    {"key": key, "value": value, "variable_type": "env_var"}
                    for key, value in variables.items()
                ],
            },
            idempotent=False,
            what=f"start DataOps.live pipeline on {ref!r} in project {project}",
            hints={
                400: _bad_start_hint(project, ref),
                404: f"DataOps.live knows no project {project!r} (or the access token cannot see it): "
                "check project (an id or a path like group/project)",
            },
        )

    def trigger_request(self, project: str, ref: str, variables: Mapping[str, str], token: str) -> ApiRequest:
        """Start with a pipeline trigger token: form fields ``token``, ``ref``, ``variables[KEY]``.

        The token travels in the form body, never in the URL; ``ApiRequest`` keeps
        form bodies out of its ``repr``.
        """
        form = {"token": token, "ref": ref}
        form.update({f"variables[{key}]": value for key, value in variables.items()})
        return ApiRequest(
            "POST",
            f"projects/{quote_segment(project)}/trigger/pipeline",
            form=form,
            idempotent=False,
            what=f"trigger DataOps.live pipeline on {ref!r} in project {project}",
            hints={
                400: _bad_start_hint(project, ref),
                404: f"DataOps.live knows no project {project!r}, or the trigger token does not belong to it",
            },
        )

    def parse_started(self, response: ApiResponse, project: str) -> RemoteRun:
        """The pipeline a start created (its answer is the pipeline itself)."""
        return self._run_from(response, response.json_object(), project)

    # -- reading, cancelling -------------------------------------------------------------------

    def read_request(self, ref: Mapping[str, str]) -> ApiRequest:
        project, pipeline_id = ref["project"], ref["pipeline_id"]
        return ApiRequest(
            "GET",
            f"projects/{quote_segment(project)}/pipelines/{quote_segment(pipeline_id)}",
            what=f"read DataOps.live pipeline {pipeline_id} of project {project}",
            hints={
                404: f"DataOps.live knows no pipeline {pipeline_id!r} in project {project!r}: "
                "check project and pipeline_id"
            },
        )

    def parse_run(self, response: ApiResponse, ref: Mapping[str, str]) -> RemoteRun:
        return self._run_from(response, response.json_object(), ref["project"])

    def cancel_request(self, ref: Mapping[str, str]) -> ApiRequest | None:
        project, pipeline_id = ref["project"], ref["pipeline_id"]
        return ApiRequest(
            "POST",
            f"projects/{quote_segment(project)}/pipelines/{quote_segment(pipeline_id)}/cancel",
            # cancelling twice does no harm (200 whatever the state), so it may be retried
            idempotent=True,
            what=f"cancel DataOps.live pipeline {pipeline_id} of project {project}",
        )

    def _run_from(self, response: ApiResponse, data: Mapping[str, Any], project: str) -> RemoteRun:
        pipeline_id = str(field_of(response, data, "id"))
        word = field_of(response, data, "status")
        state = self.statuses.classify(word)
        detailed = data.get("detailed_status")
        label = detailed.get("label") if isinstance(detailed, Mapping) else None
        detail = None
        if isinstance(label, str) and label and label.lower() != str(word).lower():
            detail = None if state is RunState.SUCCESS else label
        return RemoteRun(
            vendor=self.vendor,
            ref={"project": project, "pipeline_id": pipeline_id},
            run_id=pipeline_id,
            state=state,
            vendor_status=str(word),
            url=data.get("web_url") or None,
            detail=detail,
            extra={"source": data.get("source")},
        )

    # -- finding a pipeline again --------------------------------------------------------------

    def list_request(
        self, project: str, ref: str, status: str | None, page: int = 1, *, updated_after: str | None = None
    ) -> ApiRequest:
        """One page of the pipelines on ``ref``, newest first: in ``status`` (None: any), and
        updated after an ISO 8601 time when ``updated_after`` is given."""
        params = {
            "ref": ref,
            "order_by": "id",
            "sort": "desc",
            "per_page": str(MAX_PER_PAGE),
            "page": str(page),
        }
        if status is not None:
            params["status"] = status
        if updated_after is not None:
            params["updated_after"] = updated_after
        which = status or "recent"
        return ApiRequest(
            "GET",
            f"projects/{quote_segment(project)}/pipelines",
            params=params,
            what=f"list {which} DataOps.live pipelines on {ref!r} in project {project}",
        )

    def parse_page(self, response: ApiResponse, project: str) -> Page:
        runs = [self._run_from(response, item, project) for item in _pipeline_rows(response)]
        return Page(runs=runs, next_page=_next_page(response))

    # -- the pipelines that changed: what event watchers (and other pollers) read -------------

    def changed_runs_request(
        self,
        project: str,
        *,
        updated_after: datetime,
        ref: str | None = None,
        source: str | None = None,
        page: int | None = None,
    ) -> ApiRequest:
        """One page of the project's pipelines updated after a time, least recently updated first.

        ``order_by=updated_at&sort=asc``: each page continues where the previous one ended, so a
        reader may stop at any page and go on from the last ``updated_at`` it saw. ``ref`` and
        ``source`` narrow the list on the server. ``page`` is :attr:`Page.next_page` of the page
        before (None: the first).
        """
        params = {
            "updated_after": query_time(updated_after),
            "order_by": "updated_at",
            "sort": "asc",
            "per_page": str(MAX_PER_PAGE),
            "page": str(page or 1),
        }
        if ref is not None:
            params["ref"] = ref
        if source is not None:
            params["source"] = source
        since = params["updated_after"]
        return ApiRequest(
            "GET",
            f"projects/{quote_segment(project)}/pipelines",
            params=params,
            what=f"list the DataOps.live pipelines of project {project} updated since {since}",
            hints={
                404: f"DataOps.live knows no project {project!r} (or the access token cannot see it): "
                "check project (an id or a path like group/project)"
            },
        )

    def parse_changed_runs(self, response: ApiResponse, project: str) -> Page:
        """A page of :meth:`changed_runs_request`, with the vendor's clock from its ``Date`` header.

        GitLab's list gives no finish time: a finished pipeline's ``updated_at`` stands for it (a
        pipeline changes no more once it has ended, unless it is retried).
        """
        runs = []
        for row in _pipeline_rows(response):
            run = self._run_from(response, row, project)
            updated_at = iso_utc(row.get("updated_at"))
            finished_at = iso_utc(row.get("finished_at")) or updated_at
            extra = {
                **run.extra,
                "ref": row.get("ref"),
                "sha": row.get("sha"),
                "changed_at": updated_at,
                "finished_at": finished_at if run.state.is_terminal else None,
            }
            runs.append(replace(run, extra=extra))
        return Page(runs=runs, next_page=_next_page(response), server_time=server_time(response))

    def variables_request(self, ref: Mapping[str, str]) -> ApiRequest:
        project, pipeline_id = ref["project"], ref["pipeline_id"]
        return ApiRequest(
            "GET",
            f"projects/{quote_segment(project)}/pipelines/{quote_segment(pipeline_id)}/variables",
            what=f"read the variables of DataOps.live pipeline {pipeline_id} of project {project}",
        )

    def parse_variables(self, response: ApiResponse) -> dict[str, str]:
        data = response.json()
        if not isinstance(data, list):
            raise ResponseFormatError(
                f"{response.request.what} got HTTP {response.status} from {response.url} with a body that "
                f"is not a list of variables: {excerpt(response.body)!r}"
            )
        return {
            str(item["key"]): str(item.get("value"))
            for item in data
            if isinstance(item, Mapping) and "key" in item
        }

    # -- explaining a failure ------------------------------------------------------------------

    def jobs_request(self, ref: Mapping[str, str], scope: str) -> ApiRequest:
        """The pipeline's jobs in one state (``failed``, ``manual``): one full page, in whatever order.

        One page of the largest size, so that sorting it finds the job that failed first
        (a smaller page of the newest jobs would not hold it).
        """
        project, pipeline_id = ref["project"], ref["pipeline_id"]
        return ApiRequest(
            "GET",
            f"projects/{quote_segment(project)}/pipelines/{quote_segment(pipeline_id)}/jobs",
            params={"scope[]": scope, "per_page": str(MAX_PER_PAGE)},
            what=f"list the {scope} jobs of DataOps.live pipeline {pipeline_id}",
        )

    def parse_jobs(self, response: ApiResponse) -> tuple[list[Job], bool]:
        """The jobs of a page, oldest first (the first is the one that failed first), and whether
        more pages follow."""
        data = response.json()
        if not isinstance(data, list):
            raise ResponseFormatError(
                f"{response.request.what} got HTTP {response.status} from {response.url} with a body that "
                f"is not a list of jobs: {excerpt(response.body)!r}"
            )
        jobs = [
            Job(
                id=str(item.get("id")),
                name=str(item.get("name") or "?"),
                stage=str(item.get("stage") or "?"),
                status=str(item.get("status") or "?"),
                web_url=item.get("web_url") or None,
                failure_reason=item.get("failure_reason") or None,
            )
            for item in data
            if isinstance(item, Mapping) and item.get("id") is not None
        ]
        jobs.sort(key=lambda job: int(job.id) if job.id.isdigit() else 0)
        return jobs, bool((response.headers.get("x-next-page") or "").strip())

    def trace_request(self, project: str, job_id: str) -> ApiRequest:
        return ApiRequest(
            "GET",
            f"projects/{quote_segment(project)}/jobs/{quote_segment(job_id)}/trace",
            what=f"read the log of DataOps.live job {job_id}",
        )

    # -- the connection test -------------------------------------------------------------------

    def user_request(self) -> ApiRequest:
        """The cheapest call that proves an access token works: who am I."""
        return ApiRequest("GET", "user", what="read the DataOps.live user of the access token")

    def version_request(self) -> ApiRequest:
        return ApiRequest("GET", "version", what="read the DataOps.live version")


def _pipeline_rows(response: ApiResponse) -> list[Mapping[str, Any]]:
    data = response.json()
    if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
        raise ResponseFormatError(
            f"{response.request.what} got HTTP {response.status} from {response.url} with a body that "
            f"is not a list of pipelines: {excerpt(response.body)!r}"
        )
    return data


def _next_page(response: ApiResponse) -> int | None:
    """GitLab's ``x-next-page`` header: the next page's number, empty on the last page."""
    text = (response.headers.get("x-next-page") or "").strip()
    return int(text) if text.isdigit() else None


# GitLab job logs carry colour codes and collapsible-section markers; neither belongs in a task log.
_SECTION = re.compile(r"section_(?:start|end):\d+:[^\r\n\x1b]*\r?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MAX_LINE_CHARS = 300


def tail_of_trace(body: bytes, lines: int = 20) -> list[str]:
    """The last ``lines`` non-empty lines of a job log, without colour codes or section markers."""
    text = _ANSI.sub("", _SECTION.sub("", body.decode("utf-8", errors="replace")))
    cleaned = []
    for raw in text.split("\n"):
        # a carriage return redraws the line (progress bars): keep what was drawn last
        line = next((part for part in reversed(raw.split("\r")) if part.strip()), "").rstrip()
        if line:
            cleaned.append(line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…")
    return cleaned[-lines:] if lines > 0 else []
