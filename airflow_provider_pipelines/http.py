"""Requests as values, one retry policy, and two small transports that send them.

Vendor API objects (``apis/``) build :class:`ApiRequest` values and parse
:class:`ApiResponse` values without touching a socket. :class:`SyncTransport`
(``requests``, used by hooks in workers) and :class:`AsyncTransport` (``aiohttp``,
used by the trigger in the triggerer) only move bytes; status checking
(:func:`check_response`) and retry decisions (:class:`RetryPolicy`) are shared.

Credentials that change while an endpoint is in use (a token fetched by logging
in, fetched again when the server refuses it) are an :class:`Auth` object on the
:class:`Endpoint`; both transports drive it the same way. Static credentials stay
plain headers.

Neither HTTP library is imported at module level: DAG files import operator
modules constantly, and each library costs tens of milliseconds to import.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import json
import logging
import random
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote, urlencode

from airflow_provider_pipelines.budget import (
    RequestBudget,
    budget_rest,
    loop_budget,
    process_budget,
    wait_turn,
)
from airflow_provider_pipelines.errors import (
    AmbiguousError,
    AuthError,
    ClientError,
    ConflictError,
    HttpError,
    NotFoundError,
    NotSentError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from airflow_provider_pipelines.http_failures import (
    Failure,
    classify_aiohttp,
    classify_requests,
    connect_timeout,
    transport_error,
)

if TYPE_CHECKING:
    import aiohttp
    import requests

log = logging.getLogger(__name__)

EXCERPT_CHARS = 200

R = TypeVar("R")


def quote_segment(value: str) -> str:
    """URL-encode one path segment (``group/project`` becomes ``group%2Fproject``)."""
    return quote(value, safe="")


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, without credentials (the endpoint adds those).

    :param method: HTTP method.
    :param path: path relative to the endpoint's base URL, already segment-encoded.
    :param params: query parameters; a tuple value repeats the parameter (``state=a&state=b``).
    :param json: a JSON body. It may hold a credential (a login for a token), so it is left out
        of ``repr``.
    :param form: a form body (``application/x-www-form-urlencoded``). It may hold a credential
        (a DataOps.live trigger token), so it is left out of ``repr``.
    :param idempotent: True when sending it twice does no harm (reads); starts are False.
    :param what: a few words for messages (``"start Dataform run"``).
    :param timeout: read timeout in seconds for this request, overriding the endpoint's.
    :param hints: HTTP status -> what the user should check, appended to that error's message.
    :param headers: headers of this request only (``Accept``, say); never credentials.
    """

    method: str
    path: str
    params: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    json: Any = field(default=None, repr=False)
    form: Mapping[str, str] | None = field(default=None, repr=False)
    idempotent: bool = True
    what: str = ""
    timeout: float | None = None
    hints: Mapping[int, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiResponse:
    """A response as plain values: status, lower-cased headers, body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    request: ApiRequest
    url: str

    def json(self) -> Any:
        """The body as JSON; a non-JSON body raises :class:`ResponseFormatError` with an excerpt."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise ResponseFormatError(
                f"{self.request.what or self.request.method} got HTTP {self.status} from {self.url} "
                f"with a body that is not JSON: {excerpt(self.body)!r}"
            ) from None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (a dict), else :class:`ResponseFormatError`."""
        data = self.json()
        if not isinstance(data, dict):
            raise ResponseFormatError(
                f"{self.request.what} got HTTP {self.status} from {self.url} with JSON that is not an "
                f"object: {excerpt(self.body)!r}"
            )
        return data


def excerpt(body: bytes, limit: int = EXCERPT_CHARS) -> str:
    """A short single-line excerpt of a body, for error messages."""
    text = body.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``RateLimit-Reset`` (unix time)."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = headers.get("ratelimit-reset")
    if reset and reset.strip().isdigit():
        number = float(reset)
        # GitLab sends a unix time; some servers send seconds-from-now.
        return max(0.0, number - now) if number > 1_000_000_000 else number
    return None


_STATUS_ERRORS: dict[int, type[HttpError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}


def check_response(response: ApiResponse, *, conn_id: str, auth: Auth | None = None) -> ApiResponse:
    """Return a 2xx response; turn anything else into the matching :class:`HttpError`.

    A 401 or 403 is explained by the endpoint's :class:`Auth` where it can tell a refused
    credential from a missing permission (:meth:`Auth.explain_refusal`).
    """
    status = response.status
    if 200 <= status < 300:
        return response
    cls = _STATUS_ERRORS.get(status) or (ServerError if status >= 500 else ClientError)
    action = response.request.what or f"{response.request.method} request"
    message = f"{action} failed: HTTP {status} from {response.url}"
    body = excerpt(response.body)
    if body:
        message += f": {body!r}"
    hint = response.request.hints.get(status)
    refusal = auth.explain_refusal(response) if cls is AuthError and auth is not None else None
    if refusal:
        message += f". {refusal}"
    elif hint:
        message += f". {hint}"
    elif cls is AuthError:
        message += (
            f". Check the credentials of Airflow connection {conn_id!r} "
            "(the token or key, and that it is allowed to do this)."
        )
    retry_after = parse_retry_after(response.headers) if status in (429, 503) else None
    if retry_after is not None:
        message += f" (the server asked to wait {retry_after:.0f}s before trying again)"
    raise cls(message, status=status, retry_after=retry_after, is_json=_is_json(response.body))


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried, how often and how long to wait between tries.

    Reads retry on transport failures, 429 and 5xx; a request that is not
    idempotent (a start) retries only where the server certainly did not act:
    it was never sent, or it was refused with 429. The wait is exponential with
    full jitter, and never shorter than a ``Retry-After`` the server sent. A
    ``Retry-After`` longer than ``retry_after_max`` is not slept on here: the error
    goes up with the wait it asked for, and the waiting loop (which knows the task's
    deadline) honours it without sleeping past the deadline.
    """

    max_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 120.0

    def is_retryable(self, exc: BaseException, request: ApiRequest) -> bool:
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and float(retry_after) > self.retry_after_max:
            return False
        if isinstance(exc, NotSentError | RateLimitedError):
            return True
        if isinstance(exc, AmbiguousError | ServerError):
            return request.idempotent
        return False

    def wait_seconds(self, attempt: int, exc: BaseException | None) -> float:
        """The pause before try ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** (attempt - 1)))
        pause = random.uniform(ceiling / 2, ceiling)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            pause = max(pause, float(retry_after))
        return pause

    # Most requests succeed at the first try, so that try goes out directly: a triggerer polls
    # thousands of times a minute and building a tenacity retrier costs about as much as the
    # request itself. tenacity takes over from the first failure, with the same rules.

    def _first_failure(self, request: ApiRequest, exc: Exception) -> float:
        """After try 1 failed: the pause before try 2, or re-raise when there is to be no try 2.

        The order of decisions is tenacity's: retry?, wait, stop?, log, then sleep.
        """
        if not self.is_retryable(exc, request):
            raise exc
        pause = self.wait_seconds(1, exc)
        if self.max_attempts <= 1:
            raise exc
        self._log_retry(request, 1, exc, pause)
        return pause

    def _log_retry(self, request: ApiRequest, attempt: int, exc: BaseException | None, pause: float) -> None:
        log.warning(
            "%s: try %d of %d failed (%s); retrying in %.1fs",
            request.what or request.method,
            attempt,
            self.max_attempts,
            _short(exc),
            pause,
        )

    def _retrying_kwargs(self, request: ApiRequest, done: int) -> dict[str, Any]:
        """tenacity's arguments for the tries after the first ``done`` (their numbers shifted by it)."""
        import tenacity

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            sleep = state.next_action.sleep if state.next_action else 0.0
            self._log_retry(request, state.attempt_number + done, exc, sleep)

        return {
            "stop": tenacity.stop_after_attempt(self.max_attempts - done),
            "wait": lambda state: self.wait_seconds(
                state.attempt_number + done, state.outcome.exception() if state.outcome else None
            ),
            "retry": tenacity.retry_if_exception(lambda exc: self.is_retryable(exc, request)),
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def call(self, request: ApiRequest, send: Any) -> ApiResponse:
        """Run ``send(request)`` under this policy (sync)."""
        try:
            response: ApiResponse = send(request)
            return response
        except Exception as exc:
            pause = self._first_failure(request, exc)
        time.sleep(pause)
        import tenacity

        for attempt in tenacity.Retrying(**self._retrying_kwargs(request, done=1)):
            with attempt:
                return send(request)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def acall(self, request: ApiRequest, send: Any) -> ApiResponse:
        """Run ``await send(request)`` under this policy (async)."""
        try:
            response: ApiResponse = await send(request)
            return response
        except Exception as exc:
            pause = self._first_failure(request, exc)
        await asyncio.sleep(pause)
        import tenacity

        async for attempt in tenacity.AsyncRetrying(**self._retrying_kwargs(request, done=1)):
            with attempt:
                return await send(request)
        raise AssertionError("unreachable: tenacity re-raises the last error")


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    text = str(exc)
    return f"{type(exc).__name__}: {text[:160]}"


class Auth:
    """Credentials that can change while an endpoint is in use, such as a token got by logging in.

    Sans-I/O like the vendor API objects: it says which headers to send, builds
    the request that fetches a new credential and reads its response; the
    transports send. Both transports drive it the same way: fetch a credential
    before the first request when none is held (:meth:`needs_renewal`); when the
    server refuses a credential fetched earlier (:meth:`should_renew`), fetch a new
    one and send the request once more, since a refused request did nothing. A
    credential fetched for this very request is never fetched twice. This base
    class sends nothing and never renews.
    """

    def headers(self) -> Mapping[str, str]:
        """The credential headers for the next request."""
        return {}

    def needs_renewal(self) -> bool:
        """True when a credential must be fetched before the next request."""
        return False

    def renewal(self) -> ApiRequest | None:
        """The request that fetches a new credential (sent without credentials), or None."""
        return None

    def renewed(self, response: ApiResponse) -> None:
        """Take the new credential from the response to :meth:`renewal`."""

    def should_renew(self, status: int) -> bool:
        """True when a request refused with ``status`` is worth a new credential and one more try."""
        return False

    def explain_refusal(self, response: ApiResponse) -> str | None:
        """For a 401 or 403 answer: whether the credential was refused or its user lacks a permission,
        and what to do, naming the connection; None leaves it to the request's hints."""
        return None


def _renew_and_retry(auth: Auth | None, exc: HttpError, fetched_now: bool) -> bool:
    """The one rule both transports follow after an error answer."""
    return (
        auth is not None and not fetched_now and auth.should_renew(exc.status) and auth.renewal() is not None
    )


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one vendor through one Airflow connection.

    ``headers`` carry static credentials and ``auth`` credentials that change
    (see :class:`Auth`); ``repr`` leaves both out so that an endpoint printed in a
    log or a traceback shows no secret.
    """

    conn_id: str
    base_url: str
    headers: Mapping[str, str] = field(repr=False)
    verify: bool = True
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    auth: Auth | None = field(default=None, repr=False, compare=False)
    #: True when the connection's host had no scheme and https:// was assumed (said in connect errors)
    scheme_assumed: bool = False
    #: the connection's ``max_requests_per_minute`` (None: no local cap; see :mod:`.budget`)
    max_requests_per_minute: float | None = None

    def url(self, request: ApiRequest) -> str:
        """The full URL of a request (never holds a secret: credentials live in headers)."""
        url = self.base_url.rstrip("/") + "/" + request.path.lstrip("/")
        if request.params:
            url += "?" + urlencode(request.params, doseq=True)
        return url


class SyncTransport:
    """Sends requests with ``requests`` over one keep-alive session per hook.

    Every request waits its turn in the connection's budget of this process
    (:func:`.budget.process_budget`), and every answer tells the budget what the
    vendor said about its rate limit.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._session: requests.Session | None = None
        self._budget: RequestBudget | None = None

    def _get_session(self) -> requests.Session:
        if self._session is None:
            import requests

            session = requests.Session()
            session.headers.update(self.endpoint.headers)
            session.verify = self.endpoint.verify
            self._session = session
        return self._session

    def _get_budget(self) -> RequestBudget:
        if self._budget is None:
            self._budget = process_budget(self.endpoint.conn_id, self.endpoint.max_requests_per_minute)
        return self._budget

    def send_once(self, request: ApiRequest) -> ApiResponse:
        """One try, with the endpoint's credentials (fetched or renewed first where needed)."""
        return self._authorised(request, self._exchange)

    def _authorised(self, request: ApiRequest, exchange: Callable[[ApiRequest, Mapping[str, str]], R]) -> R:
        """Run ``exchange(request, credential headers)``; fetch the credential first, or once more when
        the server refuses one fetched earlier (see :class:`Auth`)."""
        auth = self.endpoint.auth
        fetched_now = False
        if auth is not None and auth.needs_renewal():
            self._renew(auth)
            fetched_now = True
        try:
            return exchange(request, auth.headers() if auth else {})
        except HttpError as exc:
            if not _renew_and_retry(auth, exc, fetched_now):
                raise
            log.info("%s: credential refused (HTTP %d); fetching a new one", request.what, exc.status)
        assert auth is not None
        self._renew(auth)
        return exchange(request, auth.headers())

    def _renew(self, auth: Auth) -> None:
        renewal = auth.renewal()
        if renewal is not None:
            auth.renewed(self.endpoint.retry.call(renewal, lambda r: self._exchange(r, {})))

    def _request(
        self, request: ApiRequest, auth_headers: Mapping[str, str], *, stream: bool = False
    ) -> tuple[requests.Response, ApiResponse]:
        """Send one request in its turn; the response, and its status and headers as values (no body
        yet when ``stream``). Transport failures become :class:`NotSentError` / :class:`AmbiguousError`."""
        import requests

        url = self.endpoint.url(request)
        timeout = request.timeout or self.endpoint.timeout
        budget = self._get_budget()
        wait_turn(budget)
        try:
            resp = self._get_session().request(
                request.method,
                url,
                json=request.json,
                data=request.form,
                headers=_merged(request.headers, auth_headers) or None,
                # per request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's
                # verify=False, which would turn the connection's verify_ssl=false into a TLS error
                verify=self.endpoint.verify,
                timeout=(connect_timeout(timeout), timeout),
                stream=stream,
            )
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            with budget.lock:
                budget.failed()
            raise self._failed(exc, classify_requests(exc), request, url, timeout) from None
        headers = {k.lower(): v for k, v in resp.headers.items()}
        asked = _asked_wait(resp.status_code, headers)
        with budget.lock:
            budget.answered(headers, resp.status_code, time.monotonic(), time.time(), asked)
        head = ApiResponse(status=resp.status_code, headers=headers, body=b"", request=request, url=url)
        return resp, head

    def _failed(
        self, exc: BaseException, failure: Failure, request: ApiRequest, url: str, timeout: float
    ) -> TransportError:
        what = request.what or f"{request.method} request"
        return transport_error(failure, exc, what=what, url=url, endpoint=self.endpoint, timeout=timeout)

    def _check(self, head: ApiResponse, body: bytes) -> ApiResponse:
        return check_response(
            replace(head, body=body), conn_id=self.endpoint.conn_id, auth=self.endpoint.auth
        )

    def _exchange(self, request: ApiRequest, auth_headers: Mapping[str, str]) -> ApiResponse:
        resp, head = self._request(request, auth_headers)
        return self._check(head, resp.content)

    def send(self, request: ApiRequest) -> ApiResponse:
        """Send with the endpoint's retry policy; return a 2xx response or raise a typed error."""
        return self.endpoint.retry.call(request, self.send_once)

    @contextlib.contextmanager
    def stream_lines(self, request: ApiRequest) -> Iterator[tuple[ApiResponse, Iterator[bytes]]]:
        """Open a response the server keeps sending, line by line (NDJSON).

        Yields the answer's status and headers (its body empty) and an iterator over its
        non-empty lines as they arrive. Opening it is retried and fails as :meth:`send`. A
        stream that breaks, or sends nothing for longer than the request's timeout, raises
        :class:`AmbiguousError` from the iterator. Leaving the block closes the connection.
        """

        def open_stream(req: ApiRequest, auth_headers: Mapping[str, str]) -> tuple[Any, ApiResponse]:
            resp, head = self._request(req, auth_headers, stream=True)
            if not 200 <= resp.status_code < 300:
                with contextlib.closing(resp):
                    self._check(head, resp.content)
            return resp, head

        opened = self.endpoint.retry.call(request, lambda req: self._authorised(req, open_stream))
        resp, head = cast(tuple[Any, ApiResponse], opened)
        with contextlib.closing(resp):
            yield head, _lines(resp, request, head.url)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _lines(resp: requests.Response, request: ApiRequest, url: str) -> Iterator[bytes]:
    """The non-empty lines of a streamed response, as they arrive; a broken stream is an AmbiguousError."""
    import requests

    try:
        # chunk_size=None: hand over each piece as it arrives, not once 512 bytes have come
        for line in resp.iter_lines(chunk_size=None):
            if line.strip():
                yield line
    except requests.exceptions.RequestException as exc:
        raise AmbiguousError(
            f"{request.what}: the stream from {url} broke or fell silent ({type(exc).__name__})"
        ) from None


def _asked_wait(status: int, headers: Mapping[str, str]) -> float | None:
    """The wait a 429 (Retry-After, else RateLimit-Reset) or a 503 (Retry-After only) asked for."""
    if status == 429:
        return parse_retry_after(headers)
    if status == 503 and "retry-after" in headers:
        return parse_retry_after({"retry-after": headers["retry-after"]})
    return None


class AsyncTransport:
    """Sends requests with ``aiohttp`` over a session shared per (event loop, endpoint).

    A triggerer runs thousands of triggers in one event loop; one keep-alive
    connection pool per connection id keeps both CPU per poll and memory flat.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._send_once = self.send_once  # bound once: the policy is handed it on every poll
        self._budget: RequestBudget | None = None
        self._budget_loop: asyncio.AbstractEventLoop | None = None

    async def send_once(self, request: ApiRequest) -> ApiResponse:
        """One try, with the endpoint's credentials (fetched or renewed first where needed).

        The rules are the sync transport's. An endpoint (and its :class:`Auth`) may be shared
        by many triggers in one event loop: a credential is then fetched by one of them while
        the others wait for it, and a request refused while another renewed the credential
        is sent again with the new one instead of fetching yet another.
        """
        auth = self.endpoint.auth
        if auth is None:
            return await self._exchange(request, _NO_HEADERS)
        fetched_now = False
        if auth.needs_renewal():
            await self._renew(auth, refused=None)
            fetched_now = True
        sent = auth.headers()
        try:
            return await self._exchange(request, sent)
        except HttpError as exc:
            if not _renew_and_retry(auth, exc, fetched_now):
                raise
            log.info("%s: credential refused (HTTP %d); fetching a new one", request.what, exc.status)
        await self._renew(auth, refused=sent)
        return await self._exchange(request, auth.headers())

    async def _renew(self, auth: Auth, refused: Mapping[str, str] | None) -> None:
        """Fetch a new credential unless another request of this loop did while this one waited.

        ``refused``: the credential headers the server refused (None: none was held yet).
        """
        async with _renewal_lock(auth):
            if (auth.headers() != refused) if refused is not None else not auth.needs_renewal():
                return
            renewal = auth.renewal()
            if renewal is not None:
                auth.renewed(await self.endpoint.retry.acall(renewal, lambda r: self._exchange(r, {})))

    def _loop_budget(self) -> RequestBudget:
        """The connection's budget in the running loop (kept: a transport mostly lives in one loop)."""
        loop = asyncio.get_running_loop()
        if self._budget is None or self._budget_loop is not loop:
            self._budget = loop_budget(self.endpoint.conn_id, self.endpoint.max_requests_per_minute)
            self._budget_loop = loop
        return self._budget

    async def _exchange(self, request: ApiRequest, auth_headers: Mapping[str, str]) -> ApiResponse:
        session = _shared_session(self.endpoint)
        url = self.endpoint.url(request)
        budget = self._loop_budget()
        epoch = budget.epoch
        wait = budget.reserve(time.monotonic())
        if wait > 0.0:
            await budget_rest(budget, epoch, wait)
        try:
            response = await self._send_now(session, request, url, auth_headers)
        except BaseException:
            budget.failed()
            raise
        status, headers = response.status, response.headers
        budget.answered(headers, status, time.monotonic(), time.time(), _asked_wait(status, headers))
        return check_response(response, conn_id=self.endpoint.conn_id, auth=self.endpoint.auth)

    async def _send_now(
        self, session: aiohttp.ClientSession, request: ApiRequest, url: str, auth_headers: Mapping[str, str]
    ) -> ApiResponse:
        import aiohttp

        timeout = request.timeout or self.endpoint.timeout
        headers = _merged(self.endpoint.headers, auth_headers)
        if request.headers:
            headers = {**headers, **request.headers}
        try:
            async with session.request(
                request.method,
                url,
                json=request.json,
                data=request.form,
                headers=headers,
                ssl=self.endpoint.verify,
                timeout=_client_timeout(timeout),
            ) as resp:
                body = await resp.read()
                return ApiResponse(
                    status=resp.status,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    body=body,
                    request=request,
                    url=url,
                )
        # asyncio.TimeoutError is the builtin TimeoutError only from Python 3.11 on (http_failures.TIMEOUTS)
        except (aiohttp.ClientError, TimeoutError, asyncio.TimeoutError) as exc:
            # the same kinds and words as the sync transport's: a log reads the same from worker and triggerer
            what = request.what or f"{request.method} request"
            raise transport_error(
                classify_aiohttp(exc), exc, what=what, url=url, endpoint=self.endpoint, timeout=timeout
            ) from None

    async def send(self, request: ApiRequest) -> ApiResponse:
        """Send with the endpoint's retry policy; return a 2xx response or raise a typed error."""
        return await self.endpoint.retry.acall(request, self._send_once)


# What a request without credential headers of its own adds to the endpoint's: nothing.
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def _merged(static: Mapping[str, str], auth: Mapping[str, str]) -> Mapping[str, str]:
    """The endpoint's headers with the credential's; a new mapping only when both have some."""
    return {**static, **auth} if static and auth else (auth or static)


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float) -> aiohttp.ClientTimeout:
    """The ``aiohttp`` timeouts of a request (immutable, so one object per value serves every poll)."""
    import aiohttp

    return aiohttp.ClientTimeout(total=total, sock_connect=connect_timeout(total))


