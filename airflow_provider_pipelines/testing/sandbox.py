"""The sandbox: fakes of the vendor APIs over real HTTP on 127.0.0.1, with an admin plane.

Each fake vendor (``testing/fakes/``) has the same parts: a URL table, request
handlers, an in-memory model of its runs, and errors in the vendor's own format.
The sandbox adds what every fake shares:

* **run plans**: how a run started under a key (a Dataform schedule name, say)
  progresses: a list of ``(status word, seconds)`` phases, then a final word;
* **faults**: injected before the handler (an error status, an HTML page, a
  delay, a dropped connection) or after it (``accept_then_drop``: the vendor
  acts, then the connection breaks, as in an ambiguous start; ``accept_then_html``:
  the vendor acts, then a proxy's HTML page is all the client gets);
* **a request log**: method, path with query, status, time: what a proxy would log;
* **a rate-limit mode** (:mod:`.rate_limit`): N requests per window per token, with
  GitLab's ``429`` + ``Retry-After`` and ``RateLimit-*`` headers.

The admin plane lives under ``/_sandbox/`` (see :class:`SandboxClient`). The
server binds to 127.0.0.1 only, and stops by itself after ``lifetime`` seconds
or ``max_requests`` requests.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from airflow_provider_pipelines.testing.rate_limit import RateLimit, token_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ADMIN = "/_sandbox"
#: request keys: the rate-limit headers an answer carries; the seconds after which a stream is cut
RATE_LIMIT_HEADERS: Any = "pipelines_rate_limit_headers"
CUT_AFTER: Any = "pipelines_cut_after"
if hasattr(web, "RequestKey"):  # aiohttp 3.12+ would warn about plain strings
    RATE_LIMIT_HEADERS = web.RequestKey(RATE_LIMIT_HEADERS, dict)
    CUT_AFTER = web.RequestKey(CUT_AFTER, float)


@dataclass
class Plan:
    """How a run progresses: each phase is ``(status word, seconds)``; then ``final`` for good."""

    phases: list[tuple[str, float]]
    final: str
    #: vendor-specific knobs (e.g. Profitbase's ``hold_limit``)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            phases=[(str(w), float(s)) for w, s in data.get("phases", [])],
            final=str(data["final"]),
            options=dict(data.get("options") or {}),
        )


@dataclass
class FakeRun:
    """One run inside a fake vendor."""

    vendor: str
    run_id: str
    key: str
    plan: Plan
    created: float = field(default_factory=time.monotonic)
    data: dict[str, Any] = field(default_factory=dict)
    forced: str | None = None  # a status set by cancel, or by the admin plane's finish
    #: wall-clock times (what the vendor shows): when the run was created, when it was forced
    created_wall: float = field(default_factory=time.time)
    forced_wall: float | None = None

    def status(self, now: float | None = None) -> str:
        if self.forced is not None:
            return self.forced
        elapsed = (time.monotonic() if now is None else now) - self.created
        for word, seconds in self.plan.phases:
            if elapsed < seconds:
                return word
            elapsed -= seconds
        return self.plan.final

    @property
    def finished(self) -> bool:
        return self.forced is not None or self.status() == self.plan.final

    def remaining(self) -> float:
        return max(0.0, sum(s for _, s in self.plan.phases) - (time.monotonic() - self.created))

    def force(self, word: str) -> None:
        """Set the run's status for good, now (a cancel, a state set through the API, a finish)."""
        self.forced = word
        self.forced_wall = time.time()

    def restart_plan(self) -> None:
        """Start the run's plan again from now (a run that waited, e.g. on a paused DAG)."""
        self.created = time.monotonic()
        self.created_wall = time.time()

    def changed_wall(self) -> float:
        """When the run's status last changed (wall clock): its start, a phase's end, or when forced."""
        if self.forced is not None and self.forced_wall is not None:
            return self.forced_wall
        elapsed = time.monotonic() - self.created
        passed = 0.0
        for _, seconds in self.plan.phases:
            if elapsed < passed + seconds:
                break
            passed += seconds
        return self.created_wall + passed

    def age_out(self) -> None:
        """Leave the vendor's change lists until the status changes (see :meth:`SandboxClient.age_out`)."""
        self.data["aged_out"] = self.status()

    def listable(self) -> bool:
        """False while an aged-out run keeps the status it had then."""
        aged = self.data.get("aged_out")
        if aged is None:
            return True
        if aged == self.status():
            return False
        del self.data["aged_out"]
        return True

    def ended_wall(self, finished_words: frozenset[str]) -> float | None:
        """When the run reached one of ``finished_words`` (wall clock), or None while it has not."""
        if self.forced is not None:
            return self.forced_wall if self.forced in finished_words else None
        if self.plan.final in finished_words and self.status() == self.plan.final:
            return self.created_wall + sum(seconds for _, seconds in self.plan.phases)
        return None


