"""The sandbox plus a dbt-Cloud-shaped endpoint, in its own process: the server side of the benches.

Bench-only (not part of the package): the fake dbt Cloud API lets the official dbt
Cloud provider's trigger poll over the same loopback, through the same server and
request log as our triggers. Admin additions under ``/_sandbox/bench/``:

* ``POST /_sandbox/bench/clear-log``: forget logged requests (runs and plans stay);
* ``POST /_sandbox/bench/backdate``: make runs look begun earlier (``{vendor: {run_id: unix time}}``);
* ``GET /_sandbox/bench/window?since=T&until=T``: status requests in a time window and the
  connections first seen in it (the client's address:port tells one connection from another),
  every vendor request and the 429s in it, by vendor.

``--projects K`` adds K DataOps.live projects, ids ``5000`` to ``5000+K-1`` (``bench/coalesced.py``
spreads its pipelines over them).

    python bench/bench_server.py --lifetime 600     # prints "listening on http://127.0.0.1:PORT"

It binds 127.0.0.1 only and stops by itself after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from airflow_provider_pipelines.testing.sandbox import ADMIN, FakeVendor, Handler, Sandbox

#: dbt Cloud run status codes
DBT_STATUS = {"queued": 1, "starting": 2, "running": 3, "success": 10, "error": 20, "cancelled": 30}


class FakeDbtCloud(FakeVendor):
    """``GET /api/v2/accounts/{account}/runs/{run}/`` as dbt Cloud answers it (``Token`` auth)."""

    name = "dbt_cloud"
    token = "sandbox-dbt-cloud-token"
    running_word = "running"
    success_word = "success"
    finished_words = frozenset({"success", "error", "cancelled"})
    account = "70"

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self._ids = itertools.count(9001)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/api/v2/accounts/{account}/jobs/{job}/run/", self.trigger),
            ("GET", "/api/v2/accounts/{account}/runs/{run_id}/", self.get_run),
        ]

    def _denied(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Token {self.token}":
            return web.json_response(
                {"status": {"code": 401, "is_success": False, "user_message": "Invalid token."}}, status=401
            )
        return None

    def _run_json(self, run: Any) -> dict[str, Any]:
        word = run.status()
        return {
            "status": {"code": 200, "is_success": True, "user_message": "Success!", "developer_message": ""},
            "data": {
                "id": int(run.run_id),
                "account_id": int(self.account),
                "job_definition_id": int(run.key),
                "status": DBT_STATUS[word],
                "status_humanized": word.capitalize(),
                "in_progress": word in ("queued", "starting", "running"),
                "is_complete": word in ("success", "error", "cancelled"),
                "href": f"{self.sandbox.url}{self.prefix}/deploy/{self.account}/runs/{run.run_id}",
            },
        }

    async def trigger(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        run = self.new_run(request.match_info["job"])
        return web.json_response(self._run_json(run))

    async def get_run(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        run = self.runs.get(request.match_info["run_id"])
        if run is None:
            return web.json_response({"status": {"code": 404, "is_success": False}}, status=404)
        return web.json_response(self._run_json(run))


class BenchSandbox(Sandbox):
    """The package's sandbox with the dbt Cloud fake mounted and the bench's admin routes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fakes[FakeDbtCloud.name] = FakeDbtCloud(self)

    def _admin_routes(self, app: web.Application) -> None:
        super()._admin_routes(app)
        app.router.add_post(ADMIN + "/bench/clear-log", self._clear_log)
        app.router.add_get(ADMIN + "/bench/window", self._window)
        app.router.add_post(ADMIN + "/bench/backdate", self._backdate)

    async def _backdate(self, request: web.Request) -> web.Response:
        """Make runs look begun at a given time (body: ``{vendor: {run_id: unix time}}``), so that a run
        the bench finds in the middle of its life has not just changed in the vendor's lists, and a
        run it waits on later begins then."""
        body = await request.json()
        moved = 0
        for vendor, began in body.items():
            runs = self.fakes[vendor].runs
            for run_id, when in began.items():
                run = runs[run_id]
                shift = run.created_wall - float(when)
                run.created -= shift
                run.created_wall -= shift
                if isinstance(run.data.get("created_at"), float):  # DataOps.live
                    run.data["created_at"] -= shift
                if isinstance(run.data.get("queued_at"), str):  # remote Airflow
                    queued = datetime.fromisoformat(run.data["queued_at"]) - timedelta(seconds=shift)
                    run.data["queued_at"] = queued.isoformat()
                moved += 1
        return web.json_response({"moved": moved})

    async def _clear_log(self, request: web.Request) -> web.Response:
        self.log.clear()
        return web.json_response({"ok": True})

    async def _window(self, request: web.Request) -> web.Response:
        since, until = float(request.query["since"]), float(request.query["until"])
        before: set[str | None] = set()
        inside: set[str | None] = set()
        reads = tokens = 0
        by_vendor: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        refused: dict[str, int] = {}
        for entry in self.log:
            if entry["t"] < since:
                before.add(entry["peer"])
            elif entry["t"] <= until:
                inside.add(entry["peer"])
                by_vendor[entry["vendor"]] = by_vendor.get(entry["vendor"], 0) + 1
                kind = request_kind(entry["method"], entry["path"])
                by_kind[kind] = by_kind.get(kind, 0) + 1
                if entry["status"] == 429:
                    refused[entry["vendor"]] = refused.get(entry["vendor"], 0) + 1
                if entry["method"] == "GET":
                    reads += 1
                elif entry["path"].endswith("/auth/token"):
                    tokens += 1
        return web.json_response(
            {
                "reads": reads,
                "token_fetches": tokens,
                "new_connections": len(inside - before),
                "requests": by_vendor,
                "requests_by_kind": by_kind,
                "status_429": refused,
            }
        )


def request_kind(method: str, path: str) -> str:
    """``list`` (a poller's list of changed runs), ``read`` (one run's status), or ``other``."""
    if "updated_after=" in path or "/dags/~/dagRuns" in path:
        return "list"
    if method == "GET" and ("/pipelines/" in path or "/dagRuns/" in path or "/runs/" in path):
        return "read"
    return "other"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifetime", type=float, default=600.0, help="stop after this many seconds")
    parser.add_argument("--projects", type=int, default=0, help="extra DataOps.live projects (5000, ...)")
    args = parser.parse_args(argv)
    from airflow_provider_pipelines.testing.fakes import dataops

    for i in range(args.projects):
        dataops.PROJECTS[str(5000 + i)] = (f"acme/bench-{i}", False)
    sandbox = BenchSandbox(lifetime=args.lifetime).start()
    print(f"listening on {sandbox.url}", flush=True)
    sandbox.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