# Auth -> (event loop, lock): one credential fetch at a time per Auth and event loop.
_RENEWAL_LOCKS: weakref.WeakKeyDictionary[Auth, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _renewal_lock(auth: Auth) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    held = _RENEWAL_LOCKS.get(auth)
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Lock())
        _RENEWAL_LOCKS[auth] = held
    return held[1]


# (event loop, base URL, verify) -> [loop, session, leases]. Holding the loop object keeps
# its id from being reused by a later loop while the entry exists.
_SESSIONS: dict[tuple[int, str, bool], list[Any]] = {}


def _session_key(endpoint: Endpoint) -> tuple[int, str, bool]:
    return (id(asyncio.get_running_loop()), endpoint.base_url, endpoint.verify)


def _shared_session(endpoint: Endpoint) -> aiohttp.ClientSession:
    """One ``aiohttp`` session per event loop and base URL, created on first use (in a running loop)."""
    import aiohttp

    key = _session_key(endpoint)
    entry = _SESSIONS.get(key)
    if entry is None or entry[1].closed:
        for stale in [k for k, e in _SESSIONS.items() if e[0].is_closed()]:
            del _SESSIONS[stale]
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        entry = [asyncio.get_running_loop(), aiohttp.ClientSession(connector=connector), 0]
        _SESSIONS[key] = entry
    session: aiohttp.ClientSession = entry[1]
    return session


@contextlib.asynccontextmanager
async def session_lease(endpoint: Endpoint) -> AsyncIterator[None]:
    """Hold the shared session of an endpoint for a while; the last holder to leave closes it."""
    _shared_session(endpoint)
    key = _session_key(endpoint)
    _SESSIONS[key][2] += 1
    try:
        yield
    finally:
        entry = _SESSIONS.get(key)
        if entry is not None:
            entry[2] -= 1
            if entry[2] <= 0:
                del _SESSIONS[key]
                await entry[1].close()


async def close_shared_sessions() -> None:
    """Close the sessions of the running event loop (tests and orderly shutdowns)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _SESSIONS if k[0] == loop_id]:
        await _SESSIONS.pop(key)[1].close()
