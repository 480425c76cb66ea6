"""A loopback HTTP proxy in front of the real remote Airflow: it counts requests, and can cut or refuse
the held waits (``…/dagRuns/{id}/wait``) that pass through it, as a load balancer or an Airflow 3.0
would. Everything else is passed on as it is, streamed.

``with AirflowProxy(upstream_url) as proxy:`` serves on ``proxy.url`` (127.0.0.1, a free port) from
a thread of its own, and stops by itself after ``lifetime`` seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import aiohttp
from aiohttp import web

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class AirflowProxy:
    """See the module docstring. ``cut_after``: seconds after which the next ``cuts`` held waits are
    cut; ``refuse_waits``: answer every held wait with Airflow 3.0's 404 instead of passing it on."""

    def __init__(self, upstream: str, lifetime: float = 600.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.lifetime = lifetime
        self.cut_after = 0.0
        self.cuts = 0
        self.refuse_waits = False
        #: [method, path with query, status or "cut"] of every request passed on or answered
        self.seen: list[list[Any]] = []
        self.port = 0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="airflow-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> AirflowProxy:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def requests_to(self, fragment: str) -> list[list[Any]]:
        return [row for row in self.seen if fragment in row[1]]

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with aiohttp.ClientSession(auto_decompress=False) as self._client:
            self._ready.set()
            ends = time.monotonic() + self.lifetime
            while not self._stop.is_set() and time.monotonic() < ends:
                await asyncio.sleep(0.1)
            await runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        is_wait = request.path.endswith("/wait")
        row: list[Any] = [request.method, request.path_qs, None]
        self.seen.append(row)
        if is_wait and self.refuse_waits:
            row[2] = 404
            return web.json_response({"detail": "Not Found"}, status=404)
        cut_at = None
        if is_wait and self.cuts > 0:
            self.cuts -= 1
            cut_at = time.monotonic() + self.cut_after
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._client.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=await request.read()
        ) as upstream:
            row[2] = upstream.status
            response = web.StreamResponse(status=upstream.status)
            passed = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            response.headers.update(passed)
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
                if cut_at is not None and time.monotonic() >= cut_at:
                    row[2] = "cut"
                    assert request.transport is not None
                    request.transport.abort()
                    return response
            await response.write_eof()
            return response