@dataclass
class Fault:
    """A fault applied to the next ``times`` matching requests (``times=-1``: all of them)."""

    kind: str  # status | html | delay | drop | accept_then_drop | accept_then_html | cut
    path: str = ""  # a regular expression searched in the request path
    query: str = ""  # a regular expression searched in the query string (``page=2``)
    method: str | None = None
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    seconds: float = 0.0
    times: int = 1

    #: ``cut``: a streamed answer (a held wait) is cut ``seconds`` after it began; any other answer
    #: is dropped after the handler acted, as ``accept_then_drop``
    KINDS = ("status", "html", "delay", "drop", "accept_then_drop", "accept_then_html", "cut")

    def matches(self, request: web.Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        if self.query and re.search(self.query, request.query_string) is None:
            return False
        return re.search(self.path, request.path) is not None


class FakeVendor:
    """Base of one fake vendor API, mounted under ``/<name>`` in the sandbox."""

    name: str
    token: str
    #: status words of a run plan built from (duration, outcome)
    running_word: str
    success_word: str
    #: the status words of a run that has ended (what the admin plane's finish may set)
    finished_words: frozenset[str] = frozenset()

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.runs: dict[str, FakeRun] = {}
        self._ids = itertools.count(1001)

    @property
    def prefix(self) -> str:
        return f"/{self.name}"

    def routes(self) -> list[tuple[str, str, Handler]]:
        """``(method, path under the prefix, handler)`` rows."""
        raise NotImplementedError

    def admin_routes(self) -> list[tuple[str, str, Handler]]:
        """Vendor-specific admin actions, served under ``/_sandbox/<name>/`` (e.g. expire tokens)."""
        return []

    def plan_for(self, key: str) -> Plan:
        plan = self.sandbox.plans.get((self.name, key)) or self.sandbox.plans.get((self.name, "*"))
        return plan or Plan(phases=[(self.running_word, 2.0)], final=self.success_word)

    def new_run(self, key: str, **data: Any) -> FakeRun:
        run = FakeRun(self.name, str(next(self._ids)), key, self.plan_for(key), data=data)
        self.runs[run.run_id] = run
        return run

    def reset(self) -> None:
        self.runs.clear()

    def finish(self, run_id: str, outcome: str | None) -> FakeRun:
        """End a run now with ``outcome`` (default: success), whatever its plan said.

        ``KeyError`` for an unknown run, ``ValueError`` for a word that does not end a run here.
        """
        run = self.runs[run_id]
        word = outcome or self.success_word
        if word not in self.finished_words:
            raise ValueError(f"outcome must be one of {sorted(self.finished_words)}, got {word!r}")
        run.force(word)
        return run

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"run_id": r.run_id, "key": r.key, "status": r.status(), "data": r.data}
            for r in self.runs.values()
        ]


class PortInUseError(RuntimeError):
    """The sandbox's port is taken by another process."""


