"""The hook every vendor shares: connection -> endpoint, sync and async calls, read and cancel.

A vendor hook sets a few class attributes (connection type, default
connection id, API class, default host) and says how its credentials go into
headers (:meth:`PipelineHook.auth_headers`), or, for credentials that change
while in use such as a login token, into an :class:`~airflow_provider_pipelines.http.Auth`
(:meth:`PipelineHook.build_auth`); everything else is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, TypeVar, cast
from urllib.parse import urlsplit

from airflow_provider_pipelines._compat import BaseHook, aget_connection, mask_secret
from airflow_provider_pipelines.apis.base import Page, VendorApi
from airflow_provider_pipelines.errors import (
    AmbiguousError,
    AuthError,
    ConfigurationError,
    HttpError,
    ResponseFormatError,
    ServerError,
    StartUncertainError,
    TransportError,
)
from airflow_provider_pipelines.http import (
    ApiRequest,
    ApiResponse,
    AsyncTransport,
    Auth,
    Endpoint,
    RetryPolicy,
    SyncTransport,
)
from airflow_provider_pipelines.runs import RemoteRun

log = logging.getLogger(__name__)

T = TypeVar("T")

#: pages one list read follows at most
MAX_LIST_PAGES = 20

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def extra_value(extras: Mapping[str, Any], key: str) -> Any:
    """An extra's value, or None when it is not set.

    Not set means absent, ``null``, or an empty (or blank) string: Airflow 3's
    connection form saves every declared field, with ``null`` for one left empty,
    and forms and secrets backends may send an empty string. Each means "use the
    default", never an invalid value.
    """
    value = extras.get(key)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def extra_bool(extras: Mapping[str, Any], key: str, default: bool, conn_id: str) -> bool:
    value = extra_value(extras, key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigurationError(f"connection {conn_id!r}: extra {key!r} must be true or false, got {value!r}")


def extra_number(extras: Mapping[str, Any], key: str, default: float, conn_id: str) -> float:
    value = extra_value(extras, key)
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ConfigurationError(
            f"connection {conn_id!r}: extra {key!r} must be a positive number, got {value!r}"
        )
    return number


def extra_limit(extras: Mapping[str, Any], key: str, conn_id: str) -> float | None:
    """A positive number, or None when the extra is not set (no limit)."""
    if extra_value(extras, key) is None:
        return None
    return extra_number(extras, key, 0.0, conn_id)


#: the port a scheme implies: a Port field that says it adds nothing to the URL
_SCHEME_PORTS = {"http": 80, "https": 443}


def resolve_base_url(conn: Any, default_host: str | None, conn_id: str) -> str:
    """The API base URL from a connection: scheme, host, port and path prefix all honoured.

    ``host`` may be a bare name (``api.dataform.co``: https is assumed) or a URL
    with a scheme and path (``http://127.0.0.1:8080/invision``). The connection's
    ``port`` is used when the host names none; a host that names another port is
    refused. The scheme's own port (443 for https) is left out of the URL.
    """
    host = (conn.host or "").strip() or default_host
    if not host:
        raise ConfigurationError(
            f"connection {conn_id!r} has no host: set it to the API base URL, e.g. https://api.example.com"
        )
    if "://" not in host:
        host = "https://" + host
    parts = urlsplit(host)
    try:
        host_port = parts.port
    except ValueError:
        host_port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or host_port == -1:
        raise ConfigurationError(
            f"connection {conn_id!r}: host {host!r} is not an http(s) URL "
            "(expected something like https://api.example.com/prefix)"
        )
    if parts.username or parts.password or parts.query:
        raise ConfigurationError(
            f"connection {conn_id!r}: the host must not carry credentials or a query string; "
            "put the token in the connection's password field"
        )
    port = _port(conn.port, conn_id)
    if port and host_port is not None and port != host_port:
        raise ConfigurationError(
            f"connection {conn_id!r}: the host names port {host_port} but the port field says {port}; "
            "make them agree or leave the port field empty"
        )
    netloc = parts.netloc
    if port and host_port is None and port != _SCHEME_PORTS[parts.scheme]:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _port(value: Any, conn_id: str) -> int | None:
    """The connection's port field as a number; None when empty (Airflow 3's Test button sends 0)."""
    if value in (None, ""):
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigurationError(
            f"connection {conn_id!r}: port must be a number from 1 to 65535, got {value!r}"
        )
    return port or None


def scheme_assumed(conn: Any, default_host: str | None) -> bool:
    """True when :func:`resolve_base_url` assumed https:// for a host given without a scheme."""
    host = (conn.host or "").strip() or default_host or ""
    return bool(host) and "://" not in host


