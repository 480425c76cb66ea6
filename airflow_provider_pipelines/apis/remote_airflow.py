"""A remote Apache Airflow, in any of the three API generations still deployed.

Facts (``shared/vendor-apis.md`` §4): Airflow 3 speaks ``/api/v2`` (Bearer
tokens, from ``POST /auth/token`` or pre-issued), Airflow 2 ``/api/v1`` (basic
auth, or Bearer on Astro), Airflow 1.10 / Astronomer Software the experimental
API (``Authorization: <API key>``). Run states are ``queued``, ``running``,
``success`` and ``failed`` in all three.

A run's ``ref`` names the generation it was created with (``api``), so whoever
reads it later (the trigger, after a triggerer restart) uses the right paths
without probing the deployment again. On the experimental API the ref also holds
the run's ``execution_date``, the only key that API reads a single run by.

Everything here is pure: requests are built, responses parsed, no I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from airflow_provider_pipelines._compat import mask_secret
from airflow_provider_pipelines.apis.base import Page, VendorApi, field_of, iso_utc, query_time, server_time
from airflow_provider_pipelines.errors import ConfigurationError, NotFoundError, ResponseFormatError
from airflow_provider_pipelines.http import ApiRequest, ApiResponse, Auth, excerpt, quote_segment
from airflow_provider_pipelines.runs import RemoteRun, RunState, StatusTable

V2 = "v2"
V1 = "v1"
EXPERIMENTAL = "experimental"
#: probed in this order: the newest first
GENERATIONS = (V2, V1, EXPERIMENTAL)
API_ROOTS = {V2: "api/v2", V1: "api/v1", EXPERIMENTAL: "api/experimental"}
#: ``api_version`` extra -> generation (None: detect)
API_VERSION_WORDS: dict[str, str | None] = {"auto": None, "v2": V2, "v1": V1, "experimental": EXPERIMENTAL}

STATUSES = StatusTable(
    "Remote Airflow",
    {
        "queued": RunState.QUEUED,
        "running": RunState.RUNNING,
        "success": RunState.SUCCESS,
        "failed": RunState.FAILED,
    },
)


#: the words of a run that has ended
FINISHED_WORDS = ("success", "failed")
#: rows asked for per page (Airflow's default ``[api] maximum_page_limit``; a lower one is followed)
LIST_LIMIT = 100


def generation_from_extra(value: Any, conn_id: str) -> str | None:
    """The ``api_version`` extra as a generation; None for ``auto`` or unset (null, empty)."""
    if value is None or not str(value).strip():
        return None
    key = str(value).strip().lower()
    if key not in API_VERSION_WORDS:
        raise ConfigurationError(
            f"connection {conn_id!r}: extra 'api_version' must be one of {sorted(API_VERSION_WORDS)}, "
            f"got {value!r}"
        )
    return API_VERSION_WORDS[key]


# -- auth -------------------------------------------------------------------------------------

#: ``auth_type`` extra values; ``auto`` decides from the connection's fields
AUTH_TYPES = ("auto", "bearer", "token", "basic", "api_key", "none")


class AirflowAuth(Auth):
    """The connection's credentials, sent the way the deployment's API generation expects.

    ``mode`` is one of :data:`AUTH_TYPES` other than ``auto``, or ``login`` (a login and a
    password whose use depends on the generation: a token from ``POST /auth/token`` on
    Airflow 3, basic auth before). ``generation`` is None until it is known; until then a
    ``login`` sends nothing (only the version probes go out that early).
    """

    def __init__(
        self,
        mode: str,
        *,
        login: str | None = None,
        secret: str | None = None,
        conn_id: str = "",
        generation: str | None = None,
    ) -> None:
        self.mode = mode
        self.login = login or ""
        self._secret = secret or ""
        self.conn_id = conn_id
        self.generation = generation
        self._token: str | None = None
        self._basic = base64.b64encode(f"{self.login}:{self._secret}".encode()).decode()
        if self.login and self._secret:
            mask_secret(self._basic)  # the encoded pair is as good as the password

    def __repr__(self) -> str:
        return f"AirflowAuth(mode={self.mode!r}, generation={self.generation!r})"

    @property
    def uses_token(self) -> bool:
        return self.mode == "token" or (self.mode == "login" and self.generation == V2)

    @property
    def needs_generation(self) -> bool:
        """True while the headers depend on a generation not yet known."""
        return self.mode == "login" and self.generation is None

    def describe(self) -> str:
        """A few words for logs: never the secret."""
        if self.uses_token:
            return f"a token from /auth/token for user {self.login!r}"
        if self.mode in {"basic", "login"}:
            return f"basic auth as {self.login!r}"
        return {"bearer": "a Bearer token", "api_key": "an API key", "none": "no credentials"}[self.mode]

    def headers(self) -> Mapping[str, str]:
        if self.uses_token:
            return {"Authorization": f"Bearer {self._token}"} if self._token else {}
        if self.mode == "bearer":
            return {"Authorization": f"Bearer {self._secret}"}
        if self.mode == "api_key":  # Astronomer Software: the key alone, no scheme word
            return {"Authorization": self._secret}
        if self.mode == "basic" or (self.mode == "login" and self.generation is not None):
            return {"Authorization": f"Basic {self._basic}"}
        return {}

    def needs_renewal(self) -> bool:
        return self.uses_token and self._token is None

    def renewal(self) -> ApiRequest | None:
        if not self.uses_token:
            return None
        return ApiRequest(
            "POST",
            "auth/token",
            json={"username": self.login, "password": self._secret},
            # a login changes nothing on the server: safe to repeat
            idempotent=True,
            what=f"get an Airflow API token for user {self.login!r}",
            hints={
                401: f"The login or password of connection {self.conn_id!r} is wrong",
                403: f"The user of connection {self.conn_id!r} may not get an API token",
                404: "This deployment has no /auth/token (Airflow 2 takes basic auth: set the "
                "connection's extra auth_type to 'basic', or its api_version)",
            },
        )

    def renewed(self, response: ApiResponse) -> None:
        token = field_of(response, response.json_object(), "access_token")
        if not isinstance(token, str) or not token:
            raise ResponseFormatError(f"{response.request.what}: the access_token is not a string")
        mask_secret(token)
        self._token = token

    def should_renew(self, status: int) -> bool:
        # 401: expired ("Token Expired"); 403: signed with a secret the server no longer has
        # ("Invalid JWT token", after a restart with a new secret). One new token settles both.
        return self.uses_token and status in (401, 403)

    def explain_refusal(self, response: ApiResponse) -> str | None:
        """Tell a refused credential (invalid, expired, missing) from a user without a permission.

        Airflow 3 says which in its answer's ``detail`` (``airflow/api_fastapi/core_api/security.py``):
        401 ``Not authenticated`` (none sent), 401 ``Token Expired``, 403 ``Invalid JWT token``
        (not issued by this deployment, or signed with a secret it no longer has); any other 403 is
        a permission. Airflow 2 answers 401 for refused credentials and 403 for a permission.
        """
        if response.request.path == "auth/token":
            return None  # a refused login: that request's own hints say so
        conn = f"Airflow connection {self.conn_id!r}"
        detail = _detail(response)
        quoted = f" ({detail!r})" if detail else ""
        if self.generation == EXPERIMENTAL:
            return (
                f"The remote Airflow refused the API key of {conn}{quoted}, or the key may not do this: "
                "check the key in the connection's password field (extra auth_type 'api_key')"
            )
        if response.status == 403 and detail != _INVALID_JWT:
            lacks = response.request.hints.get(403) or "lacks a permission for this request"
            return (
                f"The remote Airflow accepted the credentials of {conn}, but their user {lacks}{quoted}: "
                "grant the permission in the remote Airflow's roles, or use a connection whose user has it"
            )
        return self._refused(conn, detail, quoted)

    def _refused(self, conn: str, detail: str, quoted: str) -> str:
        """What a refused credential means, by what the server said and what this auth sent."""
        if self.mode == "none" or detail == _NOT_AUTHENTICATED:
            return (
                f"The remote Airflow got no credentials from {conn}{quoted}: put an API token in the "
                "connection's password field, or a login and password"
            )
        if self.uses_token:
            return (
                f"The remote Airflow refused a token it had just issued to user {self.login!r} of {conn}"
                f"{quoted}: check that the deployment's API servers share one [api_auth] jwt_secret and "
                "that their clocks agree"
            )
        if self.mode in {"basic", "login"}:
            return (
                f"The remote Airflow refused the login {self.login!r} and password of {conn}{quoted}: "
                "check both"
            )
        if detail == _TOKEN_EXPIRED:
            return (
                f"The remote Airflow refused the token of {conn} as expired{quoted}: put a new token in "
                "the connection's password field, or give the connection a login and password so that "
                "tokens are fetched as needed"
            )
        if detail == _INVALID_JWT:
            return (
                f"The remote Airflow refused the token of {conn} as invalid{quoted}: it was not issued by "
                "this deployment, or was signed with a secret the deployment no longer has. Put a token "
                "of this deployment in the connection's password field"
            )
        return (
            f"The remote Airflow refused the token of {conn}{quoted}: it is invalid or has expired. Put a "
            "valid token in the connection's password field"
        )


#: the ``detail`` of Airflow 3's refusals of a credential (airflow/api_fastapi/core_api/security.py)
_NOT_AUTHENTICATED = "Not authenticated"
_TOKEN_EXPIRED = "Token Expired"
_INVALID_JWT = "Invalid JWT token"


def _detail(response: ApiResponse) -> str:
    """The ``detail`` (Airflow 3 and 2) or ``error`` (experimental API) of an error answer, or ""."""
    try:
        data = response.json()
    except ResponseFormatError:
        return ""
    if not isinstance(data, dict):
        return ""
    value = data.get("detail", data.get("error"))
    return value.strip() if isinstance(value, str) else ""


# -- runs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedTask:
    """One failed task instance of a remote run."""

    task_id: str
    try_number: int
    state: str
    map_index: int = -1

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


def _root(generation: str) -> str:
    try:
        return API_ROOTS[generation]
    except KeyError:
        raise ValueError(f"unknown Airflow API generation {generation!r}") from None


def _run_path(ref: Mapping[str, str]) -> str:
    return (
        f"{_root(ref['api'])}/dags/{quote_segment(ref['dag_id'])}/dagRuns/{quote_segment(ref['dag_run_id'])}"
    )


def deployment_url(response: ApiResponse) -> str | None:
    """The deployment's base URL, from a response's URL and the request's path."""
    path = "/" + response.request.path.lstrip("/")
    url = response.url.split("?", 1)[0]
    return url[: -len(path)] if url.endswith(path) else None


