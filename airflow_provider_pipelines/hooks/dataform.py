"""Hook for Dataform Web (API v1)."""

from __future__ import annotations

from airflow_provider_pipelines.apis.dataform import DEFAULT_HOST, DataformApi
from airflow_provider_pipelines.errors import PipelinesError
from airflow_provider_pipelines.forms import with_connection_form
from airflow_provider_pipelines.hooks.base import PipelineHook, extra_value
from airflow_provider_pipelines.http import ApiRequest
from airflow_provider_pipelines.runs import RemoteRun, RunState


@with_connection_form
class DataformHook(PipelineHook):
    """Talks to the Dataform Web API v1 through an Airflow connection of type ``dataform_web``.

    The connection's ``host`` is the API base URL (default ``https://api.dataform.co``;
    a scheme and a path prefix in it are kept), its ``password`` the project's API
    token, sent only as ``Authorization: Bearer``. Extras: ``timeout`` (seconds per
    request, default 30), ``max_attempts`` (default 5), ``backoff`` (first retry
    pause in seconds, default 1), ``verify_ssl`` (default true).

    :param dataform_conn_id: the Airflow connection id.
    """

    conn_name_attr = "dataform_conn_id"
    default_conn_name = "dataform_default"
    conn_type = "dataform_web"
    hook_name = "Dataform Web"
    api_class = DataformApi
    default_host = DEFAULT_HOST
    api: DataformApi

    def __init__(self, dataform_conn_id: str = default_conn_name, **kwargs: object) -> None:
        super().__init__(conn_id=dataform_conn_id, **kwargs)

    def probe_request(self) -> ApiRequest:
        # Dataform's API has no "who am I" call: read a run that cannot exist in the project
        # named by the extra ``project_id`` (or project 0), which needs a valid token.
        extras = self.get_connection(self.conn_id).extra_dejson or {}
        project = str(extra_value(extras, "project_id") or "0").strip()
        return self.api.read_request({"project_id": project, "run_id": "0"})

    def probe_verdict(self, status: int, is_json: bool, url: str) -> tuple[bool, str]:
        if status == 404 and is_json:
            return True, (
                f"Dataform answered at {url} and did not refuse the token "
                "(a 404 in Dataform's error format for a run that does not exist)"
            )
        if status == 404:
            return False, f"{url} is not the Dataform API (a 404 page): check the host and its path prefix"
        return super().probe_verdict(status, is_json, url)

    def start_run(
        self,
        project_id: str,
        *,
        schedule_name: str | None = None,
        environment_name: str | None = None,
        tags: list[str] | None = None,
    ) -> RemoteRun:
        """Start a run and read it once, so that its web link is known before any waiting.

        A start is never retried after the request may have reached Dataform
        (Dataform cannot tell us whether it started a run); see the retry policy.
        """
        request = self.api.start_request(
            project_id, schedule_name=schedule_name, environment_name=environment_name, tags=tags
        )
        response = self.call_start(request)
        ref = self.read_start(response, lambda r: self.api.parse_started(r, project_id))
        try:
            return self.get_run(ref)
        except PipelinesError as exc:
            self.log.warning(
                "Dataform run %s started, but its first status read failed: %s", ref["run_id"], exc
            )
            return RemoteRun(vendor=self.api.vendor, ref=ref, run_id=ref["run_id"], state=RunState.UNKNOWN)
