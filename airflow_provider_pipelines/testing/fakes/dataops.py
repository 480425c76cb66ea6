"""A fake DataOps.live API (GitLab API v4 underneath), mounted under ``/dataops/api/v4``.

Point a ``dataops_live`` connection's host at ``<sandbox>/dataops``; the hook adds ``/api/v4``.

* **Projects**: ``4242`` (path ``acme/analytics/snowflake-pipelines``, private) and ``4343``
  (``acme/public-demo``, whose pipelines, jobs and logs anyone may read). Either is addressed
  by id or by URL-encoded path; anything else answers ``404 Project Not Found``.
* **Auth**: the access token in the ``PRIVATE-TOKEN`` header on every endpoint but the trigger
  endpoint, which takes only the trigger token, as a form field. A wrong or missing token
  answers ``401 {"message": "401 Unauthorized"}``.
* **Plans**: a pipeline follows the plan keyed by its ``_PIPELINE_FILE_NAME`` variable, else by
  its ref, else ``*``. Refs ``main``, ``develop`` and ``staging`` exist, and any ref with a plan.
* **Jobs** follow the pipeline's status: a ``failed`` pipeline has failed job(s) in stage
  ``Data Transformation`` with a dbt-like log (colour codes and section markers included);
  a ``manual`` one waits on the job ``Approve deployment`` in stage ``Deploy``. The variable
  ``SANDBOX_TRANSFORM_JOBS`` sets how many transformation jobs there are (default 1).
* **Lists** paginate like GitLab: ``page``, ``per_page`` (default 20, max 100) and the headers
  ``x-page``, ``x-per-page``, ``x-next-page``, ``x-prev-page``, ``x-total``, ``x-total-pages``, ``Link``.
  The pipelines list filters on ``ref``, ``status``, ``source`` and ``updated_after`` and sorts by
  ``order_by`` (``id`` or ``updated_at``) and ``sort``. A pipeline's ``updated_at`` is when it ended,
  or now while it goes on (the plan option ``updated_at="on_change"``: when its status last
  changed); ``SandboxClient.finish`` ends one on demand.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from airflow_provider_pipelines.isotime import parse_iso
from airflow_provider_pipelines.testing.sandbox import FakeRun, FakeVendor, Handler

API = "/api/v4"
PROJECTS = {
    "4242": ("acme/analytics/snowflake-pipelines", False),
    "4343": ("acme/public-demo", True),
}
REFS = ("main", "develop", "staging")

_LABELS = {"success": "passed", "manual": "waiting for manual action", "scheduled": "delayed"}
_FINISHED = {"success", "failed", "canceled", "skipped"}
_QUEUED = {"created", "waiting_for_resource", "preparing", "waiting_for_callback", "pending", "scheduled"}


def _message(status: int, message: Any) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _after(when: str | None, seconds: float) -> bool:
    """GitLab's ``updated_after`` filter: true without one; a malformed one matches nothing."""
    if when is None:
        return True
    try:
        return seconds > parse_iso(when).timestamp()
    except ValueError:
        return False