class RemoteAirflowApi(VendorApi):
    """Requests and parsers for a remote Airflow's REST API, any generation."""

    vendor = "remote_airflow"
    display_name = "Remote Airflow"
    lineage_job_type = "AIRFLOW_DAG_RUN"
    statuses = STATUSES
    ref_keys = ("api", "dag_id", "dag_run_id")

    # -- finding out which API the deployment speaks

    def probe_request(self, generation: str) -> ApiRequest:
        path = "api/experimental/test" if generation == EXPERIMENTAL else f"{_root(generation)}/version"
        return ApiRequest("GET", path, what=f"probe the remote Airflow for /{_root(generation)}")

    def parse_probe(self, generation: str, response: ApiResponse) -> str | None:
        """The version the deployment reports ("" when it reports none); None: not this generation.

        A proxy or a web UI may answer any path with an HTML page: only the JSON this
        generation sends counts.
        """
        try:
            data = response.json()
        except ResponseFormatError:
            return None
        if not isinstance(data, dict):
            return None
        if generation == EXPERIMENTAL:
            return "" if "status" in data else None
        version = data.get("version")
        return str(version) if version else None

    def auth_check_request(self, generation: str) -> ApiRequest:
        """A cheap request that needs valid credentials."""
        if generation == EXPERIMENTAL:
            return ApiRequest("GET", "api/experimental/test", what="check the remote Airflow credentials")
        return ApiRequest(
            "GET", f"{_root(generation)}/dags", params={"limit": "1"}, what="list DAGs on the remote Airflow"
        )

    # -- starting a run

    def ref_for(self, generation: str, dag_id: str, dag_run_id: str) -> dict[str, str]:
        _root(generation)
        return {"api": generation, "dag_id": dag_id, "dag_run_id": dag_run_id}

    def trigger_request(
        self,
        generation: str,
        dag_id: str,
        *,
        dag_run_id: str,
        conf: Mapping[str, Any],
        logical_date: str | None,
    ) -> ApiRequest:
        """The exact body each generation takes.

        Airflow 3 needs the ``logical_date`` key (null allowed) and refuses any key it
        does not know; Airflow 2 takes ``logical_date`` only when given; the experimental
        API calls the run id ``run_id`` and the date ``execution_date``.

        Marked idempotent on purpose: the run id is always ours, so a repeat that reaches
        the server is refused as a duplicate (409, or 400 on the experimental API) and
        re-attached to, never a second run.
        """
        body: dict[str, Any]
        if generation == V2:
            body = {"dag_run_id": dag_run_id, "logical_date": logical_date, "conf": dict(conf)}
            path = f"api/v2/dags/{quote_segment(dag_id)}/dagRuns"
        elif generation == V1:
            body = {"dag_run_id": dag_run_id, "conf": dict(conf)}
            if logical_date is not None:
                body["logical_date"] = logical_date
            path = f"api/v1/dags/{quote_segment(dag_id)}/dagRuns"
        else:
            body = {"run_id": dag_run_id, "conf": dict(conf)}
            if logical_date is not None:
                body["execution_date"] = logical_date
            else:
                # the API cuts "now" to the second by default: two triggers of one DAG within a
                # second would then collide on the execution date
                body["replace_microseconds"] = "false"
            path = f"{_root(generation)}/dags/{quote_segment(dag_id)}/dag_runs"
        return ApiRequest(
            "POST",
            path,
            json=body,
            idempotent=True,
            what=f"trigger DAG {dag_id} on the remote Airflow as run {dag_run_id}",
            hints={
                404: f"The remote Airflow knows no DAG {dag_id!r} (check dag_id, that the DAG is parsed "
                "there, and that the connection's user may see it)",
                # read by AirflowAuth.explain_refusal: "... but their user <hint>"
                403: f"may not trigger DAG {dag_id!r}",
            },
        )

    def is_duplicate(self, generation: str, status: int) -> bool:
        """True for the status a generation answers a run id (or logical date) already taken with."""
        return status == (400 if generation == EXPERIMENTAL else 409)

    def run_in_trigger_response(self, generation: str) -> bool:
        """v1 and v2 answer a trigger with the run itself; the experimental API with a message."""
        return generation != EXPERIMENTAL

    def started_ref(self, ref: Mapping[str, str], response: ApiResponse) -> dict[str, str]:
        """The ref of the run a trigger created (the experimental API adds its execution date)."""
        data = response.json_object()
        returned = data.get("dag_run_id") if ref["api"] != EXPERIMENTAL else data.get("run_id")
        if returned is not None and str(returned) != ref["dag_run_id"]:
            raise ResponseFormatError(
                f"{response.request.what}: the remote Airflow created run {returned!r}, not the "
                f"{ref['dag_run_id']!r} asked for"
            )
        if ref["api"] != EXPERIMENTAL:
            return dict(ref)
        return {**ref, "execution_date": str(field_of(response, data, "execution_date"))}

    # -- reading a run

    def read_request(self, ref: Mapping[str, str]) -> ApiRequest:
        dag_id, run_id = ref["dag_id"], ref["dag_run_id"]
        what = f"read run {run_id} of DAG {dag_id} on the remote Airflow"
        hints = {404: f"The remote Airflow has no run {run_id!r} of DAG {dag_id!r}"}
        if ref["api"] != EXPERIMENTAL:
            return ApiRequest("GET", _run_path(ref), what=what, hints=hints)
        runs = f"api/experimental/dags/{quote_segment(dag_id)}/dag_runs"
        if ref.get("execution_date"):
            return ApiRequest("GET", f"{runs}/{quote_segment(ref['execution_date'])}", what=what, hints=hints)
        # a run known only by its id: that API reads single runs by execution date, so list them
        return ApiRequest("GET", runs, what=what, hints=hints)

    def parse_run(self, response: ApiResponse, ref: Mapping[str, str]) -> RemoteRun:
        if ref["api"] == EXPERIMENTAL:
            return self._parse_experimental(response, ref)
        return self._run_from(response, response.json_object(), ref)

    def _run_from(self, response: ApiResponse, data: Mapping[str, Any], ref: Mapping[str, str]) -> RemoteRun:
        """A run from one run object of /api/v2 or /api/v1 (a read, a trigger's answer, a list row)."""
        word = field_of(response, data, "state")
        run_id = str(data.get("dag_run_id") or ref["dag_run_id"])
        logical_date = data.get("logical_date") or data.get("execution_date")
        return RemoteRun(
            vendor=self.vendor,
            ref=dict(ref),
            run_id=run_id,
            state=self.statuses.classify(word),
            vendor_status=str(word),
            url=self.run_url(response, ref),
            detail=f"DAG {ref['dag_id']}",
            extra={"conf": data.get("conf"), "logical_date": logical_date},
        )

    # -- the runs that ended: what event watchers (and other pollers) read

    def changed_runs_request(
        self,
        generation: str,
        dag_id: str,
        *,
        ended_after: datetime,
        states: tuple[str, ...] = FINISHED_WORDS,
        page: int | None = None,
    ) -> ApiRequest:
        """One page of the DAG's runs in ``states`` that ended at or after a time, earliest end first.

        Airflow 3.0 to 3.3 (``/api/v2``) and Airflow 2 (``/api/v1``) both filter on
        ``end_date_gte`` and ``state`` and sort by ``end_date``; ``page`` is an offset
        (:attr:`Page.next_page` of the page before; None: the first). The experimental API
        cannot list runs, so it is refused here, before any request.
        """
        if generation == EXPERIMENTAL:
            raise ConfigurationError(
                "the remote Airflow speaks only the experimental API, which cannot list DAG runs: "
                f"watching DAG {dag_id!r} for finished runs needs /api/v2 (Airflow 3) or /api/v1 "
                "(Airflow 2)"
            )
        params: dict[str, str | tuple[str, ...]] = {
            "end_date_gte": query_time(ended_after),
            "state": tuple(states),
            "order_by": "end_date",
            "limit": str(LIST_LIMIT),
            "offset": str(page or 0),
        }
        return ApiRequest(
            "GET",
            f"{_root(generation)}/dags/{quote_segment(dag_id)}/dagRuns",
            params=params,
            what=f"list the runs of DAG {dag_id} that ended since {params['end_date_gte']} on the "
            "remote Airflow",
            hints={
                404: f"The remote Airflow knows no DAG {dag_id!r} (check dag_id, that the DAG is parsed "
                "there, and that the connection's user may see it)"
            },
        )

    def parse_changed_runs(self, response: ApiResponse, generation: str, dag_id: str) -> Page:
        """A page of :meth:`changed_runs_request`; the next offset while ``total_entries`` says more."""
        data = response.json_object()
        rows = _run_rows(response, data)
        runs = []
        for row in rows:
            ref = self.ref_for(generation, dag_id, str(field_of(response, row, "dag_run_id")))
            run = self._run_from(response, row, ref)
            end_date = iso_utc(row.get("end_date"))
            finished_at = end_date if run.state.is_terminal else None
            runs.append(replace(run, extra={**run.extra, "changed_at": end_date, "finished_at": finished_at}))
        # the server may hold pages smaller than asked for ([api] maximum_page_limit): go on from
        # the rows it sent, while total_entries says there are more
        offset = int(str(response.request.params.get("offset") or 0))
        total = data.get("total_entries")
        more = bool(rows) and isinstance(total, int) and offset + len(rows) < total
        return Page(
            runs=runs, next_page=offset + len(rows) if more else None, server_time=server_time(response)
        )

    # -- the runs of every DAG that changed: what the coalesced poller reads (triggers/poller.py)

    def recent_runs_request(
        self,
        generation: str,
        *,
        since: datetime,
        dag_ids: Collection[str] = (),
        page: int | None = None,
    ) -> ApiRequest:
        """One page of the deployment's runs (every DAG: ``~``) that changed since a time, by id.

        * ``/api/v2`` (Airflow 3): ``GET /api/v2/dags/~/dagRuns?updated_at_gte=…&order_by=id``.
          Every Airflow 3 release filters this list on ``updated_at`` (``update_at_range`` in the
          route since 3.0; read in 3.3.2's ``routes/public/dag_run.py``); its rows carry no
          ``updated_at``, so a reader keeps its cursor from the answers' clock.
        * ``/api/v1`` (Airflow 2): ``POST /api/v1/dags/~/dagRuns/list`` with ``dag_ids`` and
          ``end_date_gte``: the batch body takes no ``updated_at`` filter that the server applies
          (2.11's form schema reads ``updated_at_gte`` and then drops it), so this lists the runs
          of ``dag_ids`` that *ended* since the time; a run still going is not listed.

        Sorted by id, a row never moves to another page when the run changes while the pages are
        read (a run that begins to match lands at its own place: a later row is read twice, none
        is skipped). ``page`` is an offset (:attr:`Page.next_page`; None: the first). The
        experimental API lists nothing (``ConfigurationError``).
        """
        when = query_time(since)
        offset = page or 0
        if generation == V2:
            return ApiRequest(
                "GET",
                "api/v2/dags/~/dagRuns",
                params={
                    "updated_at_gte": when,
                    "order_by": "id",
                    "limit": str(LIST_LIMIT),
                    "offset": str(offset),
                },
                what=f"list the runs on the remote Airflow that changed since {when}",
            )
        if generation == V1:
            body = {
                "dag_ids": sorted(dag_ids),
                "end_date_gte": when,
                "order_by": "id",
                "page_offset": offset,
                "page_limit": LIST_LIMIT,
            }
            return ApiRequest(
                "POST",
                "api/v1/dags/~/dagRuns/list",
                json=body,
                idempotent=True,  # a read, whatever its method
                what=f"list the runs on the remote Airflow that ended since {when}",
            )
        raise ConfigurationError(
            "the remote Airflow speaks only the experimental API, which cannot list DAG runs"
        )

    def parse_recent_runs(self, response: ApiResponse, generation: str) -> Page:
        """A page of :meth:`recent_runs_request`: each row's run under its own DAG's ref.

        Each run carries ``finished_at`` and ``state_changed_at``, the latest of its ``queued_at``,
        ``start_date`` and ``end_date`` (not ``changed_at``: the list is not ordered by it).
        """
        data = response.json_object()
        rows = _run_rows(response, data)
        runs = []
        for row in rows:
            ref = self.ref_for(
                generation,
                str(field_of(response, row, "dag_id")),
                str(field_of(response, row, "dag_run_id")),
            )
            run = self._run_from(response, row, ref)
            end_date = iso_utc(row.get("end_date"))
            # rows carry no updated_at: the latest of the times its state changed stands for it
            times = [t for k in ("queued_at", "start_date", "end_date") if (t := iso_utc(row.get(k)))]
            extra = {
                **run.extra,
                "finished_at": end_date if run.state.is_terminal else None,
                "state_changed_at": max(times, default=None),
            }
            runs.append(replace(run, extra=extra))
        if generation == V1:
            offset = int((response.request.json or {}).get("page_offset") or 0)
        else:
            offset = int(str(response.request.params.get("offset") or 0))
        total = data.get("total_entries")
        more = bool(rows) and isinstance(total, int) and offset + len(rows) < total
        return Page(
            runs=runs, next_page=offset + len(rows) if more else None, server_time=server_time(response)
        )

    def _parse_experimental(self, response: ApiResponse, ref: Mapping[str, str]) -> RemoteRun:
        data = response.json()
        if isinstance(data, list):  # the run list: find ours
            mine = [r for r in data if isinstance(r, dict) and r.get("run_id") == ref["dag_run_id"]]
            if not mine:
                raise NotFoundError(
                    f"{response.request.what}: the remote Airflow lists no run {ref['dag_run_id']!r} of DAG "
                    f"{ref['dag_id']!r}",
                    status=404,
                )
            data = mine[0]
            if data.get("execution_date"):
                ref = {**ref, "execution_date": str(data["execution_date"])}
        if not isinstance(data, dict):
            raise ResponseFormatError(
                f"{response.request.what} got JSON that is not an object: {excerpt(response.body)!r}"
            )
        word = field_of(response, data, "state")
        return RemoteRun(
            vendor=self.vendor,
            ref=dict(ref),
            run_id=ref["dag_run_id"],
            state=self.statuses.classify(word),
            vendor_status=str(word),
            detail=f"DAG {ref['dag_id']}",
        )

    # -- waiting with one held request (Airflow 3.1+, experimental upstream)

    def offers_held_wait(self, ref: Mapping[str, str]) -> bool:
        """Airflow 3.1 added ``GET /api/v2/dags/{dag_id}/dagRuns/{id}/wait``; older 3.x answer 404, and
        the hook then polls (``held_wait.py``). Airflow 2 and the experimental API have none."""
        return ref.get("api") == V2

    def held_wait_request(self, ref: Mapping[str, str], interval: float, timeout: float) -> ApiRequest:
        """NDJSON: one ``{"state": …}`` line at once, then one every ``interval`` seconds (> 0, the
        server's own pause between reads of its database) until the run has ended; the last line
        may add ``results``, XComs the DAG marks as its result, which are not read here."""
        return ApiRequest(
            "GET",
            f"{_run_path(ref)}/wait",
            params={"interval": f"{max(interval, 0.1):g}"},
            headers={"Accept": "application/x-ndjson"},
            timeout=timeout,
            what=f"wait on run {ref['dag_run_id']} of DAG {ref['dag_id']} on the remote Airflow (held)",
        )

    def parse_held_line(self, line: bytes, ref: Mapping[str, str], head: ApiResponse) -> RemoteRun:
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        word = data.get("state") if isinstance(data, dict) else None
        if not isinstance(word, str) or not word:
            raise ResponseFormatError(
                f"{head.request.what}: a line that is not a run state: {excerpt(line)!r}"
            )
        return RemoteRun(
            vendor=self.vendor,
            ref=dict(ref),
            run_id=ref["dag_run_id"],
            state=self.statuses.classify(word),
            vendor_status=word,
            url=self.run_url(head, ref),
            detail=f"DAG {ref['dag_id']}",
        )

    def run_url(self, response: ApiResponse, ref: Mapping[str, str]) -> str | None:
        """The run's page in the remote Airflow's UI (the experimental API's UI has none to link)."""
        base = deployment_url(response)
        if base is None or ref["api"] == EXPERIMENTAL:
            return None
        dag_id = quote(ref["dag_id"], safe="")
        if ref["api"] == V2:
            # ':' and '+' may stand in a path segment: run ids keep their look in the link
            return f"{base}/dags/{dag_id}/runs/{quote(ref['dag_run_id'], safe=':+')}"
        return f"{base}/dags/{dag_id}/grid?dag_run_id={quote(ref['dag_run_id'], safe='')}"

    # -- ending a run, and saying why it failed

    def cancel_request(self, ref: Mapping[str, str]) -> ApiRequest | None:
        """Mark the run failed (Airflow has no cancel); the experimental API cannot."""
        if ref["api"] == EXPERIMENTAL:
            return None
        return ApiRequest(
            "PATCH",
            _run_path(ref),
            json={"state": "failed"},
            idempotent=True,  # setting a state twice is the same as once
            what=f"mark run {ref['dag_run_id']} of DAG {ref['dag_id']} failed on the remote Airflow",
        )

    def failed_tasks_request(self, ref: Mapping[str, str]) -> ApiRequest | None:
        if ref["api"] == EXPERIMENTAL:
            return None
        return ApiRequest(
            "GET",
            f"{_run_path(ref)}/taskInstances",
            params={"state": "failed", "limit": "100"},
            what=f"list the failed tasks of run {ref['dag_run_id']} of DAG {ref['dag_id']}",
        )

    def parse_failed_tasks(self, response: ApiResponse) -> list[FailedTask]:
        rows = field_of(response, response.json_object(), "task_instances")
        if not isinstance(rows, list):
            raise ResponseFormatError(f"{response.request.what}: task_instances is not a list")
        tasks = []
        for row in rows:
            # filtered here too: a server may ignore the state filter
            if isinstance(row, dict) and row.get("state") == "failed" and row.get("task_id"):
                tasks.append(
                    FailedTask(
                        task_id=str(row["task_id"]),
                        try_number=int(row.get("try_number") or 0),
                        state=str(row["state"]),
                        map_index=int(row["map_index"]) if row.get("map_index") is not None else -1,
                    )
                )
        return tasks

    # -- the DAG's pause switch

    def paused_request(self, generation: str, dag_id: str) -> ApiRequest:
        what = f"check whether DAG {dag_id} is paused on the remote Airflow"
        if generation == EXPERIMENTAL:
            return ApiRequest("GET", f"api/experimental/dags/{quote_segment(dag_id)}/paused", what=what)
        return ApiRequest("GET", f"{_root(generation)}/dags/{quote_segment(dag_id)}", what=what)

    def parse_paused(self, response: ApiResponse) -> bool:
        value = field_of(response, response.json_object(), "is_paused")
        if not isinstance(value, bool):
            raise ResponseFormatError(f"{response.request.what}: is_paused is not true or false: {value!r}")
        return value

    def unpause_request(self, generation: str, dag_id: str) -> ApiRequest:
        what = f"unpause DAG {dag_id} on the remote Airflow"
        if generation == EXPERIMENTAL:  # that API switches with a GET
            return ApiRequest("GET", f"api/experimental/dags/{quote_segment(dag_id)}/paused/false", what=what)
        return ApiRequest(
            "PATCH",
            f"{_root(generation)}/dags/{quote_segment(dag_id)}",
            params={"update_mask": "is_paused"},
            json={"is_paused": False},
            what=what,
            hints={403: f"may not unpause DAG {dag_id!r}"},  # see trigger_request
        )


def _run_rows(response: ApiResponse, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``dag_runs`` of a list answer, each a JSON object, or a format error naming the answer."""
    rows = field_of(response, data, "dag_runs")
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ResponseFormatError(
            f"{response.request.what} got HTTP {response.status} from {response.url} with dag_runs "
            f"that is not a list of runs: {excerpt(response.body)!r}"
        )
    return rows