class Sandbox:
    """Fake vendor APIs on ``127.0.0.1:<port>`` in a background thread.

    ``with Sandbox() as sandbox:`` starts it on a free port; ``sandbox.url`` is
    its base URL and ``sandbox.client`` talks to its admin plane.

    :param port: 0 picks a free port.
    :param lifetime: seconds after which the server stops by itself.
    :param max_requests: requests after which the server stops by itself.
    """

    def __init__(self, port: int = 0, lifetime: float = 3600.0, max_requests: int = 2_000_000) -> None:
        from airflow_provider_pipelines.testing.fakes import FAKES

        self.host = "127.0.0.1"
        self.port = port
        self.lifetime = lifetime
        self.max_requests = max_requests
        self.plans: dict[tuple[str, str], Plan] = {}
        self.faults: list[Fault] = []
        self.rate_limit: RateLimit | None = None
        self.log: list[dict[str, Any]] = []
        self.fakes: dict[str, FakeVendor] = {cls.name: cls(self) for cls in FAKES}
        self.served = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite
        self._outages: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client(self) -> SandboxClient:
        return SandboxClient(self.url)

    def connection_env(self, extras: dict[str, object] | None = None) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` variables for every vendor's default connection, pointing here."""
        from airflow_provider_pipelines.testing.connections import connection_env

        return connection_env(self.url, extras=extras)

    def vendor_url(self, vendor: str) -> str:
        """The base URL to put in a connection's host for one vendor."""
        return self.url + self.fakes[vendor].prefix

    def start(self) -> Sandbox:
        """Start serving; :class:`PortInUseError` when the port is taken."""
        self._thread = threading.Thread(target=self._serve, name="pipelines-sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            error = self._error
            if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {self.port} on {self.host} is already in use: choose another (--port), "
                    "or 0 for a free one"
                ) from None
            raise RuntimeError(f"sandbox did not start: {error!r}")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed() and not self._stopped.is_set():
            loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def wait(self) -> None:
        """Block until the server stops (lifetime, request limit, or :meth:`stop`)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024 * 1024)
        app.on_response_prepare.append(_announce_rate_limit)
        for fake in self.fakes.values():
            for method, path, handler in fake.routes():
                app.router.add_route(method, fake.prefix + path, handler)
            for method, path, handler in fake.admin_routes():
                app.router.add_route(method, ADMIN + fake.prefix + path, handler)
        self._admin_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        self._site = site
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(self.lifetime, stop.set)
        self._stop_event = stop
        while not stop.is_set() and not self._stopped.is_set():
            await asyncio.sleep(0.1)
        await self._runner.cleanup()

    # -- shared behaviour: request log, faults, limits ----------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.served += 1
        if self.served >= self.max_requests:
            self._stop_event.set()
        if request.path.startswith(ADMIN):
            return await handler(request)
        entry: dict[str, Any] = {
            "t": time.time(),
            "method": request.method,
            "path": request.path_qs,
            "vendor": request.path.split("/")[1],
            "status": None,
            "fault": None,
            # the client's address:port tells one kept-alive connection from a new one
            "peer": _peer(request),
        }
        self.log.append(entry)
        if (refused := self._over_rate_limit(request, entry)) is not None:
            return refused
        fault = self._take_fault(request)
        if fault is not None and fault.kind == "cut":
            request[CUT_AFTER] = fault.seconds  # a streaming handler cuts its answer; see below
        if fault is not None:
            entry["fault"] = fault.kind
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "drop":
                return self._drop(request, entry)
            elif fault.kind in ("status", "html"):
                entry["status"] = fault.status
                return self._fault_response(fault)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            entry["status"] = exc.status
            raise
        entry["status"] = response.status
        if fault is not None and fault.kind == "cut" and request.get(CUT_AFTER) is not None:
            return self._drop(request, entry)  # not a streamed answer: dropped once the handler acted
        if fault is not None and fault.kind == "accept_then_drop":
            return self._drop(request, entry)
        if fault is not None and fault.kind == "accept_then_html":
            # the vendor acted, but what reaches the client is a proxy's page
            entry["status"] = fault.status
            return self._fault_response(replace(fault, kind="html"))
        return response

    def _over_rate_limit(self, request: web.Request, entry: dict[str, Any]) -> web.Response | None:
        """Count the request in the rate-limit mode; a 429 when it is over the limit."""
        limiter = self.rate_limit
        if limiter is None or not limiter.applies_to(entry["vendor"]):
            return None
        allowed, headers = limiter.count(token_of(request.headers, entry["peer"]), time.time())
        if allowed:
            if limiter.announce:
                request[RATE_LIMIT_HEADERS] = headers
            return None
        entry["status"], entry["fault"] = 429, "rate_limit"
        return web.Response(status=429, text="Retry later\n", headers=headers)

    def _take_fault(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.times != 0 and fault.matches(request):
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    @staticmethod
    def _drop(request: web.Request, entry: dict[str, Any]) -> web.StreamResponse:
        entry["status"] = "dropped"
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError()

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        if fault.kind == "html":
            body = fault.body or (
                f"<html><head><title>{fault.status} Bad Gateway</title></head><body><center><h1>"
                f"{fault.status} Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
            )
            return web.Response(
                status=fault.status, text=body, content_type="text/html", headers=fault.headers
            )
        body = fault.body if fault.body is not None else '{"error": "injected fault"}'
        return web.Response(
            status=fault.status, text=body, content_type="application/json", headers=fault.headers
        )

    # -- the admin plane ----------------------------------------------------------------------

    def _admin_routes(self, app: web.Application) -> None:
        app.router.add_post(ADMIN + "/reset", self._admin_reset)
        app.router.add_post(ADMIN + "/plans", self._admin_plan)
        app.router.add_post(ADMIN + "/faults", self._admin_fault)
        app.router.add_get(ADMIN + "/requests", self._admin_requests)
        app.router.add_get(ADMIN + "/runs/{vendor}", self._admin_runs)
        app.router.add_post(ADMIN + "/runs/{vendor}/{run_id}/finish", self._admin_finish)
        app.router.add_post(ADMIN + "/runs/{vendor}/{run_id}/age_out", self._admin_age_out)
        app.router.add_get(ADMIN + "/health", self._admin_health)
        app.router.add_post(ADMIN + "/outage", self._admin_outage)
        app.router.add_post(ADMIN + "/rate_limit", self._admin_rate_limit)

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.plans.clear()
        self.faults.clear()
        self.rate_limit = None
        self.log.clear()
        for fake in self.fakes.values():
            fake.reset()
        return web.json_response({"ok": True})

    async def _admin_plan(self, request: web.Request) -> web.Response:
        data = await request.json()
        vendor = data.get("vendor")
        if vendor not in self.fakes:
            return web.json_response({"error": f"unknown vendor {vendor!r}"}, status=400)
        fake = self.fakes[vendor]
        if "final" in data:
            plan = Plan.from_json(data)
        else:
            plan = Plan(
                phases=[(fake.running_word, float(data.get("duration", 2.0)))],
                final=str(data.get("outcome", fake.success_word)),
                options=dict(data.get("options") or {}),
            )
        self.plans[(vendor, str(data.get("key", "*")))] = plan
        return web.json_response({"ok": True})

    async def _admin_fault(self, request: web.Request) -> web.Response:
        data = await request.json()
        if data.get("kind") not in Fault.KINDS:
            return web.json_response({"error": f"kind must be one of {Fault.KINDS}"}, status=400)
        self.faults.append(Fault(**data))
        return web.json_response({"ok": True})

    async def _admin_rate_limit(self, request: web.Request) -> web.Response:
        data = await request.json()
        if data.get("limit") is None:
            self.rate_limit = None
            return web.json_response({"ok": True})
        try:
            self.rate_limit = RateLimit.from_json(data)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def _admin_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.log)

    async def _admin_runs(self, request: web.Request) -> web.Response:
        fake = self.fakes.get(request.match_info["vendor"])
        if fake is None:
            return web.json_response({"error": "unknown vendor"}, status=404)
        return web.json_response(fake.summary())

    async def _admin_finish(self, request: web.Request) -> web.Response:
        fake = self.fakes.get(request.match_info["vendor"])
        if fake is None:
            return web.json_response({"error": "unknown vendor"}, status=404)
        data = await request.json()
        try:
            run = fake.finish(request.match_info["run_id"], data.get("outcome"))
        except KeyError:
            return web.json_response({"error": f"no run {request.match_info['run_id']!r}"}, status=404)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"run_id": run.run_id, "status": run.forced, "ended": run.forced_wall})

    async def _admin_age_out(self, request: web.Request) -> web.Response:
        fake = self.fakes.get(request.match_info["vendor"])
        wanted = request.match_info["run_id"]
        runs = fake.runs if fake is not None else {}
        # the fake's own id, or the id a client knows the run by (a remote Airflow's dag_run_id)
        run = runs.get(wanted) or next((r for r in runs.values() if r.data.get("dag_run_id") == wanted), None)
        if run is None:
            return web.json_response({"error": f"no run {request.match_info['run_id']!r}"}, status=404)
        run.age_out()
        return web.json_response({"run_id": run.run_id, "status": run.status()})

    async def _admin_outage(self, request: web.Request) -> web.Response:
        data = await request.json()
        seconds = data.get("seconds")
        if not isinstance(seconds, int | float) or not 0 < seconds <= 60:
            return web.json_response({"error": "seconds must be a number in (0, 60]"}, status=400)
        task = asyncio.get_running_loop().create_task(self._outage(float(seconds)))
        self._outages.add(task)
        task.add_done_callback(self._outages.discard)
        return web.json_response({"ok": True})

    async def _outage(self, seconds: float) -> None:
        """Refuse every connection for ``seconds``: the listening socket closes, and so does every
        open connection (kept-alive ones too), as when a vendor's host goes down and comes back."""
        await asyncio.sleep(0.05)  # the admin call's own answer goes out first
        assert self._runner is not None
        await self._site.stop()
        for handler in self._runner.server.connections if self._runner.server else []:
            if handler.transport is not None:
                handler.transport.abort()
        entry = {"t": time.time(), "method": "-", "path": "-", "vendor": "_outage", "status": None}
        self.log.append({**entry, "fault": "outage", "peer": None})
        await asyncio.sleep(seconds)
        self._site = web.TCPSite(self._runner, self.host, self.port, backlog=4096, reuse_address=True)
        await self._site.start()

    async def _admin_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "vendors": {n: f.prefix for n, f in self.fakes.items()}})


async def _announce_rate_limit(request: web.Request, response: web.StreamResponse) -> None:
    """Put the rate-limit mode's headers on an answer, streamed ones too, as it goes out."""
    headers = request.get(RATE_LIMIT_HEADERS)
    if headers:
        response.headers.update(headers)


def _peer(request: web.Request) -> str | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peer[0]}:{peer[1]}" if peer else None


class SandboxClient:
    """Drives a sandbox's admin plane over HTTP (stdlib only, so it works from any process)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        import json
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + ADMIN + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        """Forget all runs, plans, faults and logged requests."""
        self._call("POST", "/reset", {})

    def plan(
        self,
        vendor: str,
        key: str = "*",
        *,
        duration: float = 2.0,
        outcome: str | None = None,
        phases: list[tuple[str, float]] | None = None,
        final: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Say how runs started under ``key`` progress (``*``: every key without a plan of its own).

        Either ``duration`` and ``outcome`` (a final status word), or explicit ``phases``
        (``(word, seconds)`` pairs) and ``final``. ``options`` are vendor-specific knobs.
        """
        body: dict[str, Any] = {"vendor": vendor, "key": key, "options": options or {}}
        if final is not None:
            body.update(phases=[list(p) for p in phases or []], final=final)
        else:
            body.update(duration=duration)
            if outcome is not None:
                body["outcome"] = outcome
        self._call("POST", "/plans", body)

    def fault(
        self,
        kind: str,
        path: str = "",
        *,
        query: str = "",
        method: str | None = None,
        status: int = 500,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        seconds: float = 0.0,
        times: int = 1,
    ) -> None:
        """Inject a fault on the next ``times`` requests whose path matches the regex ``path`` (and
        whose query string matches the regex ``query``, when given)."""
        self._call(
            "POST",
            "/faults",
            {
                "kind": kind,
                "path": path,
                "query": query,
                "method": method,
                "status": status,
                "headers": headers or {},
                "body": body,
                "seconds": seconds,
                "times": times,
            },
        )

    def rate_limit(
        self,
        limit: int | None,
        *,
        window: float = 60.0,
        announce: bool = True,
        vendors: list[str] | None = None,
    ) -> None:
        """Enforce ``limit`` requests per ``window`` seconds per token, as GitLab does (None: off).

        Past the limit the fakes answer ``429`` with ``Retry-After`` and ``RateLimit-*`` headers;
        with ``announce`` every answer carries the ``RateLimit-*`` headers (GitLab's way), else
        only the 429s. ``vendors`` limits it to some fakes. :meth:`reset` switches it off.
        """
        body = {"limit": limit, "window": window, "announce": announce, "vendors": vendors}
        self._call("POST", "/rate_limit", body)

    def outage(self, seconds: float) -> None:
        """Refuse every connection for ``seconds`` (closing the open ones), starting right away.

        The admin plane is down too meanwhile: wait for it to pass before the next call."""
        self._call("POST", "/outage", {"seconds": seconds})

    def requests(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """The requests the fakes received (admin calls excluded)."""
        rows: list[dict[str, Any]] = self._call("GET", "/requests")
        return [r for r in rows if vendor is None or r["vendor"] == vendor]

    def vendor_admin(self, vendor: str, action: str, body: Any = None) -> Any:
        """Call one of a fake vendor's own admin actions (``POST /_sandbox/<vendor>/<action>``)."""
        return self._call("POST", f"/{vendor}/{action}", body if body is not None else {})

    def finish(self, vendor: str, run_id: str, outcome: str | None = None) -> float:
        """End a run now, whatever its plan said, with ``outcome`` (a status word of the vendor's that
        ends a run; default its success word). Returns when it ended (unix time, the sandbox's clock).

        Plan runs to last long (``plan(vendor, key, duration=3600)``) and finish them on demand, to
        make a run end exactly when a test (or an event-driven DAG you try out) wants it to.
        """
        ended: float = self._call("POST", f"/runs/{vendor}/{run_id}/finish", {"outcome": outcome})["ended"]
        return ended

    def age_out(self, vendor: str, run_id: str) -> None:
        """Make a run (its id, or a remote Airflow run's ``dag_run_id``) drop out of the fake's lists of
        changed runs until its status changes, as a run
        that has not changed for longer than a reader's window (``updated_after`` / ``updated_at_gte``)
        drops out of a real one's. Reads of the run itself still answer."""
        self._call("POST", f"/runs/{vendor}/{run_id}/age_out", {})

    def runs(self, vendor: str) -> list[dict[str, Any]]:
        """The runs a fake vendor holds: id, key, status, data."""
        rows: list[dict[str, Any]] = self._call("GET", f"/runs/{vendor}")
        return rows
