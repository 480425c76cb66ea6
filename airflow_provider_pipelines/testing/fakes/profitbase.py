"""A fake Profitbase InVision data flow API, served under a path prefix (``/invision``).

It checks the ``x-api-key`` header (the real API also takes ``api_key=`` in the
query; the fake does too, so tests can prove the provider never sends it there),
supports ``await=true`` by holding the reply until the run ends, and answers
errors as InVision documents them: a bare ``500``. A missing or wrong key gets
``401`` here (InVision's answer for that is not documented).

Plans are keyed by data flow id. A plan option ``hold_limit`` (seconds) makes an
``await=true`` reply come back early, with the run still going.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from airflow_provider_pipelines.testing.sandbox import FakeVendor, Handler


class FakeProfitbase(FakeVendor):
    name = "profitbase"
    token = "sandbox-profitbase-api-key"
    running_word = "Running"
    success_word = "Succeeded"
    #: data flows that exist; any other id answers 500, as InVision does
    data_flows = (
        "2b081248-4963-43b3-ba06-5b7403d58b4d",
        "6f1c2d3e-0000-4000-8000-000000000001",
        "6f1c2d3e-0000-4000-8000-000000000002",
        "not-a-guid-flow",
    )

    def routes(self) -> list[tuple[str, str, Handler]]:
        base = "/invision/api/pub/v1/dataflows/{flow}"
        return [
            ("POST", base + "/start", self.start),
            ("GET", base + "/runs/{run_id}/status", self.status),
        ]

    def _denied(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-api-key") or request.query.get("api_key")
        return None if key == self.token else web.Response(status=401)

    async def start(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        flow = request.match_info["flow"]
        if flow not in self.data_flows:
            return web.Response(status=500)
        run = self.new_run(flow, flow=flow)
        if request.query.get("await") == "true":
            limit = float(run.plan.options.get("hold_limit", 3600))
            await asyncio.sleep(min(run.remaining(), limit))
        return web.json_response({"runId": run.run_id, "status": run.status()})

    async def status(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        run = self.runs.get(request.match_info["run_id"])
        if run is None or run.data.get("flow") != request.match_info["flow"]:
            return web.Response(status=500)
        return web.json_response({"runId": run.run_id, "status": run.status()})