def _is_not_found(exc: Exception) -> bool:
    """True for Airflow's "connection not defined" (only that: a broken secrets backend or an invalid
    connection URI must show its own message)."""
    return any(c.__name__ == "AirflowNotFoundException" for c in type(exc).__mro__)


class PipelineHook(BaseHook):
    """Base hook: one Airflow connection to one vendor's API.

    :param conn_id: the Airflow connection id.
    """

    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    api_class: ClassVar[type[VendorApi]]
    #: used when the connection has no host
    default_host: ClassVar[str | None] = None
    #: the label of the secret field, for messages ("API token", "API key")
    secret_label: ClassVar[str] = "API token"

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self.api = self.api_class()
        self._endpoint: Endpoint | None = None
        self._sync: SyncTransport | None = None
        self._async: AsyncTransport | None = None

    # -- connection -> endpoint -------------------------------------------------------------

    def auth_headers(self, conn: Any) -> dict[str, str]:
        """Headers that carry the credentials. The default: ``Authorization: Bearer <password>``."""
        return {"Authorization": f"Bearer {self.require_secret(conn)}"}

    def build_auth(self, conn: Any) -> Auth | None:
        """Credentials that change while in use (a token fetched by login); None: static headers only."""
        return None

    def require_secret(self, conn: Any, field: str = "password") -> str:
        secret = (getattr(conn, field, None) or "").strip()
        if not secret:
            raise ConfigurationError(
                f"connection {self.conn_id!r} has no {self.secret_label}: put it in the connection's "
                f"{field} field"
            )
        mask_secret(secret)
        return secret

    def build_endpoint(self, conn: Any) -> Endpoint:
        """Turn a connection into an :class:`Endpoint`; every check happens before any request."""
        extras = conn.extra_dejson or {}
        verify = extra_bool(extras, "verify_ssl", True, self.conn_id)
        if not verify:
            log.warning(
                "TLS certificate verification is OFF for connection %r (extra verify_ssl=false)", self.conn_id
            )
        return Endpoint(
            conn_id=self.conn_id,
            base_url=resolve_base_url(conn, self.default_host, self.conn_id),
            headers=self.auth_headers(conn),
            auth=self.build_auth(conn),
            verify=verify,
            scheme_assumed=scheme_assumed(conn, self.default_host),
            timeout=extra_number(extras, "timeout", 30.0, self.conn_id),
            retry=RetryPolicy(
                max_attempts=int(extra_number(extras, "max_attempts", 5, self.conn_id)),
                backoff_initial=extra_number(extras, "backoff", 1.0, self.conn_id),
                backoff_max=extra_number(extras, "backoff_max", 30.0, self.conn_id),
            ),
            max_requests_per_minute=extra_limit(extras, "max_requests_per_minute", self.conn_id),
        )

    def _missing(self) -> ConfigurationError:
        return ConfigurationError(
            f"Airflow connection {self.conn_id!r} is not defined: create a connection of type "
            f"{self.conn_type!r} with that id (host = the API base URL, password = the {self.secret_label})"
        )

    def get_endpoint(self) -> Endpoint:
        if self._endpoint is None:
            try:
                conn = self.get_connection(self.conn_id)
            except ConfigurationError:
                raise
            except Exception as exc:
                if _is_not_found(exc):
                    raise self._missing() from None
                raise
            self._endpoint = self.build_endpoint(conn)
        return self._endpoint

    async def aget_endpoint(self) -> Endpoint:
        if self._endpoint is None:
            self._endpoint = self.build_endpoint(await self._afetch_connection())
        return self._endpoint

    async def _afetch_connection(self) -> Any:
        """The connection, fetched without blocking the event loop; a missing one says how to make it."""
        try:
            return await aget_connection(type(self), self.conn_id)
        except Exception as exc:
            if _is_not_found(exc):
                raise self._missing() from None
            raise

    @classmethod
    def shared_variant(cls, ref: Mapping[str, str]) -> str:
        """What, besides the connection, a hook shared by triggers must have in common (see
        :func:`shared_hook`): nothing by default."""
        return ""

    # -- I/O ----------------------------------------------------------------------------------

    def _sync_transport(self) -> SyncTransport:
        if self._sync is None:
            self._sync = SyncTransport(self.get_endpoint())
        return self._sync

    def call(self, request: ApiRequest) -> ApiResponse:
        """Send a request from the worker, with the connection's auth and the retry policy."""
        return self._sync_transport().send(request)

    def stream_lines(self, request: ApiRequest) -> contextlib.AbstractContextManager[Any]:
        """Open an answer the vendor keeps sending, from the worker: ``(head, lines)`` (see
        :meth:`SyncTransport.stream_lines`). One try; the caller decides what a failure means."""
        return self._sync_transport().stream_lines(request)

    def call_start(self, request: ApiRequest) -> ApiResponse:
        """Send a start. When it may have reached the vendor but no answer says so, say a run may exist.

        The retry policy already refuses to resend a start after such a failure;
        this turns the failure into a :class:`StartUncertainError` whose message
        tells the user to look in the vendor before retrying the task.
        """
        try:
            return self.call(request)
        except (AmbiguousError, ServerError) as exc:
            raise StartUncertainError(
                f"{exc} -- the request may have reached {self.api.display_name}, so a run may have "
                f"started; look for it in {self.api.display_name} before running this task again"
            ) from None

    def read_start(self, response: ApiResponse, parse: Callable[[ApiResponse], T]) -> T:
        """Read a start's 2xx answer with ``parse``. An answer that cannot be read (a proxy's HTML
        page, a body without the run id) came after the vendor accepted the start, so a run may exist."""
        try:
            return parse(response)
        except ResponseFormatError as exc:
            raise StartUncertainError(
                f"{exc} -- {self.api.display_name} accepted the start (HTTP {response.status}) but its "
                f"answer could not be read, so a run may have started; look for it in "
                f"{self.api.display_name} before running this task again"
            ) from None

    async def acall(self, request: ApiRequest) -> ApiResponse:
        """Send a request from the triggerer's event loop, on the shared session."""
        if self._async is None:
            self._async = AsyncTransport(await self.aget_endpoint())
        return await self._async.send(request)

    async def alist_pages(
        self,
        request_for: Callable[[int | None], ApiRequest],
        parse: Callable[[ApiResponse], Page],
        *,
        max_pages: int = MAX_LIST_PAGES,
    ) -> list[Page]:
        """Read a list to its end, async: one request per page, each under the retry policy.

        ``request_for(None)`` asks for the first page and ``request_for(page.next_page)`` for each
        next one; ``parse`` reads a page. At most ``max_pages`` are read (a warning says so when the
        list goes on): a reader that moves a cursor from the pages it got reads the rest next time.
        """
        pages = [parse(await self.acall(request_for(None)))]
        while pages[-1].next_page is not None:
            if len(pages) >= max_pages:
                log.warning(
                    "%s: read %d pages of a list that goes on; the rest is read next time",
                    self.api.display_name,
                    len(pages),
                )
                break
            pages.append(parse(await self.acall(request_for(pages[-1].next_page))))
        return pages

    # -- the lifecycle's vendor-neutral operations ---------------------------------------------

    def status_request(self, ref: Mapping[str, str]) -> ApiRequest:
        """The request that reads a run's state. A trigger builds it once and sends it on every poll."""
        return self.api.read_request(ref)

    def get_run(self, ref: Mapping[str, str]) -> RemoteRun:
        """Read a run's current state."""
        return self.api.parse_run(self.call(self.status_request(ref)), ref)

    async def aget_run(self, ref: Mapping[str, str]) -> RemoteRun:
        """Read a run's current state, async."""
        return await self.aread_run(self.status_request(ref), ref)

    async def aread_run(self, request: ApiRequest, ref: Mapping[str, str]) -> RemoteRun:
        """Send a request from :meth:`status_request` of ``ref`` and read the run from the answer, async."""
        return self.api.parse_run(await self.acall(request), ref)

    # -- coalesced status reads (triggers/poller.py) -------------------------------------------

    def list_scope(self, ref: Mapping[str, str]) -> str | None:
        """What one list of the vendor's changed runs covers for this run, or None where the vendor
        cannot list its runs (a run of such a vendor is read on its own).

        Waits on one connection whose runs share a scope share one coalesced poller in the
        triggerer's event loop: a DataOps.live project, a remote Airflow deployment's API.
        """
        return None

    def list_shows_new_runs(self, scope: str) -> bool:
        """Whether :meth:`alist_scope_changes` shows every run that changed after the time asked, so
        also a run begun after it (False: it shows only some changes, e.g. the runs that ended)."""
        return False

    async def alist_scope_changes(
        self, scope: str, since: datetime, refs: Collection[Mapping[str, str]]
    ) -> list[Page]:
        """The runs of ``scope`` that changed since a time, all pages (async), for the coalesced poller.

        ``refs`` are the runs waited on (a vendor whose list must name them uses them). Each
        listed run carries the ``ref`` a read of it would take. Only called where
        :meth:`list_scope` gave a scope.
        """
        raise NotImplementedError(f"{self.api.display_name} lists no runs")

    def cancel_request(self, ref: Mapping[str, str]) -> ApiRequest | None:
        """The request that cancels a run, or None where the vendor offers no cancel."""
        return self.api.cancel_request(ref)

    def cancel_run(self, run: RemoteRun) -> None:
        """Cancel a run; only called where the API object offers a cancel request."""
        request = self.cancel_request(run.ref)
        if request is None:
            raise ConfigurationError(f"{self.api.display_name} offers no way to cancel a run")
        self.call(request)

    def explain_failure(self, run: RemoteRun) -> list[str]:
        """Lines that say why a run failed (failed jobs, log tails); the first goes in the error."""
        return []

    def offers_held_wait(self, ref: Mapping[str, str]) -> bool:
        """True where the vendor may hold one request open until the run ends (``held_wait.py``)."""
        return self.api.offers_held_wait(ref)

    def held_wait_request(self, ref: Mapping[str, str], interval: float, timeout: float) -> ApiRequest:
        """The held request for ``ref`` (see :meth:`.VendorApi.held_wait_request`)."""
        return self.api.held_wait_request(ref, interval, timeout)

    # -- Airflow's connection test ------------------------------------------------------------

    def probe_request(self) -> ApiRequest | None:
        """A cheap request that needs valid credentials, for :meth:`test_connection`; None if none exists."""
        return None

    def probe_verdict(self, status: int, is_json: bool, url: str) -> tuple[bool, str]:
        """Read the probe's non-auth answer; vendors say what their statuses mean."""
        if 200 <= status < 300:
            return True, f"{self.api.display_name} accepted the credentials at {url}"
        return False, f"{url} answered HTTP {status}; this is not what {self.api.display_name} answers"

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's connection test (the UI's Test button, ``airflow connections test``).

        The answer names the connection by the user's id, also when Airflow's REST
        endpoint runs the test under a made-up one (see :mod:`.connection_check`).
        """
        from airflow_provider_pipelines.hooks.connection_check import name_users_connection

        with self.one_try():
            ok, message = self.check_connection()
        return ok, name_users_connection(message, self.conn_id)

    def check_connection(self) -> tuple[bool, str]:
        """The connection test itself: one cheap request, no retries; vendors may override it."""
        try:
            endpoint = self.get_endpoint()
        except ConfigurationError as exc:
            return False, str(exc)
        request = self.probe_request()
        if request is None:
            return True, "Connection settings are complete; no request was sent"
        once = SyncTransport(replace(endpoint, retry=RetryPolicy(max_attempts=1)))
        url = endpoint.url(request)
        try:
            response = once.send_once(request)
        except AuthError as exc:
            return False, (
                f"{self.api.display_name} refused the {self.secret_label} (HTTP {exc.status} from {url}): "
                f"check the connection's password field"
            )
        except TransportError as exc:  # names the connection, the URL and the likely fix
            return False, str(exc)
        except HttpError as exc:
            return self.probe_verdict(exc.status, exc.is_json, url)
        finally:
            once.close()
        return self.probe_verdict(response.status, True, url)

    @contextlib.contextmanager
    def one_try(self) -> Iterator[None]:
        """Meanwhile, every request of this hook gets a single try: a connection test answers in
        seconds, with the first failure's reason, instead of after a round of retries. A connection
        that cannot be read is left to the test to report."""
        try:
            endpoint = self.get_endpoint()
        except ConfigurationError:
            yield
            return
        self.close()
        self._endpoint = replace(endpoint, retry=RetryPolicy(max_attempts=1))
        try:
            yield
        finally:
            self.close()
            self._endpoint = endpoint

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None


# -- one hook per connection and event loop, shared by the triggers on it ---------------------------

#: seconds a shared hook's connection is trusted; the first trigger to start after that looks the
#: connection up again, and if it changed (a rotated token, say) triggers from then on get a new hook
SHARED_HOOK_RECHECK = 60.0

H = TypeVar("H", bound=PipelineHook)


@dataclass(eq=False)
class _Shared:
    loop: asyncio.AbstractEventLoop  # held, so that its id is not reused while the entry lives
    hook: PipelineHook
    fingerprint: str
    checked: float
    leases: int = 0


# (event loop id, hook class, connection id, variant) -> the shared hook and its leases
_SHARED: dict[tuple[int, type, str, str], _Shared] = {}
# the same keys -> the lookup under way (triggers that start together wait for one lookup)
_LOOKUPS: dict[tuple[int, type, str, str], asyncio.Task[_Shared]] = {}


@contextlib.asynccontextmanager
async def shared_hook(cls: type[H], conn_id: str, variant: str = "") -> AsyncIterator[H]:
    """Lease the hook that every trigger on ``conn_id`` in this event loop shares.

    A triggerer may hold thousands of triggers on one connection: they then make
    one connection lookup (and, for a login, one token fetch) instead of one each,
    and share one endpoint and credential. ``variant`` (:meth:`PipelineHook.shared_variant`)
    keeps apart triggers that need different hook state on one connection. A trigger
    keeps the hook it got until it ends, as it did when each trigger built its own; the
    last one to leave drops it. The hook comes with its endpoint resolved; a missing or
    invalid connection raises here, for each trigger that asked.
    """
    loop = asyncio.get_running_loop()
    key = (id(loop), cls, conn_id, variant)
    entry = _SHARED.get(key)
    if entry is None or time.monotonic() - entry.checked >= SHARED_HOOK_RECHECK:
        lookup = _LOOKUPS.get(key)
        if lookup is None:
            lookup = loop.create_task(_look_up(key, cls, conn_id))
            _LOOKUPS[key] = lookup
            lookup.add_done_callback(lambda done: _LOOKUPS.pop(key) if _LOOKUPS.get(key) is done else None)
        entry = await asyncio.shield(lookup)
    entry.leases += 1
    try:
        yield cast(H, entry.hook)
    finally:
        entry.leases -= 1
        if entry.leases <= 0 and _SHARED.get(key) is entry:
            del _SHARED[key]


async def _look_up(key: tuple[int, type, str, str], cls: type[PipelineHook], conn_id: str) -> _Shared:
    hook = cls(conn_id)
    conn = await hook._afetch_connection()
    fingerprint = _fingerprint(conn)
    current = _SHARED.get(key)
    if current is not None and current.fingerprint == fingerprint:
        current.checked = time.monotonic()
        return current
    hook._endpoint = hook.build_endpoint(conn)
    for stale in [k for k, e in _SHARED.items() if e.loop.is_closed()]:
        del _SHARED[stale]
    entry = _Shared(asyncio.get_running_loop(), hook, fingerprint, time.monotonic())
    _SHARED[key] = entry
    return entry


def _fingerprint(conn: Any) -> str:
    """A digest of everything in a connection, to notice that it changed (without keeping a copy)."""
    fields = ("conn_type", "host", "schema", "login", "password", "port", "extra")
    return hashlib.sha256(repr([getattr(conn, f, None) for f in fields]).encode()).hexdigest()