def _iso(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class FakeDataOps(FakeVendor):
    """DataOps.live pipelines, their variables, jobs and job logs; cancel; GitLab-style lists."""

    name = "dataops"
    token = "sandbox-dataops-token"
    trigger_token = "sandbox-dataops-trigger-token"
    running_word = "running"
    success_word = "success"
    finished_words = frozenset(_FINISHED)

    def routes(self) -> list[tuple[str, str, Handler]]:
        project = API + "/projects/{project}"
        pipeline = project + "/pipelines/{pipeline_id}"
        return [
            ("POST", project + "/pipeline", self.create_pipeline),
            ("POST", project + "/trigger/pipeline", self.trigger_pipeline),
            ("GET", project + "/pipelines", self.list_pipelines),
            ("GET", pipeline, self.get_pipeline),
            ("GET", pipeline + "/variables", self.get_variables),
            ("GET", pipeline + "/jobs", self.list_jobs),
            ("POST", pipeline + "/cancel", self.cancel_pipeline),
            ("GET", project + "/jobs/{job_id}/trace", self.get_trace),
            ("GET", API + "/user", self.get_user),
            ("GET", API + "/version", self.get_version),
        ]

    # -- the rules ------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("PRIVATE-TOKEN") == self.token

    def _project(self, request: web.Request) -> str | None:
        """The project id named in the path (by id or by decoded path), or None."""
        value = request.match_info["project"]
        for project_id, (path, _) in PROJECTS.items():
            if value in (project_id, path):
                return project_id
        return None

    def _read_access(
        self, request: web.Request, *, public_ok: bool
    ) -> tuple[str | None, web.Response | None]:
        """The project of a read, or the refusal: 401 without a good token, unless the project is public."""
        project = self._project(request)
        if self._authorised(request):
            return (project, None) if project else (None, _message(404, "404 Project Not Found"))
        if project and public_ok and PROJECTS[project][1] and "PRIVATE-TOKEN" not in request.headers:
            return project, None
        return None, _message(401, "401 Unauthorized")

    def _pipeline(self, project: str, request: web.Request) -> FakeRun | None:
        run = self.runs.get(request.match_info["pipeline_id"])
        return run if run is not None and run.data["project"] == project else None

    def _known_ref(self, ref: str) -> bool:
        return ref in REFS or (self.name, ref) in self.sandbox.plans

    def _start(self, project: str, ref: str, variables: dict[str, str], source: str) -> web.Response:
        if not self._known_ref(ref):
            return _message(400, {"base": ["Reference not found"]})
        plan_key = next(
            (
                key
                for key in (variables.get("_PIPELINE_FILE_NAME"), ref)
                if key and (self.name, key) in self.sandbox.plans
            ),
            variables.get("_PIPELINE_FILE_NAME") or ref,
        )
        run = self.new_run(
            plan_key,
            project=project,
            ref=ref,
            variables=variables,
            source=source,
            created_at=time.time(),
            cancels=0,
        )
        return web.json_response(self._pipeline_json(run), status=201)

    # -- starting -------------------------------------------------------------------------------

    async def create_pipeline(self, request: web.Request) -> web.Response:
        """``POST /projects/:id/pipeline``: the access token in the header, a JSON body."""
        if not self._authorised(request):
            return _message(401, "401 Unauthorized")
        project = self._project(request)
        if project is None:
            return _message(404, "404 Project Not Found")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return web.json_response({"error": "body is not valid JSON"}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not body["ref"]:
            return web.json_response({"error": "ref is missing"}, status=400)
        variables: dict[str, str] = {}
        for item in body.get("variables") or []:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("key"), str)
                or not isinstance(item.get("value"), str)
                or item.get("variable_type", "env_var") not in ("env_var", "file")
            ):
                return web.json_response({"error": f"variables is invalid: {item!r}"}, status=400)
            variables[item["key"]] = item["value"]
        return self._start(project, body["ref"], variables, "api")

    async def trigger_pipeline(self, request: web.Request) -> web.Response:
        """``POST /projects/:id/trigger/pipeline``: form fields ``token``, ``ref``, ``variables[KEY]``."""
        form = await request.post()
        token = form.get("token")
        if not token:
            return web.json_response({"error": "token is missing"}, status=400)
        if token != self.trigger_token:
            return _message(401, "401 Unauthorized")
        project = self._project(request)
        if project is None:
            return _message(404, "404 Not Found")
        ref = form.get("ref")
        if not isinstance(ref, str) or not ref:
            return web.json_response({"error": "ref is missing"}, status=400)
        variables = {
            key[len("variables[") : -1]: str(value)
            for key, value in form.items()
            if key.startswith("variables[") and key.endswith("]")
        }
        return self._start(project, ref, variables, "trigger")

    # -- reading --------------------------------------------------------------------------------

    async def get_pipeline(self, request: web.Request) -> web.Response:
        project, denied = self._read_access(request, public_ok=True)
        if denied is not None:
            return denied
        assert project is not None
        run = self._pipeline(project, request)
        if run is None:
            return _message(404, "404 Not found")
        return web.json_response(self._pipeline_json(run))

    def _updated(self, run: FakeRun) -> float:
        """When a pipeline last changed (wall clock): when it ended, once it has; now, while it goes on
        (a running pipeline's jobs keep updating it), or, with the plan option
        ``updated_at="on_change"``, when its status last changed (a pipeline whose jobs run long)."""
        ended = run.ended_wall(self.finished_words)
        if ended is not None:
            return ended
        return run.changed_wall() if run.plan.options.get("updated_at") == "on_change" else time.time()

    async def list_pipelines(self, request: web.Request) -> web.Response:
        project, denied = self._read_access(request, public_ok=False)
        if denied is not None:
            return denied
        query = request.query
        rows = [
            run
            for run in self.runs.values()
            if run.data["project"] == project
            and query.get("ref", run.data["ref"]) == run.data["ref"]
            and query.get("status", run.status()) == run.status()
            and query.get("source", run.data["source"]) == run.data["source"]
            and _after(query.get("updated_after"), self._updated(run))
            and run.listable()
        ]
        order_by = query.get("order_by", "id")
        if order_by not in ("id", "updated_at"):
            return web.json_response({"error": "order_by does not have a valid value"}, status=400)
        # GitLab sorts by the column, then by id; every row's values are taken once, as a query would
        keyed = [
            ((self._updated(run) if order_by == "updated_at" else 0.0), int(run.run_id), run) for run in rows
        ]
        keyed.sort(key=lambda row: (row[0], row[1]), reverse=query.get("sort", "desc") != "asc")
        return self._paginated(request, [self._pipeline_json(run, brief=True) for _, _, run in keyed])

    async def get_variables(self, request: web.Request) -> web.Response:
        project, denied = self._read_access(request, public_ok=False)
        if denied is not None:
            return denied
        assert project is not None
        run = self._pipeline(project, request)
        if run is None:
            return _message(404, "404 Not found")
        return web.json_response(
            [{"variable_type": "env_var", "key": k, "value": v} for k, v in run.data["variables"].items()]
        )

    async def list_jobs(self, request: web.Request) -> web.Response:
        project, denied = self._read_access(request, public_ok=True)
        if denied is not None:
            return denied
        assert project is not None
        run = self._pipeline(project, request)
        if run is None:
            return _message(404, "404 Not found")
        scopes = request.query.getall("scope[]", []) or request.query.getall("scope", [])
        jobs = [job for job in self._jobs(run) if not scopes or job["status"] in scopes]
        jobs.sort(key=lambda job: job["id"], reverse=True)
        return self._paginated(request, jobs)

    async def get_trace(self, request: web.Request) -> web.Response:
        project, denied = self._read_access(request, public_ok=True)
        if denied is not None:
            return denied
        job_id = request.match_info["job_id"]
        run = self.runs.get(job_id[:-2]) if job_id.isdigit() else None
        job = next((j for j in self._jobs(run) if str(j["id"]) == job_id), None) if run else None
        if run is None or job is None or run.data["project"] != project:
            return _message(404, "404 Not found")
        return web.Response(text=_trace(job), content_type="text/plain")

    async def cancel_pipeline(self, request: web.Request) -> web.Response:
        """200 whatever the state; a pipeline not yet finished becomes ``canceled``."""
        if not self._authorised(request):
            return _message(401, "401 Unauthorized")
        project = self._project(request)
        if project is None:
            return _message(404, "404 Project Not Found")
        run = self._pipeline(project, request)
        if run is None:
            return _message(404, "404 Not found")
        run.data["cancels"] += 1
        if run.status() not in _FINISHED:
            run.force("canceled")
        return web.json_response(self._pipeline_json(run))

    async def get_user(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _message(401, "401 Unauthorized")
        return web.json_response({"id": 7, "username": "sandbox-bot", "name": "Sandbox Bot", "bot": True})

    async def get_version(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _message(401, "401 Unauthorized")
        return web.json_response({"version": "16.11.0-dataops", "revision": "sandbox"})

    # -- shapes ---------------------------------------------------------------------------------

    def _web_url(self, run: FakeRun) -> str:
        path = PROJECTS[run.data["project"]][0]
        return f"{self.sandbox.url}{self.prefix}/{path}/-/pipelines/{run.run_id}"

    def _pipeline_json(self, run: FakeRun, *, brief: bool = False) -> dict[str, Any]:
        status = run.status()
        data: dict[str, Any] = {
            "id": int(run.run_id),
            "iid": int(run.run_id) - 1000,
            "project_id": int(run.data["project"]),
            "sha": f"{int(run.run_id):040x}",
            "ref": run.data["ref"],
            "status": status,
            "source": run.data["source"],
            "created_at": _iso(run.data["created_at"]),
            "updated_at": _iso(self._updated(run)),
            "web_url": self._web_url(run),
        }
        if not brief:  # a list row has neither (as in GitLab)
            label = _LABELS.get(status, status.replace("_", " "))
            data["detailed_status"] = {"icon": f"status_{status}", "text": label, "label": label}
            ended = run.ended_wall(self.finished_words)
            data["finished_at"] = None if ended is None else _iso(ended)
        return data

    def _jobs(self, run: FakeRun) -> list[dict[str, Any]]:
        """The pipeline's jobs, their statuses derived from the pipeline's."""
        status = run.status()
        count = run.data["variables"].get("SANDBOX_TRANSFORM_JOBS", "1")
        transform = [
            "Build all Models" if i == 0 else f"Build models, group {i + 1}"
            for i in range(int(count) if count.isdigit() else 1)
        ]
        last = ("Approve deployment", "Deploy") if status == "manual" else ("Generate docs", "Documentation")
        layout = [("Initialise pipeline", "Pipeline Initialisation")]
        layout += [(name, "Data Transformation") for name in transform]
        layout.append(last)
        first, middle, final = _job_states(status)
        statuses = [first] + [middle] * len(transform) + [final]
        return [
            {
                "id": int(run.run_id) * 100 + index + 1,
                "name": name,
                "stage": stage,
                "status": job_status,
                "failure_reason": "script_failure" if job_status == "failed" else None,
                "web_url": f"{self.sandbox.url}{self.prefix}/{PROJECTS[run.data['project']][0]}"
                f"/-/jobs/{int(run.run_id) * 100 + index + 1}",
            }
            for index, ((name, stage), job_status) in enumerate(zip(layout, statuses, strict=True))
        ]

    def _paginated(self, request: web.Request, rows: Sequence[dict[str, Any]]) -> web.Response:
        query = request.query
        per_page = min(100, max(1, _int(query.get("per_page"), 20)))
        pages = max(1, math.ceil(len(rows) / per_page))
        page = max(1, _int(query.get("page"), 1))
        chunk = rows[(page - 1) * per_page : page * per_page]

        def url(number: int) -> str:
            return str(request.url.update_query(page=str(number), per_page=str(per_page)))

        links = [f'<{url(page + 1)}>; rel="next"'] if page < pages else []
        links += [f'<{url(page - 1)}>; rel="prev"'] if page > 1 else []
        links += [f'<{url(1)}>; rel="first"', f'<{url(pages)}>; rel="last"']
        headers = {
            "x-page": str(page),
            "x-per-page": str(per_page),
            "x-next-page": str(page + 1) if page < pages else "",
            "x-prev-page": str(page - 1) if page > 1 else "",
            "x-total": str(len(rows)),
            "x-total-pages": str(pages),
            "Link": ", ".join(links),
        }
        return web.json_response(list(chunk), headers=headers)


def _int(value: str | None, default: int) -> int:
    return int(value) if value is not None and value.isdigit() else default


def _job_states(status: str) -> tuple[str, str, str]:
    """(first job, transformation jobs, last job) for a pipeline status."""
    if status in _QUEUED:
        return "pending", "created", "created"
    return {
        "running": ("success", "running", "created"),
        "canceling": ("success", "canceling", "canceled"),
        "canceled": ("success", "canceled", "canceled"),
        "success": ("success", "success", "success"),
        "failed": ("success", "failed", "skipped"),
        "skipped": ("skipped", "skipped", "skipped"),
        "manual": ("success", "success", "manual"),
    }.get(status, (status, status, status))


def _trace(job: dict[str, Any]) -> str:
    """A job log shaped like a DataOps runner's: colour codes, section markers, carriage returns."""
    head = [
        "\x1b[0KRunning with dataops-runner 15.2.0 (sandbox)\x1b[0;m",
        "section_start:1767225600:prepare_script\r\x1b[0K\x1b[0K\x1b[36;1mPreparing environment\x1b[0;m",
        "Running on sandbox-runner-1...",
        "section_end:1767225601:prepare_script\r\x1b[0K",
        f"section_start:1767225601:step_script\r\x1b[0K\x1b[36;1mExecuting {job['name']!r}\x1b[0;m",
    ]
    if job["status"] != "failed":
        return "\n".join([*head, "Done.", "\x1b[32;1mJob succeeded\x1b[0;m", ""])
    models = [f"{i:02d} of 30 OK created sql view model stg_{i:02d} [OK in 0.4s]" for i in range(30)]
    tail = [
        "Downloading packages 10%\rDownloading packages 100%",
        *models,
        "\x1b[31;1mDatabase Error in model orders (models/marts/orders.sql)\x1b[0m",
        "  002003 (42S02): SQL compilation error: Object 'RAW.ORDERS' does not exist or not authorized.",
        "section_end:1767225660:step_script\r\x1b[0K",
        "\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m",
        "",
    ]
    return "\n".join([*head, *tail])
