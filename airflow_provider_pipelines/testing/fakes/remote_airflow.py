"""A fake remote Airflow speaking three API generations, each under its own sub-prefix.

==================================  ==========================================================
host (under the sandbox's URL)      speaks
==================================  ==========================================================
``/remote_airflow``                 Airflow 3: ``/api/v2`` and ``POST /auth/token`` (tokens
                                    expire: see the ``expire_tokens`` admin action)
``/remote_airflow/v1gen``           Airflow 2: ``/api/v1`` with basic auth
``/remote_airflow/expgen``          Airflow 1.10 / Astronomer Software: the experimental API
                                    with ``Authorization: <API key>``
==================================  ==========================================================

Airflow 3 (``/api/v2``) also serves the held wait of Airflow 3.1+, ``GET …/dagRuns/{id}/wait``
(NDJSON); the Airflow 2 generation has none (404), as a real one.

Credentials: the user :attr:`FakeRemoteAirflow.login` / :attr:`~FakeRemoteAirflow.password`
(a token from ``/auth/token`` on v2, basic auth on v1), the pre-issued Bearer token
:attr:`~FakeRemoteAirflow.token` (an Astro Deployment API token: v2 and v1), and the API key
:attr:`~FakeRemoteAirflow.api_key` (experimental). Refusals are shaped as each generation's.

DAGs: ``etl`` and ``report`` (active), ``paused_etl`` (paused: its runs stay queued until it
is unpaused); any other id is unknown (404). Runs progress by the sandbox plan of their DAG
id. Task instances: ``extract``, ``transform``, ``load``; in a failed run ``transform``
failed on its second try. Rules kept as a real Airflow keeps them: run ids must match
``^[A-Za-z0-9_.~:+-]+$``; a run id or a logical date already taken is a 409 (400 on the
experimental API, which cuts a default execution date to the second); v2 refuses unknown
body keys and needs the ``logical_date`` key.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from aiohttp import web

from airflow_provider_pipelines.isotime import parse_iso
from airflow_provider_pipelines.testing.sandbox import CUT_AFTER, FakeRun, FakeVendor, Handler, Plan

RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]+$")
PREFIXES = {"v2": "", "v1": "/v1gen", "experimental": "/expgen"}
TASKS = ("extract", "transform", "load")
V2_TRIGGER_KEYS = {
    "dag_run_id",
    "data_interval_start",
    "data_interval_end",
    "logical_date",
    "run_after",
    "conf",
    "note",
    "partition_key",
}
V1_TRIGGER_KEYS = {"dag_run_id", "logical_date", "execution_date", "conf", "note"}
EXPERIMENTAL_TRIGGER_KEYS = {"run_id", "conf", "execution_date", "replace_microseconds"}

GenHandler = Callable[[str, web.Request], Awaitable[web.StreamResponse]]


def _cut_time(request: web.Request) -> float | None:
    """When (monotonic) a ``cut`` fault wants this streamed answer cut; None: never."""
    seconds = request.get(CUT_AFTER)
    return None if seconds is None else time.monotonic() + float(seconds)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _wall(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _ended_within(
    ended: float | None, gte: datetime | None, lte: datetime | None, *, open_runs_match_gte: bool
) -> bool:
    """Airflow's end_date range filter: a run that has not ended has no end date to compare, yet
    Airflow 3.3 (``/api/v2``) lets it pass a lower bound."""
    if gte is not None:
        if ended is None and not open_runs_match_gte:
            return False
        if ended is not None and ended < gte.timestamp():
            return False
    return lte is None or (ended is not None and ended <= lte.timestamp())


def _sort_value(field: str, run: FakeRun, ended: float | None) -> tuple[int, Any]:
    """The sort key of a row: a missing time sorts first (SQLite's order for NULL)."""
    if field == "end_date":
        return (0, 0.0) if ended is None else (1, ended)
    if field == "start_date":
        return (1, run.created_wall)
    if field == "dag_run_id":
        return (1, run.data["dag_run_id"])
    if field == "updated_at":
        return (1, run.changed_wall())
    return (1, int(run.run_id))


def _parse_when(value: Any) -> datetime | None:
    """An aware datetime from ISO text; None when absent; ValueError when not ISO or naive."""
    if value is None:
        return None
    when = parse_iso(str(value))
    if when.tzinfo is None:
        raise ValueError("Input should have timezone info")
    return when.astimezone(timezone.utc)


class FakeRemoteAirflow(FakeVendor):
    """The fake; see the module docstring for what it speaks and knows."""

    name = "remote_airflow"
    token = "sandbox-astro-deployment-token"
    login = "admin"
    password = "sandbox-airflow-password"
    api_key = "sandbox-astronomer-api-key"
    running_word = "running"
    success_word = "success"
    finished_words = frozenset({"success", "failed"})
    initial_dags = {"etl": False, "report": False, "paused_etl": True}
    token_lifetime = 3600.0

    def plan_for(self, key: str) -> Plan:
        # like a real Airflow, a run is queued for a moment before the scheduler starts it
        planned = self.sandbox.plans.get((self.name, key)) or self.sandbox.plans.get((self.name, "*"))
        return planned or Plan(phases=[("queued", 0.3), ("running", 2.0)], final="success")

    def __init__(self, sandbox: Any) -> None:
        super().__init__(sandbox)
        self.dags = dict(self.initial_dags)
        self.tokens: dict[str, float] = {}
        self._jti = itertools.count(1)

    def reset(self) -> None:
        super().reset()
        self.dags = dict(self.initial_dags)
        self.tokens.clear()

    # -- URL table ----------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        rows: list[tuple[str, str, Handler]] = [("POST", "/auth/token", self.create_token)]
        for gen in ("v2", "v1"):
            root = f"{PREFIXES[gen]}/api/{gen}"
            table: list[tuple[str, str, GenHandler, bool]] = [
                ("GET", "/version", self.version, True),  # public on Airflow 3.3 and 2
                ("GET", "/dags", self.list_dags, False),
                ("GET", "/dags/{dag_id}", self.get_dag, False),
                ("PATCH", "/dags/{dag_id}", self.patch_dag, False),
                ("POST", "/dags/{dag_id}/dagRuns", self.trigger, False),
                ("GET", "/dags/{dag_id}/dagRuns", self.list_runs, False),
                ("POST", "/dags/{dag_id}/dagRuns/list", self.list_runs_batch, False),
                ("GET", "/dags/{dag_id}/dagRuns/{run_id}", self.get_run, False),
                ("PATCH", "/dags/{dag_id}/dagRuns/{run_id}", self.patch_run, False),
                ("GET", "/dags/{dag_id}/dagRuns/{run_id}/taskInstances", self.task_instances, False),
                ("GET", "/pools", self.pools, False),
            ]
            if gen == "v2":  # Airflow 3.1 and later; experimental upstream
                table.append(("GET", "/dags/{dag_id}/dagRuns/{run_id}/wait", self.wait_run, False))
            rows += [(m, root + p, self._bind(gen, h, public)) for m, p, h, public in table]
        exp = f"{PREFIXES['experimental']}/api/experimental"
        exp_table: list[tuple[str, str, GenHandler]] = [
            ("GET", "/test", self.exp_test),
            ("POST", "/dags/{dag_id}/dag_runs", self.exp_trigger),
            ("GET", "/dags/{dag_id}/dag_runs", self.exp_list_runs),
            ("GET", "/dags/{dag_id}/dag_runs/{execution_date}", self.exp_get_run),
            ("GET", "/dags/{dag_id}/paused", self.exp_paused),
            ("GET", "/dags/{dag_id}/paused/{value}", self.exp_set_paused),
            ("GET", "/pools", self.pools),
        ]
        rows += [(m, exp + p, self._bind("experimental", h, False)) for m, p, h in exp_table]
        return rows

    def admin_routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", "/expire_tokens", self.expire_tokens)]

    def _bind(self, gen: str, handler: GenHandler, public: bool) -> Handler:
        async def bound(request: web.Request) -> web.StreamResponse:
            if not public and (denied := self._auth(request, gen)) is not None:
                return denied
            return await handler(gen, request)

        return bound

    # -- errors and auth, each generation's way -------------------------------------------------

    @staticmethod
    def error(gen: str, status: int, detail: Any) -> web.Response:
        if gen == "v2":
            body: dict[str, Any] = {"detail": detail}
        elif gen == "v1":  # RFC 7807
            title = HTTPStatus(status).phrase
            body = {
                "detail": detail,
                "status": status,
                "title": title,
                "type": "https://airflow.apache.org/docs/apache-airflow/2.11.0/stable-rest-api-ref.html"
                f"#section/Errors/{title.replace(' ', '')}",
            }
        else:
            body = {"error": detail}
        return web.json_response(body, status=status)

    def _auth(self, request: web.Request, gen: str) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if gen == "experimental":
            if header == self.api_key:
                return None
            return self.error(gen, 403 if header else 401, "Forbidden" if header else "Unauthorized")
        if header == f"Bearer {self.token}":
            return None
        if gen == "v1":
            basic = base64.b64encode(f"{self.login}:{self.password}".encode()).decode()
            if header == f"Basic {basic}":
                return None
            return self.error(gen, 401, "Invalid credentials" if header else "No credentials found")
        if not header.startswith("Bearer "):
            return self.error(gen, 401, "Not authenticated")
        expiry = self.tokens.get(header[len("Bearer ") :])
        if expiry is None:
            return self.error(gen, 403, "Invalid JWT token")
        if expiry < time.time():
            return self.error(gen, 401, "Token Expired")
        return None

    async def create_token(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return self.error("v2", 400, "body is not JSON")
        if not isinstance(body, dict) or not body.get("username") or not body.get("password"):
            return self.error("v2", 400, "username and password are required")
        if (body["username"], body["password"]) != (self.login, self.password):
            return self.error("v2", 401, "Invalid credentials")
        jti = next(self._jti)
        expiry = time.time() + self.token_lifetime
        parts = [
            {"alg": "HS512", "typ": "JWT"},
            {"sub": body["username"], "exp": int(expiry), "jti": jti},
        ]
        encoded = [base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=") for p in parts]
        token = ".".join([*encoded, f"sandbox-signature-{jti}"])
        self.tokens[token] = expiry
        return web.json_response({"access_token": token}, status=201)

    async def expire_tokens(self, request: web.Request) -> web.Response:
        for token in self.tokens:
            self.tokens[token] = 0.0
        return web.json_response({"expired": len(self.tokens)})

    # -- the model ------------------------------------------------------------------------------

    def state(self, run: FakeRun) -> str:
        return "queued" if run.data.get("held") and run.forced is None else run.status()

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"run_id": r.run_id, "key": r.key, "status": self.state(r), "data": r.data}
            for r in self.runs.values()
        ]

    def find(self, dag_id: str, run_id: str) -> FakeRun | None:
        return next(
            (r for r in self.runs.values() if r.key == dag_id and r.data["dag_run_id"] == run_id), None
        )

    def create(
        self, gen: str, dag_id: str, run_id: str, *, logical_date: datetime | None, conf: Any, body: Any
    ) -> FakeRun:
        return self.new_run(
            dag_id,
            dag_run_id=run_id,
            logical_date=_iso(logical_date),
            conf=conf if conf is not None else {},
            api=gen,
            request=body,
            held=self.dags[dag_id],
            queued_at=datetime.now(timezone.utc).isoformat(),
        )

    def ended(self, run: FakeRun) -> float | None:
        """When the run ended (wall clock), or None while it has not."""
        return None if self.state(run) not in self.finished_words else run.ended_wall(self.finished_words)

    def run_json(self, gen: str, run: FakeRun) -> dict[str, Any]:
        state = self.state(run)
        ended = self.ended(run)
        data = {
            "dag_run_id": run.data["dag_run_id"],
            "dag_id": run.key,
            "logical_date": run.data["logical_date"],
            "queued_at": run.data["queued_at"],
            "start_date": None if state == "queued" else _iso(_wall(run.created_wall)),
            "end_date": None if ended is None else _iso(_wall(ended)),
            "state": state,
            "conf": run.data["conf"],
            "run_type": "manual",
            "note": None,
        }
        if gen == "v1":
            data["execution_date"] = run.data["logical_date"]
        return data

    def _taken(self, dag_id: str, run_id: str, logical_date: datetime | None) -> str | None:
        """Why a new run would clash with an existing one, or None."""
        if self.find(dag_id, run_id) is not None:
            return "run_id"
        if logical_date is not None and any(
            r.key == dag_id and r.data["logical_date"] == _iso(logical_date) for r in self.runs.values()
        ):
            return "logical_date"
        return None

    def _unpause(self, dag_id: str) -> None:
        self.dags[dag_id] = False
        for run in self.runs.values():
            if run.key == dag_id and run.data.get("held"):
                run.data["held"] = False
                run.restart_plan()  # its plan starts now

    def _task_instances(self, run: FakeRun) -> list[dict[str, Any]]:
        state = self.state(run)
        rows: list[tuple[str, str | None, int]]
        if state == "success":
            rows = [(t, "success", 1) for t in TASKS]
        elif state == "failed" and run.forced:
            rows = [("extract", "success", 1), ("transform", "failed", 1), ("load", None, 0)]
        elif state == "failed":
            rows = [("extract", "success", 1), ("transform", "failed", 2), ("load", "upstream_failed", 0)]
        elif state == "running":
            rows = [("extract", "success", 1), ("transform", "running", 1), ("load", None, 0)]
        else:
            rows = [(t, None, 0) for t in TASKS]
        return [
            {
                "task_id": t,
                "dag_id": run.key,
                "dag_run_id": run.data["dag_run_id"],
                "map_index": -1,
                "state": s,
                "try_number": n,
            }
            for t, s, n in rows
        ]

    # -- /api/v2 and /api/v1 ------------------------------------------------------------------

    async def _body(self, gen: str, request: web.Request) -> tuple[Any, web.Response | None]:
        try:
            return json.loads(await request.read() or b"null"), None
        except ValueError:
            return None, self.error(gen, 422 if gen == "v2" else 400, "body is not JSON")

    async def version(self, gen: str, request: web.Request) -> web.Response:
        return web.json_response({"version": "3.3.2" if gen == "v2" else "2.11.0", "git_version": None})

    async def list_dags(self, gen: str, request: web.Request) -> web.Response:
        dags = [{"dag_id": d, "is_paused": p} for d, p in self.dags.items()]
        return web.json_response(
            {"dags": dags[: int(request.query.get("limit", 100))], "total_entries": len(dags)}
        )

    def _dag_or_404(self, gen: str, dag_id: str) -> web.Response | None:
        if dag_id not in self.dags:
            return self.error(gen, 404, f"Dag with dag_id: '{dag_id}' not found")
        return None

    async def get_dag(self, gen: str, request: web.Request) -> web.Response:
        dag_id = request.match_info["dag_id"]
        if (missing := self._dag_or_404(gen, dag_id)) is not None:
            return missing
        return web.json_response({"dag_id": dag_id, "is_paused": self.dags[dag_id], "is_stale": False})

    async def patch_dag(self, gen: str, request: web.Request) -> web.Response:
        dag_id = request.match_info["dag_id"]
        if (missing := self._dag_or_404(gen, dag_id)) is not None:
            return missing
        body, bad = await self._body(gen, request)
        if bad is not None:
            return bad
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("is_paused"), bool)
            or set(body) != {"is_paused"}
        ):
            return self.error(gen, 422 if gen == "v2" else 400, "body must be {'is_paused': true|false}")
        if request.query.get("update_mask", "is_paused") != "is_paused":
            return self.error(gen, 400, "Only `is_paused` field can be updated through the REST API")
        if body["is_paused"]:
            self.dags[dag_id] = True
        else:
            self._unpause(dag_id)
        return web.json_response({"dag_id": dag_id, "is_paused": self.dags[dag_id]})

    def _check_trigger_body(self, gen: str, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return self.error(gen, 422 if gen == "v2" else 400, "body must be a JSON object")
        if gen == "v2":
            problems = [
                {"type": "extra_forbidden", "loc": ["body", k], "msg": "Extra inputs are not permitted"}
                for k in body
                if k not in V2_TRIGGER_KEYS
            ]
            if "logical_date" not in body:
                problems.append({"type": "missing", "loc": ["body", "logical_date"], "msg": "Field required"})
            if problems:
                return self.error(gen, 422, problems)
        unknown = [k for k in body if k not in V1_TRIGGER_KEYS] if gen == "v1" else []
        if unknown:
            return self.error(gen, 400, repr({k: ["Unknown field."] for k in unknown}))
        if body.get("conf") is not None and not isinstance(body["conf"], dict):
            return self.error(gen, 422 if gen == "v2" else 400, "conf must be an object")
        return None

    async def trigger(self, gen: str, request: web.Request) -> web.Response:
        dag_id = request.match_info["dag_id"]
        body, bad = await self._body(gen, request)
        if (bad := bad or self._check_trigger_body(gen, body)) is not None:
            return bad
        try:
            logical_date = _parse_when(body.get("logical_date") or body.get("execution_date"))
        except ValueError as exc:
            return self.error(gen, 422 if gen == "v2" else 400, f"logical_date: {exc}")
        if (missing := self._dag_or_404(gen, dag_id)) is not None:
            return missing
        run_id = body.get("dag_run_id") or f"manual__{datetime.now(timezone.utc).isoformat()}"
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            return self.error(
                gen, 400, f"The run_id provided '{run_id}' does not match regex pattern '{RUN_ID.pattern}'"
            )
        clash = self._taken(dag_id, run_id, logical_date)
        if clash is not None:
            if gen == "v2":
                detail: Any = {
                    "reason": "Unique constraint violation",
                    "statement": "hidden",
                    "orig_error": "hidden",
                    "message": "Serious error when handling your request. Check logs for more details",
                }
            else:
                what = (
                    f"DAGRun ID: '{run_id}'" if clash == "run_id" else f"logical date: '{_iso(logical_date)}'"
                )
                detail = f"DAGRun with DAG ID: '{dag_id}' and {what} already exists"
            return self.error(gen, 409, detail)
        run = self.create(gen, dag_id, run_id, logical_date=logical_date, conf=body.get("conf"), body=body)
        return web.json_response(self.run_json(gen, run))

    def _run_or_404(self, gen: str, request: web.Request) -> FakeRun | web.Response:
        dag_id, run_id = request.match_info["dag_id"], request.match_info["run_id"]
        run = self.find(dag_id, run_id)
        if run is None:
            return self.error(
                gen, 404, f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found"
            )
        return run

    async def get_run(self, gen: str, request: web.Request) -> web.Response:
        run = self._run_or_404(gen, request)
        if isinstance(run, web.Response):
            return run
        return web.json_response(self.run_json(gen, run))

    async def wait_run(self, gen: str, request: web.Request) -> web.StreamResponse:
        """``GET …/dagRuns/{run_id}/wait?interval=<s>``: NDJSON, one ``{"state": …}`` line at once and
        then one every ``interval`` seconds, until the run has ended (Airflow 3.1+'s ``DagRunWaiter``:
        each line's JSON and its newline go out as two pieces). A ``cut`` fault breaks the stream."""
        try:
            interval = float(request.query["interval"])
        except (KeyError, ValueError):
            interval = -1.0
        if not interval > 0:
            problem = {"type": "missing", "loc": ["query", "interval"], "msg": "Field required"}
            return self.error(gen, 422, [problem])
        run = self._run_or_404(gen, request)
        if isinstance(run, web.Response):
            return run
        response = web.StreamResponse()
        response.content_type = "application/x-ndjson"
        await response.prepare(request)
        cut_at = _cut_time(request)
        try:
            while True:
                state = self.state(run)
                await response.write(json.dumps({"state": state}).encode())
                await response.write(b"\n")
                if state in ("success", "failed"):
                    break
                if cut_at is not None and time.monotonic() + interval >= cut_at:
                    await asyncio.sleep(max(0.0, cut_at - time.monotonic()))
                    request.pop(CUT_AFTER, None)  # the fault is done: the middleware need not drop
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                await asyncio.sleep(interval)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away (it cut the wait short)
        return response

    async def list_runs(self, gen: str, request: web.Request) -> web.Response:
        """``GET /dags/{dag_id}/dagRuns`` (``~``: every DAG): the filters and sort orders the event
        watchers and the coalesced poller use.

        ``end_date_gte`` / ``end_date_lte`` (on ``/api/v2`` a run that has not ended matches a lower
        bound, as Airflow 3.3's does), ``updated_at_gte`` / ``updated_at_lte`` (a run's
        ``updated_at`` here is when its state last changed; Airflow's scheduler also touches it
        meanwhile), ``state`` (repeated), ``order_by`` (``id``, ``end_date``, ``start_date``,
        ``updated_at``, ``dag_run_id``; ``-`` sorts descending; no end date sorts first, as SQLite
        does), ``limit`` (at most 100) and ``offset``.
        """
        dag_id = request.match_info["dag_id"]
        if dag_id != "~" and (missing := self._dag_or_404(gen, dag_id)) is not None:
            return missing
        query = request.query
        try:
            filters = {
                name: _parse_when(query.get(name))
                for name in ("end_date_gte", "end_date_lte", "updated_at_gte", "updated_at_lte")
            }
            limit = min(100, int(query.get("limit", "50" if gen == "v2" else "100")))
            offset = int(query.get("offset", "0"))
        except ValueError as exc:
            return self.error(gen, 422 if gen == "v2" else 400, f"bad query parameter: {exc}")
        dags = None if dag_id == "~" else {dag_id}
        order = query.get("order_by", "id")
        states = query.getall("state", [])
        return self._listed(gen, dags, states, filters, order=order, limit=limit, offset=offset)

    async def list_runs_batch(self, gen: str, request: web.Request) -> web.Response:
        """``POST /dags/~/dagRuns/list``: ``dag_ids``, ``states``, the date bounds, ``order_by``,
        ``page_offset`` and ``page_limit`` in the body. As Airflow 2.11's, the body's ``updated_at_*``
        bounds are accepted and not applied."""
        if request.match_info["dag_id"] != "~":
            return self.error(gen, 404 if gen == "v2" else 400, "the batch list takes only '~' as dag_id")
        body, bad = await self._body(gen, request)
        if bad is not None:
            return bad
        if not isinstance(body, dict):
            return self.error(gen, 400, "body must be an object")
        try:
            filters = {name: _parse_when(body.get(name)) for name in ("end_date_gte", "end_date_lte")}
            limit = min(100, int(body.get("page_limit", 100)))
            offset = int(body.get("page_offset", 0))
        except (TypeError, ValueError) as exc:
            return self.error(gen, 400, f"bad body field: {exc}")
        dags = set(body["dag_ids"]) if body.get("dag_ids") else None
        states = list(body.get("states") or [])
        order = str(body.get("order_by") or "id")
        return self._listed(gen, dags, states, filters, order=order, limit=limit, offset=offset)

    def _listed(
        self,
        gen: str,
        dags: set[str] | None,
        states: list[str],
        filters: dict[str, datetime | None],
        *,
        order: str,
        limit: int,
        offset: int,
    ) -> web.Response:
        field = order.lstrip("-")
        if field not in ("id", "end_date", "start_date", "updated_at", "dag_run_id"):
            return self.error(
                gen, 400, f"Ordering with '{field}' is disallowed or the attribute does not exist"
            )
        rows = []
        for run in self.runs.values():
            ended = self.ended(run)
            if (dags is not None and run.key not in dags) or (states and self.state(run) not in states):
                continue
            gte, lte = filters.get("end_date_gte"), filters.get("end_date_lte")
            if not _ended_within(ended, gte, lte, open_runs_match_gte=gen == "v2"):
                continue
            changed = run.changed_wall()
            after, before = filters.get("updated_at_gte"), filters.get("updated_at_lte")
            if (after is not None and changed < after.timestamp()) or (
                before is not None and changed > before.timestamp()
            ):
                continue
            if (after is not None or before is not None) and not run.listable():
                continue
            rows.append((run, ended))
        rows.sort(
            key=lambda row: (_sort_value(field, *row), int(row[0].run_id)), reverse=order.startswith("-")
        )
        chunk = [self.run_json(gen, run) for run, _ in rows[offset : offset + limit]]
        return web.json_response({"dag_runs": chunk, "total_entries": len(rows)})

    async def patch_run(self, gen: str, request: web.Request) -> web.Response:
        run = self._run_or_404(gen, request)
        if isinstance(run, web.Response):
            return run
        body, bad = await self._body(gen, request)
        if bad is not None:
            return bad
        allowed = {"state", "note"}
        if (
            not isinstance(body, dict)
            or set(body) - allowed
            or body.get("state") not in ("queued", "success", "failed")
        ):
            return self.error(
                gen, 422 if gen == "v2" else 400, "body must be {'state': queued|success|failed}"
            )
        run.force(body["state"])
        run.data["held"] = False
        run.data.setdefault("patches", []).append(body["state"])
        return web.json_response(self.run_json(gen, run))

    async def task_instances(self, gen: str, request: web.Request) -> web.Response:
        run = self._run_or_404(gen, request)
        if isinstance(run, web.Response):
            return run
        rows = self._task_instances(run)
        wanted = request.query.getall("state", [])
        if wanted:
            rows = [r for r in rows if r["state"] in wanted]
        return web.json_response({"task_instances": rows, "total_entries": len(rows)})

    async def pools(self, gen: str, request: web.Request) -> web.Response:
        if gen == "experimental":
            return web.json_response(
                [{"description": "Default pool", "id": 1, "pool": "default_pool", "slots": 128}]
            )
        pool = {"name": "default_pool", "slots": 128, "occupied_slots": 0, "description": "Default pool"}
        return web.json_response({"pools": [pool], "total_entries": 1})

    # -- the experimental API ------------------------------------------------------------------

    async def exp_test(self, gen: str, request: web.Request) -> web.Response:
        return web.json_response({"status": "OK"})

    async def exp_trigger(self, gen: str, request: web.Request) -> web.Response:
        dag_id = request.match_info["dag_id"]
        if dag_id not in self.dags:
            return self.error(gen, 404, f"Dag id {dag_id} not found")
        body, bad = await self._body(gen, request)
        if bad is not None:
            return bad
        body = body or {}
        unknown = [k for k in body if k not in EXPERIMENTAL_TRIGGER_KEYS] if isinstance(body, dict) else ["?"]
        if unknown:
            return self.error(gen, 400, f"unexpected keys: {unknown}")
        try:
            # like Airflow 1.10: the time now, cut to the second unless replace_microseconds is "false"
            now = datetime.now(timezone.utc)
            if str(body.get("replace_microseconds", "true")).lower() != "false":
                now = now.replace(microsecond=0)
            when = _parse_when(body.get("execution_date")) or now
        except ValueError as exc:
            return self.error(gen, 400, f"Given execution date could not be identified as a date: {exc}")
        run_id = body.get("run_id") or f"manual__{when.isoformat()}"
        clash = self._taken(dag_id, run_id, when)
        if clash == "run_id":
            return self.error(gen, 400, f"Run id {run_id} already exists for dag id {dag_id}")
        if clash:
            return self.error(gen, 400, f"Dag Run already exists for dag_id {dag_id} at {when.isoformat()}")
        run = self.create(gen, dag_id, run_id, logical_date=when, conf=body.get("conf"), body=body)
        created = f"<DagRun {dag_id} @ {when.isoformat()}: {run_id}, externally triggered: True>"
        return web.json_response(
            {
                "message": f"Created {created}",
                "execution_date": when.isoformat(),
                "run_id": run.data["dag_run_id"],
            }
        )

    def _exp_row(self, run: FakeRun) -> dict[str, Any]:
        return {
            "dag_id": run.key,
            "dag_run_url": f"/admin/airflow/graph?dag_id={run.key}&execution_date={run.data['logical_date']}",
            "execution_date": run.data["logical_date"],
            "id": int(run.run_id),
            "run_id": run.data["dag_run_id"],
            "start_date": None,
            "state": self.state(run),
        }

    async def exp_list_runs(self, gen: str, request: web.Request) -> web.Response:
        dag_id = request.match_info["dag_id"]
        if dag_id not in self.dags:
            return self.error(gen, 404, f"Dag id {dag_id} not found")
        rows = [self._exp_row(r) for r in self.runs.values() if r.key == dag_id]
        if "state" in request.query:
            rows = [r for r in rows if r["state"] == request.query["state"]]
        return web.json_response(rows)

    async def exp_get_run(self, gen: str, request: web.Request) -> web.Response:
        dag_id, text = request.match_info["dag_id"], request.match_info["execution_date"]
        try:
            when = _parse_when(text)
        except ValueError:
            return self.error(gen, 400, f"Given execution date, {text!r}, could not be identified as a date")
        for run in self.runs.values():
            if run.key == dag_id and run.data["logical_date"] == _iso(when):
                return web.json_response({"state": self.state(run)})
        return self.error(gen, 404, f"Dag Run for date {text} not found for dag {dag_id}")

    async def exp_paused(self, gen: str, request: web.Request) -> web.Response:
        dag_id = request.match_info["dag_id"]
        if dag_id not in self.dags:
            return self.error(gen, 404, f"Dag id {dag_id} not found")
        return web.json_response({"is_paused": self.dags[dag_id]})

    async def exp_set_paused(self, gen: str, request: web.Request) -> web.Response:
        dag_id, value = request.match_info["dag_id"], request.match_info["value"].lower()
        if dag_id not in self.dags or value not in ("true", "false"):
            return self.error(gen, 404, f"Dag id {dag_id} not found")
        if value == "false":
            self._unpause(dag_id)
        else:
            self.dags[dag_id] = True
        return web.json_response({"response": "ok"})
