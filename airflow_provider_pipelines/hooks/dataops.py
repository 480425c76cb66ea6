"""Hook for DataOps.live pipelines (GitLab API v4 underneath)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_pipelines._compat import mask_secret
from airflow_provider_pipelines.apis.base import Page
from airflow_provider_pipelines.apis.dataops import (
    ATTACHABLE_STATUSES,
    DEFAULT_HOST,
    DataOpsApi,
    Job,
    api_base_url,
    tail_of_trace,
)
from airflow_provider_pipelines.errors import (
    AmbiguousError,
    AuthError,
    ConfigurationError,
    PipelinesError,
    ServerError,
    StartUncertainError,
)
from airflow_provider_pipelines.forms import with_connection_form
from airflow_provider_pipelines.hooks.base import PipelineHook, extra_value
from airflow_provider_pipelines.http import Endpoint
from airflow_provider_pipelines.params.dataops import ATTEMPT_VARIABLE, MARKER_VARIABLE
from airflow_provider_pipelines.runs import RemoteRun, RunState

#: extras that may hold the pipeline trigger token (the second is Airflow 2's form-widget spelling)
TRIGGER_TOKEN_EXTRAS = ("trigger_token", "extra__dataops_live__trigger_token")
#: after a start whose answer was lost, look among the pipelines updated since this long before it
#: (room for a clock that differs from DataOps.live's)
START_LOOK_BACK = timedelta(minutes=10)


def may_have_started(exc: PipelinesError) -> bool:
    """True for a failed start that may nevertheless have created a pipeline.

    A dropped connection or a read timeout may come after DataOps.live acted; a
    gateway's 502 or 504 means the gateway gave up while the API may have gone on;
    and a 500 or 503 does not say at which point the API failed. Looking for the
    marker is cheap and safe, so every 5xx is looked after, and so is a 2xx whose
    answer could not be read.
    """
    return isinstance(exc, AmbiguousError | ServerError | StartUncertainError)


@with_connection_form
class DataOpsHook(PipelineHook):
    """Talks to DataOps.live through an Airflow connection of type ``dataops_live``.

    The connection's ``host`` is the DataOps.live address (default
    ``https://app.dataops.live``; ``/api/v4`` is added unless the host already
    ends with it). Its ``password`` is a personal, project or group access token,
    sent only in the ``PRIVATE-TOKEN`` header. The extra ``trigger_token`` may hold
    a pipeline trigger token: it is used, in the form body of the trigger endpoint,
    only when the connection has no access token. A trigger token can start
    pipelines but not list them, read their variables or (for private projects)
    read them at all. Other extras: ``timeout``, ``max_attempts``, ``backoff``,
    ``backoff_max``, ``verify_ssl``, as for every connection of this provider.

    :param dataops_conn_id: the Airflow connection id.
    """

    conn_name_attr = "dataops_conn_id"
    default_conn_name = "dataops_default"
    conn_type = "dataops_live"
    hook_name = "DataOps.live"
    api_class = DataOpsApi
    default_host = DEFAULT_HOST
    secret_label = "access token"
    api: DataOpsApi

    #: failed (or manual) jobs named in an explanation (one page of up to 100 is read)
    max_jobs_listed = 10
    #: failed jobs whose log tail is read
    max_logs_read = 3
    #: lines of each failed job's log shown
    log_lines = 20
    #: pages (of 100 pipelines) read per status while looking for a marker
    max_pages = 10
    #: pause before looking a second time for the pipeline an ambiguous start may have created
    recheck_pause = 3.0

    def __init__(self, dataops_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=dataops_conn_id, **kwargs)
        self._trigger_token: str | None = None
        self._has_access_token = False

    # -- connection -------------------------------------------------------------------------

    def auth_headers(self, conn: Any) -> dict[str, str]:
        token = (conn.password or "").strip()
        if not token:
            return {}
        mask_secret(token)
        return {"PRIVATE-TOKEN": token}

    def build_endpoint(self, conn: Any) -> Endpoint:
        extras = conn.extra_dejson or {}
        trigger_token = next(
            (value for k in TRIGGER_TOKEN_EXTRAS if (value := extra_value(extras, k)) is not None), None
        )
        if trigger_token is not None and not isinstance(trigger_token, str):
            raise ConfigurationError(f"connection {self.conn_id!r}: extra 'trigger_token' must be a string")
        trigger_token = (trigger_token or "").strip() or None
        if trigger_token:
            mask_secret(trigger_token)
        has_access_token = bool((conn.password or "").strip())
        if not has_access_token and not trigger_token:
            raise ConfigurationError(
                f"connection {self.conn_id!r} has no access token: put a personal, project or group access "
                "token in the connection's password field (or, to start pipelines only, a pipeline trigger "
                "token in the extra 'trigger_token')"
            )
        endpoint = super().build_endpoint(conn)
        if not has_access_token:
            self.log.warning(
                "Connection %r has only a pipeline trigger token: it can start pipelines, but status reads "
                "go without credentials (fine for public projects only), and no check for a pipeline an "
                "earlier try started is possible. Add an access token as the connection's password.",
                self.conn_id,
            )
        self._trigger_token = trigger_token
        self._has_access_token = has_access_token
        return replace(endpoint, base_url=api_base_url(endpoint.base_url))

    @property
    def has_access_token(self) -> bool:
        """True when the connection holds an access token (not only a trigger token)."""
        self.get_endpoint()
        return self._has_access_token

    # -- starting, or finding the pipeline again ----------------------------------------------

    def start_pipeline(
        self,
        project: str,
        ref: str = "main",
        variables: dict[str, str] | None = None,
        *,
        marker: str,
        look_first: bool = False,
    ) -> RemoteRun:
        """Start a pipeline that carries ``marker``, or re-attach to one that already does.

        :param look_first: look for a running or pending pipeline with the marker before
            starting (an earlier try of the task may have started one).

        A start whose answer was lost (dropped connection, timeout, 502/504) is
        followed by a look for the marker: found, the task re-attaches; not found,
        DataOps.live did not create a pipeline, and it is started once more. The
        run returned for a pipeline found again has ``extra["reattached"]`` set.
        """
        sent = {**(variables or {}), MARKER_VARIABLE: marker}
        if look_first:
            found = self.find_pipeline(project, ref, marker)
            if found is not None:
                self.log.info(
                    "Found DataOps.live %s with this task's marker %s=%s: an earlier try started it; "
                    "re-attaching instead of starting another",
                    found.describe(),
                    MARKER_VARIABLE,
                    marker,
                )
                return found
            self.log.info(
                "No running or pending pipeline on %r carries this task's marker %s=%s; starting one",
                ref,
                MARKER_VARIABLE,
                marker,
            )
        for attempt in (1, 2):
            # a value of this start request's own: the pipeline it may create is found by it
            nonce = secrets.token_hex(8)
            since = datetime.now(timezone.utc) - START_LOOK_BACK
            try:
                return self._start_once(project, ref, {**sent, ATTEMPT_VARIABLE: nonce})
            except (AmbiguousError, ServerError, StartUncertainError) as exc:
                if not may_have_started(exc):
                    raise
                found = self._look_after_ambiguous_start(project, ref, marker, exc, nonce=nonce, since=since)
            if found is not None:
                self.log.warning(
                    "The start's answer was lost, but DataOps.live did start %s (it carries marker %s=%s); "
                    "re-attaching to it",
                    found.describe(),
                    MARKER_VARIABLE,
                    marker,
                )
                return found
            if attempt == 1:
                self.log.warning(
                    "No pipeline, in any state, carries this start's %s (looked twice, %gs apart), so "
                    "DataOps.live did not create one; starting again",
                    ATTEMPT_VARIABLE,
                    self.recheck_pause,
                )
        raise StartUncertainError(
            f"Starting a DataOps.live pipeline on {ref!r} in project {project} failed twice without a "
            f"clear answer, and no pipeline with marker {MARKER_VARIABLE}={marker} was found; one may "
            "still appear. Check the project's pipelines before running the task again."
        )

    def _start_once(self, project: str, ref: str, variables: dict[str, str]) -> RemoteRun:
        names = ", ".join(sorted(variables))
        if self.has_access_token:
            request = self.api.start_request(project, ref, variables)
        else:
            assert self._trigger_token is not None  # build_endpoint refuses a connection with neither
            request = self.api.trigger_request(project, ref, variables, self._trigger_token)
        self.log.info(
            "Starting a DataOps.live pipeline on %r in project %s (%s; variables: %s)",
            ref,
            project,
            "access token" if self.has_access_token else "pipeline trigger token",
            names,
        )
        response = self.call(request)
        return self.read_start(response, lambda r: self.api.parse_started(r, project))

    def _look_after_ambiguous_start(
        self, project: str, ref: str, marker: str, exc: PipelinesError, *, nonce: str, since: datetime
    ) -> RemoteRun | None:
        if not self.has_access_token:
            raise StartUncertainError(
                f"{exc}. The pipeline may or may not have started. Connection {self.conn_id!r} has only a "
                "pipeline trigger token, which cannot list pipelines, so this task cannot check: look in "
                f"project {project} for a pipeline on {ref!r} with variable {MARKER_VARIABLE}={marker} "
                "before running the task again, or add an access token to the connection so that the task "
                "can check by itself."
            ) from None
        self.log.warning(
            "The start may have reached DataOps.live (%s); looking for the pipeline it may have created "
            "(variable %s=%s), in any state",
            exc,
            ATTEMPT_VARIABLE,
            nonce,
        )
        found = self._find_attempt(project, ref, nonce, since)
        if found is None and self.recheck_pause > 0:
            time.sleep(self.recheck_pause)
            found = self._find_attempt(project, ref, nonce, since)
        return found

    def _find_attempt(self, project: str, ref: str, nonce: str, since: datetime) -> RemoteRun | None:
        """The pipeline one start request created, finished or not (it may have failed at once: a
        pipeline file that does not parse), among those updated since just before that request."""
        updated_after = since.isoformat(timespec="seconds").replace("+00:00", "Z")
        return self._find_by(project, ref, [None], ATTEMPT_VARIABLE, nonce, updated_after=updated_after)

    def find_pipeline(self, project: str, ref: str, marker: str) -> RemoteRun | None:
        """A running or pending pipeline on ``ref`` carrying ``marker``, or None.

        Lists the pipelines of each not-yet-finished status (following pagination),
        then reads the variables of each until one carries the marker. Needs an
        access token; with only a trigger token it says so and returns None.
        """
        if not self.has_access_token:
            self.log.warning(
                "Connection %r has only a pipeline trigger token, which cannot list pipelines: this task "
                "cannot look for a pipeline an earlier try started (marker %s=%s), and starts a new one",
                self.conn_id,
                MARKER_VARIABLE,
                marker,
            )
            return None
        try:
            return self._find_marked(project, ref, marker)
        except PipelinesError as exc:
            self.log.error(
                "Could not look for a pipeline with marker %s=%s (%s); not starting one, which could "
                "duplicate a pipeline an earlier try started",
                MARKER_VARIABLE,
                marker,
                exc,
            )
            raise

    def _find_marked(self, project: str, ref: str, marker: str) -> RemoteRun | None:
        return self._find_by(project, ref, list(ATTACHABLE_STATUSES), MARKER_VARIABLE, marker)

    def _find_by(
        self,
        project: str,
        ref: str,
        statuses: list[str | None],
        variable: str,
        value: str,
        *,
        updated_after: str | None = None,
    ) -> RemoteRun | None:
        """The first pipeline on ``ref`` in one of ``statuses`` (None: any) whose ``variable`` is
        ``value``: list page by page, newest first, then read each candidate's variables."""
        seen: set[str] = set()
        for status in statuses:
            page: int | None = 1
            for _ in range(self.max_pages):
                if page is None:
                    break
                request = self.api.list_request(project, ref, status, page, updated_after=updated_after)
                listing = self.api.parse_page(self.call(request), project)
                for run in listing.runs:
                    # only pipelines started through the API can carry our variables
                    if run.run_id in seen or run.extra.get("source") not in (None, "api", "trigger"):
                        continue
                    seen.add(run.run_id)
                    variables = self.api.parse_variables(self.call(self.api.variables_request(run.ref)))
                    if variables.get(variable) == value:
                        return replace(run, extra={**run.extra, "reattached": True})
                page = listing.next_page
        return None

    # -- the pipelines that changed ------------------------------------------------------------

    async def alist_changed_runs(
        self, project: str, *, updated_after: datetime, ref: str | None = None, source: str | None = None
    ) -> list[Page]:
        """The project's pipelines updated after a time, all pages, least recently updated first (async).

        One list request per page (``updated_after``, ``order_by=updated_at``, ``sort=asc``, and
        ``ref`` / ``source`` when given); each run carries ``changed_at``, ``finished_at``,
        ``ref``, ``sha`` and ``source`` in its ``extra``.
        """
        return await self.alist_pages(
            lambda page: self.api.changed_runs_request(
                project, updated_after=updated_after, ref=ref, source=source, page=page
            ),
            lambda response: self.api.parse_changed_runs(response, project),
        )

    def list_scope(self, ref: Mapping[str, str]) -> str | None:
        """A project: one list of its pipelines serves every wait on it (``ref["project"]`` as given:
        an id and the same project's path are two scopes)."""
        return ref["project"]

    def list_shows_new_runs(self, scope: str) -> bool:
        return True  # a pipeline's updated_at moves with each change, its creation included

    async def alist_scope_changes(
        self, scope: str, since: datetime, refs: Collection[Mapping[str, str]]
    ) -> list[Page]:
        """The project's pipelines updated after ``since`` (:meth:`alist_changed_runs`)."""
        return await self.alist_changed_runs(scope, updated_after=since)

    # -- explaining ---------------------------------------------------------------------------

    def explain_failure(self, run: RemoteRun) -> list[str]:
        """Failed jobs (stage, name, link) and their log tails; for a blocked run, the manual job.

        The first line names the first failed (or waiting manual) job. Reading the
        jobs or a log may fail; that is said in a line, never raised.
        """
        if run.state is RunState.FAILED:
            return self._explain_failed(run)
        if run.state is RunState.BLOCKED:
            return self._explain_manual(run)
        return []

    def _jobs(self, run: RemoteRun, scope: str) -> tuple[list[Job], bool, str | None]:
        """The jobs in ``scope`` (oldest first), whether there are more than were read, or a problem."""
        try:
            jobs, more = self.api.parse_jobs(self.call(self.api.jobs_request(run.ref, scope)))
            return jobs, more, None
        except PipelinesError as exc:
            return [], False, f"could not list the {scope} jobs of DataOps.live pipeline {run.run_id}: {exc}"

    def _explain_failed(self, run: RemoteRun) -> list[str]:
        jobs, more, problem = self._jobs(run, "failed")
        if problem:
            return [problem]
        if not jobs:
            return [
                "no failed job is listed: the pipeline failed before any job ran (a pipeline file "
                f"error, say); see {run.url or 'the pipeline page'}"
            ]
        lines = [_job_line(job, "failed") for job in jobs[: self.max_jobs_listed]]
        if more or len(jobs) > self.max_jobs_listed:
            lines.append(f"... and more failed jobs: {run.url or 'see the pipeline page'}")
        for job in jobs[: self.max_logs_read]:
            lines.append(self._log_tail(run, job))
        return lines

    def _log_tail(self, run: RemoteRun, job: Job) -> str:
        try:
            body = self.call(self.api.trace_request(run.ref["project"], job.id)).body
        except PipelinesError as exc:
            return f"could not read the log of {job.describe()}: {exc}"
        tail = tail_of_trace(body, self.log_lines)
        if not tail:
            return f"the log of {job.describe()} is empty"
        return f"last {len(tail)} lines of the log of {job.describe()}:\n" + "\n".join(
            f"    {line}" for line in tail
        )

    def _explain_manual(self, run: RemoteRun) -> list[str]:
        jobs, _, problem = self._jobs(run, "manual")
        if problem:
            return [problem]
        if not jobs:
            return [f"no manual job is listed; see {run.url or 'the pipeline page'}"]
        return [_job_line(job, "waits for someone to run it") for job in jobs[: self.max_jobs_listed]]

    # -- connection test ----------------------------------------------------------------------

    def check_connection(self) -> tuple[bool, str]:
        """Check the connection with one cheap call: ``GET /user`` with the access token."""
        try:
            endpoint = self.get_endpoint()
        except ConfigurationError as exc:
            return False, str(exc)
        if not self._has_access_token:
            return self._test_trigger_only(endpoint)
        try:
            data = self.call(self.api.user_request()).json_object()
        except PipelinesError as exc:
            return False, str(exc)
        who = data.get("username") or data.get("name") or "an unnamed user"
        return True, f"Authenticated to {endpoint.base_url} as {who}"

    def _test_trigger_only(self, endpoint: Endpoint) -> tuple[bool, str]:
        try:
            self.call(self.api.version_request())
        except AuthError:
            return True, (
                f"Reached the DataOps.live API at {endpoint.base_url}. The connection holds only a "
                "pipeline trigger token, which works on the trigger endpoint alone: it cannot be checked "
                "without starting a pipeline"
            )
        except PipelinesError as exc:
            return False, str(exc)
        return True, f"Reached the DataOps.live API at {endpoint.base_url} (the trigger token is not checked)"


def _job_line(job: Job, what: str) -> str:
    reason = f" ({job.failure_reason})" if job.failure_reason and what == "failed" else ""
    where = f": {job.web_url}" if job.web_url else ""
    return f"{job.describe()} {what}{reason}{where}"
