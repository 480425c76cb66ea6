"""A fake Dataform Web API v1: Bearer auth, start a run, read a run, Dataform-shaped errors."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from airflow_provider_pipelines.testing.sandbox import FakeVendor, Handler


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {"error": message, "code": code, "message": message, "details": []}, status=status
    )


class FakeDataform(FakeVendor):
    """Runs are planned by schedule name, else environment name, else ``*``.

    Known projects: ``1234`` and ``5678``; any other project id answers 404.
    """

    name = "dataform"
    token = "sandbox-dataform-token"
    running_word = "RUNNING"
    success_word = "SUCCESSFUL"
    projects = ("1234", "5678")

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/v1/project/{project}/run", self.create_run),
            ("GET", "/v1/project/{project}/run/{run_id}", self.get_run),
        ]

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return _error(401, 16, "Request had no credentials")
        if header != f"Bearer {self.token}":
            return _error(403, 7, "The API token is not valid for this project")
        return None

    async def create_run(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        project = request.match_info["project"]
        if project not in self.projects:
            return _error(404, 5, f"project {project} not found")
        try:
            body: dict[str, Any] = json.loads(await request.read() or b"{}")
        except ValueError:
            return _error(400, 3, "body is not JSON")
        if not isinstance(body, dict):
            return _error(400, 3, "body must be an object")
        key = body.get("scheduleName") or body.get("environmentName") or "*"
        run = self.new_run(str(key), project=project, request=body)
        return web.json_response({"id": run.run_id})

    async def get_run(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        project, run_id = request.match_info["project"], request.match_info["run_id"]
        run = self.runs.get(run_id)
        if run is None or run.data.get("project") != project:
            return _error(404, 5, f"run {run_id} not found in project {project}")
        return web.json_response(
            {
                "id": run.run_id,
                "status": run.status(),
                "runLogUrl": f"{self.sandbox.url}{self.prefix}/app/#/{project}/run/{run.run_id}",
            }
        )
