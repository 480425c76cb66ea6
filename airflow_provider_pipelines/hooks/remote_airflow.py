"""Hook for a remote Apache Airflow deployment: Airflow 3 (/api/v2), Airflow 2 (/api/v1), or experimental."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from airflow_provider_pipelines.apis.base import Page
from airflow_provider_pipelines.apis.remote_airflow import (
    API_ROOTS,
    AUTH_TYPES,
    EXPERIMENTAL,
    FINISHED_WORDS,
    GENERATIONS,
    V1,
    V2,
    AirflowAuth,
    RemoteAirflowApi,
    generation_from_extra,
)
from airflow_provider_pipelines.errors import (
    AuthError,
    ClientError,
    ConfigurationError,
    HttpError,
    NotFoundError,
    PipelinesError,
)
from airflow_provider_pipelines.forms import with_connection_form
from airflow_provider_pipelines.hooks.base import PipelineHook, extra_value
from airflow_provider_pipelines.http import ApiRequest, ApiResponse, Endpoint
from airflow_provider_pipelines.params.remote_airflow import check_conf, check_run_id
from airflow_provider_pipelines.runs import RemoteRun, RunState

_IDEMPOTENT_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


@with_connection_form
class RemoteAirflowHook(PipelineHook):
    """Talks to another Airflow deployment's REST API through a connection of type ``remote_airflow``.

    The connection's ``host`` is the deployment's base URL, path prefix included
    (``https://airflow.example.com``, ``https://<org>.astronomer.run/<deployment-id>``,
    ``http://127.0.0.1:8080``). Credentials, chosen by what the connection holds:

    * ``password`` alone: sent as ``Authorization: Bearer <password>`` (an Astro
      Deployment API token, or any pre-issued JWT);
    * ``login`` and ``password``: on Airflow 3, a token from ``POST /auth/token``,
      kept for this hook and fetched again once when the server refuses it; on
      Airflow 2 and the experimental API, basic auth.

    Extras: ``auth_type`` (``auto``, ``bearer``, ``token``, ``basic``, ``api_key`` for
    Astronomer Software's ``Authorization: <key>``, or ``none``), ``api_version``
    (``auto``, ``v2``, ``v1``, ``experimental``; by default it is detected once per hook
    from ``/api/v2/version``, ``/api/v1/version``, ``/api/experimental/test``), and
    ``timeout``, ``max_attempts``, ``backoff``, ``backoff_max``, ``verify_ssl`` as for
    every connection of this provider.

    :param remote_airflow_conn_id: the Airflow connection id.
    """

    conn_name_attr = "remote_airflow_conn_id"
    default_conn_name = "remote_airflow_default"
    conn_type = "remote_airflow"
    hook_name = "Remote Airflow"
    api_class = RemoteAirflowApi
    secret_label = "password or API token"
    api: RemoteAirflowApi

    def __init__(self, remote_airflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=remote_airflow_conn_id, **kwargs)
        self._generation: str | None = None
        self._auth: AirflowAuth | None = None
        self._probing: asyncio.Future[str] | None = None

    # -- connection -> endpoint ---------------------------------------------------------------

    @classmethod
    def shared_variant(cls, ref: Mapping[str, str]) -> str:
        # the credentials go out as the run's API generation expects: one shared hook per generation
        return str(ref.get("api", ""))

    def auth_headers(self, conn: Any) -> dict[str, str]:
        return {}  # all credentials go through AirflowAuth: which header depends on the API generation

    def build_endpoint(self, conn: Any) -> Endpoint:
        extras = conn.extra_dejson or {}
        configured = generation_from_extra(extra_value(extras, "api_version"), self.conn_id)
        if configured is not None and self._generation is None:
            self._generation = configured
        return super().build_endpoint(conn)

    def build_auth(self, conn: Any) -> AirflowAuth:
        extras = conn.extra_dejson or {}
        kind = str(extra_value(extras, "auth_type") or "auto").strip().lower()
        if kind not in AUTH_TYPES:
            raise ConfigurationError(
                f"connection {self.conn_id!r}: extra 'auth_type' must be one of {list(AUTH_TYPES)}, "
                f"got {extras.get('auth_type')!r}"
            )
        login = (conn.login or "").strip()
        has_password = bool((conn.password or "").strip())
        if kind == "auto":
            kind = "login" if login and has_password else "bearer" if has_password else "none"
        if kind in ("token", "basic", "login") and not login:
            raise ConfigurationError(
                f"connection {self.conn_id!r}: auth_type {kind!r} needs a login (the user name) "
                "and a password"
            )
        secret = self.require_secret(conn) if kind != "none" else None
        if kind == "none":
            self.log.info("Connection %r holds no credentials: requests go out without any", self.conn_id)
        self._auth = AirflowAuth(
            kind, login=login, secret=secret, conn_id=self.conn_id, generation=self._generation
        )
        return self._auth

    def _missing(self) -> ConfigurationError:
        return ConfigurationError(
            f"Airflow connection {self.conn_id!r} is not defined: create a connection of type "
            f"{self.conn_type!r} with that id (host = the deployment's URL; password = an API token, "
            "or login + password)"
        )

    # -- which API the deployment speaks ------------------------------------------------------

    def _use_generation(self, generation: str) -> None:
        self._generation = generation
        if self._auth is not None:
            self._auth.generation = generation

    def _adopt(self, ref: Mapping[str, str]) -> None:
        """Take the generation a run was created with from its ref: no probe is needed to read it."""
        generation = ref.get("api")
        if generation not in GENERATIONS:
            raise ConfigurationError(f"remote Airflow run reference without a known 'api': {dict(ref)!r}")
        if self._generation is None:
            self._use_generation(generation)

    def get_api_version(self) -> str:
        """``v2``, ``v1`` or ``experimental``: from the ``api_version`` extra, else probed once per hook."""
        endpoint = self.get_endpoint()
        if self._generation is not None:
            return self._generation
        for generation in GENERATIONS:
            try:
                reported = self._probe_verdict(generation, self.call(self.api.probe_request(generation)))
            except HttpError as exc:
                reported = self._probe_verdict(generation, exc)
            if reported is not None:
                return self._found(endpoint, generation, reported)
        raise self._no_api(endpoint)

    async def aget_api_version(self) -> str:
        """:meth:`get_api_version` from the triggerer's event loop: the same probes, sent async.

        A hook shared by several triggers probes once: the others wait for that probe.
        """
        if self._generation is not None:
            return self._generation
        if self._probing is None or self._probing.done():
            self._probing = asyncio.ensure_future(self._aprobe())
        return await asyncio.shield(self._probing)

    async def _aprobe(self) -> str:
        endpoint = await self.aget_endpoint()
        for generation in GENERATIONS:
            try:
                response = await self.acall(self.api.probe_request(generation))
                reported = self._probe_verdict(generation, response)
            except HttpError as exc:
                reported = self._probe_verdict(generation, exc)
            if reported is not None:
                return self._found(endpoint, generation, reported)
        raise self._no_api(endpoint)

    def _probe_verdict(self, generation: str, answer: ApiResponse | HttpError) -> str | None:
        """What one probe says: the version reported ("" for none), or None when it is not this API.

        A refusal (401, 403) means the API is there and wants credentials; 404, 405 and the like
        mean another API; any other error (5xx after retries) is raised.
        """
        if isinstance(answer, AuthError):
            return ""
        if isinstance(answer, NotFoundError | ClientError):
            return None
        if isinstance(answer, HttpError):
            raise answer
        return self.api.parse_probe(generation, answer)

    def _found(self, endpoint: Endpoint, generation: str, reported: str) -> str:
        self.log.info(
            "Remote Airflow at %s speaks /%s%s",
            endpoint.base_url,
            API_ROOTS[generation],
            f" (Airflow {reported})" if reported else "",
        )
        self._use_generation(generation)
        return generation

    def _no_api(self, endpoint: Endpoint) -> ConfigurationError:
        return ConfigurationError(
            f"connection {self.conn_id!r}: found no Airflow REST API at {endpoint.base_url} (tried "
            "/api/v2/version, /api/v1/version and /api/experimental/test). Check that the host is the "
            "deployment's URL including its path prefix, or set the extra api_version"
        )

    # -- the runs that ended ------------------------------------------------------------------

    async def alist_changed_runs(
        self, dag_id: str, *, ended_after: datetime, states: tuple[str, ...] = FINISHED_WORDS
    ) -> list[Page]:
        """The DAG's runs in ``states`` that ended at or after a time, all pages, earliest end first (async).

        The API generation is probed first when not yet known; the experimental API cannot list
        runs and is refused with a :class:`ConfigurationError`. Each run carries ``changed_at`` and
        ``finished_at`` (its ``end_date``) and ``conf`` in its ``extra``.
        """
        generation = await self.aget_api_version()
        return await self.alist_pages(
            lambda page: self.api.changed_runs_request(
                generation, dag_id, ended_after=ended_after, states=states, page=page
            ),
            lambda response: self.api.parse_changed_runs(response, generation, dag_id),
        )

    def list_scope(self, ref: Mapping[str, str]) -> str | None:
        """The deployment, through the run's API generation: ``/api/v2`` and ``/api/v1`` list runs
        across DAGs; the experimental API lists none (None: such a run is read on its own)."""
        generation = ref.get("api")
        return generation if generation in (V2, V1) else None

    def list_shows_new_runs(self, scope: str) -> bool:
        return scope == V2  # updated_at_gte; Airflow 2's batch list shows only the runs that ended

    async def alist_scope_changes(
        self, scope: str, since: datetime, refs: Collection[Mapping[str, str]]
    ) -> list[Page]:
        """The deployment's runs that changed since ``since`` (``/api/v2``), or that ended since then
        among the DAGs of ``refs`` (``/api/v1``): see :meth:`RemoteAirflowApi.recent_runs_request`."""
        self._adopt({"api": scope})
        dag_ids = {ref["dag_id"] for ref in refs}
        return await self.alist_pages(
            lambda page: self.api.recent_runs_request(scope, since=since, dag_ids=dag_ids, page=page),
            lambda response: self.api.parse_recent_runs(response, scope),
        )

    # -- the run lifecycle --------------------------------------------------------------------

    def trigger_dag_run(
        self,
        dag_id: str,
        *,
        dag_run_id: str,
        conf: Mapping[str, Any] | None = None,
        logical_date: str | None = None,
    ) -> RemoteRun:
        """Trigger a run with our own run id, or re-attach to it when it already exists.

        A repeat of a trigger (a retried task, a retried request after a dropped
        connection) is refused by Airflow as a duplicate; the run is then read back
        by its id and returned. If no run with that id exists, the conflict was
        about something else (another run holds the logical date) and this fails.
        """
        body_conf = check_conf(conf)
        check_run_id(dag_run_id)
        generation = self.get_api_version()
        ref = self.api.ref_for(generation, dag_id, dag_run_id)
        request = self.api.trigger_request(
            generation, dag_id, dag_run_id=dag_run_id, conf=body_conf, logical_date=logical_date
        )
        try:
            response = self.call(request)
        except HttpError as exc:
            if not self.api.is_duplicate(generation, exc.status):
                raise
            return self._reattach(ref, exc, logical_date)
        ref = self.api.started_ref(ref, response)
        if self.api.run_in_trigger_response(generation):
            return self.api.parse_run(response, ref)
        return self._first_read(ref)

    def _reattach(self, ref: dict[str, str], conflict: HttpError, logical_date: str | None) -> RemoteRun:
        try:
            run = self.get_run(ref)
        except NotFoundError:
            taken = f"a run with logical date {logical_date}" if logical_date else "another run"
            if ref["api"] == EXPERIMENTAL:  # that API answers 400 to more than duplicates
                why = f"the answer above says why (e.g. {taken} may already exist there)"
            else:
                why = f"most likely {taken} already exists there. Choose another logical_date or dag_run_id"
            raise type(conflict)(
                f"{conflict} — but the remote Airflow has no run {ref['dag_run_id']!r} of DAG "
                f"{ref['dag_id']!r}, so this is not a repeat of this trigger: {why}.",
                status=conflict.status,
            ) from None
        self.log.warning(
            "Run %s of DAG %s already exists on the remote Airflow (%s): re-attaching to it instead "
            "of triggering another",
            run.run_id,
            ref["dag_id"],
            run.state.value,
        )
        if run.state.is_terminal:
            self.log.warning(
                "That run has already ended (%s); it is not run again. To run the DAG afresh, give "
                "another dag_run_id.",
                run.state.value,
            )
        return run

    def _first_read(self, ref: Mapping[str, str]) -> RemoteRun:
        try:
            return self.get_run(ref)
        except PipelinesError as exc:
            self.log.warning(
                "Run %s was triggered, but its first status read failed: %s", ref["dag_run_id"], exc
            )
            return RemoteRun(self.api.vendor, dict(ref), ref["dag_run_id"], RunState.UNKNOWN)

    def check_paused(self, run: RemoteRun, *, unpause: bool = False) -> bool:
        """Warn once when a queued run waits on a paused DAG; unpause it when asked. True if paused."""
        if run.state is not RunState.QUEUED:
            return False
        generation, dag_id = run.ref["api"], run.ref["dag_id"]
        try:
            paused = self.api.parse_paused(self.call(self.api.paused_request(generation, dag_id)))
        except PipelinesError as exc:
            self.log.warning(
                "Could not check whether DAG %s is paused on the remote Airflow: %s", dag_id, exc
            )
            return False
        if not paused:
            return False
        if unpause:
            try:
                self.call(self.api.unpause_request(generation, dag_id))
            except PipelinesError as exc:
                raise PipelinesError(
                    f"Run {run.run_id} of DAG {dag_id} was triggered, but the DAG is paused on the remote "
                    f"Airflow and could not be unpaused: {exc}"
                ) from None
            self.log.warning(
                "DAG %s was paused on the remote Airflow; unpaused it (unpause_if_paused=True) so that "
                "run %s can start",
                dag_id,
                run.run_id,
            )
        else:
            self.log.warning(
                "DAG %s is paused on the remote Airflow: run %s stays queued until the DAG is unpaused "
                "there (or set unpause_if_paused=True)",
                dag_id,
                run.run_id,
            )
        return True

    def status_request(self, ref: Mapping[str, str]) -> ApiRequest:
        self._adopt(ref)
        return super().status_request(ref)

    def cancel_request(self, ref: Mapping[str, str]) -> ApiRequest | None:
        self._adopt(ref)
        return super().cancel_request(ref)

    def held_wait_request(self, ref: Mapping[str, str], interval: float, timeout: float) -> ApiRequest:
        self._adopt(ref)
        return super().held_wait_request(ref, interval, timeout)

    def cancel_run(self, run: RemoteRun) -> None:
        """Mark the run failed (``PATCH … {"state": "failed"}``): Airflow's way to stop a run."""
        self._adopt(run.ref)
        super().cancel_run(run)
        self.log.warning(
            "Marked run %s of DAG %s failed on the remote Airflow", run.run_id, run.ref["dag_id"]
        )

    def explain_failure(self, run: RemoteRun) -> list[str]:
        """The failed task instances (task id, try number, state); the first line names them all."""
        if run.state is not RunState.FAILED:
            return []
        self._adopt(run.ref)
        request = self.api.failed_tasks_request(run.ref)
        dag_id = run.ref["dag_id"]
        if request is None:
            return [f"the experimental API lists no task instances: see DAG {dag_id} in the remote UI"]
        try:
            tasks = self.api.parse_failed_tasks(self.call(request))
        except PipelinesError as exc:
            return [f"could not list the failed tasks of DAG {dag_id}: {exc}"]
        if not tasks:
            return [f"no task of DAG {dag_id} failed: the run was marked failed (by hand, or at a deadline)"]
        names = ", ".join(f"{t.label} (try {t.try_number})" for t in tasks)
        return [f"failed tasks of DAG {dag_id}: {names}"] + [
            f"remote task {dag_id}.{t.label}: state {t.state}, try {t.try_number}" for t in tasks
        ]

    # -- anything else ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call any endpoint of the remote Airflow with the connection's auth and retries; return its JSON.

        ``path`` is relative to the deployment URL, e.g. ``api/v2/pools`` (see
        :meth:`get_api_version` for which root the deployment has). ``idempotent``
        decides whether failures that may have reached the server are retried; by
        default true for GET, HEAD, OPTIONS, PUT and DELETE. Returns the decoded JSON,
        or None for an empty body.
        """
        method = method.upper()
        if "://" in path or path.startswith("//"):
            raise ConfigurationError(
                f"path must be relative to the deployment URL (like 'api/v2/pools'), got {path!r}"
            )
        self.get_endpoint()
        if self._auth is not None and self._auth.needs_generation:
            self.get_api_version()  # a login is sent as a token or as basic auth, by generation
        response = self.call(
            ApiRequest(
                method,
                path.lstrip("/"),
                params=dict(params or {}),
                json=json,
                idempotent=method in _IDEMPOTENT_METHODS if idempotent is None else idempotent,
                timeout=timeout,
                what=f"{method} {path} on the remote Airflow",
            )
        )
        return response.json() if response.body.strip() else None

    def check_connection(self) -> tuple[bool, str]:
        """Probe the API, then make one cheap authenticated call; the reason says what failed."""
        try:
            generation = self.get_api_version()
            self.call(self.api.auth_check_request(generation))
        except PipelinesError as exc:
            return False, str(exc)
        auth = self._auth.describe() if self._auth else "no credentials"
        what = "the API answers" if generation == EXPERIMENTAL else "the credentials may list DAGs"
        return True, f"Connected: /{API_ROOTS[generation]} with {auth}; {what}"
