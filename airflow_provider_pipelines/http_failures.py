"""Why a request got no answer, told the same way by both transports.

The kind of failure is decided from the exception's type and its chain of causes
(``requests``/``urllib3``, ``aiohttp``, ``ssl``, ``socket``), never from its text.
Each kind has one message, which names the Airflow connection, the URL and the
likely fix, and one error type, which decides whether it is retried:

======================  =====================  =============================================
kind                    error                  retried
======================  =====================  =============================================
refused                 NotSentError           yes, even a start: nothing reached the server
dns                     NotSentError           yes (a resolver may fail for a moment)
connect timeout         NotSentError           yes
no route, other         NotSentError           yes
tls                     TlsError               no: a certificate or a scheme does not heal
read timeout            AmbiguousError         reads only: the server may have acted
dropped                 AmbiguousError         reads only
======================  =====================  =============================================

Like :mod:`airflow_provider_pipelines.http`, this module imports no HTTP library at
module level.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_provider_pipelines.errors import AmbiguousError, NotSentError, TlsError, TransportError

if TYPE_CHECKING:
    from airflow_provider_pipelines.http import Endpoint


class Failure(str, enum.Enum):
    """What went wrong before a response came back."""

    REFUSED = "refused"
    DNS = "dns"
    CONNECT_TIMEOUT = "connect_timeout"
    UNREACHABLE = "unreachable"
    TLS = "tls"
    READ_TIMEOUT = "read_timeout"
    DROPPED = "dropped"


def connect_timeout(timeout: float) -> float:
    """Seconds a request may take to open its connection: at most 10, and less than the request's
    whole ``timeout``, so that aiohttp (which bounds the whole request too) tells a connect timeout
    from a read timeout rather than racing the two."""
    return min(10.0, 0.9 * timeout)


# the attributes through which the libraries chain the error that caused theirs
_CAUSE_ATTRS = ("reason", "os_error", "certificate_error", "__cause__", "__context__")


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error it was caused by (through args, ``reason``, ``os_error``, ...)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [*getattr(current, "args", ()), *(getattr(current, attr, None) for attr in _CAUSE_ATTRS)]
        todo += [e for e in linked if isinstance(e, BaseException)]


#: a timeout as asyncio and aiohttp raise it: ``asyncio.TimeoutError`` is the builtin ``TimeoutError``
#: only from Python 3.11 on; on 3.10 it is a class of its own, which ``except TimeoutError`` misses
TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError, asyncio.TimeoutError)


def _first(
    exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]
) -> BaseException | None:
    return next((e for e in causes(exc) if isinstance(e, kind)), None)


def classify_requests(exc: BaseException) -> Failure:
    """The kind of a ``requests`` ConnectionError or Timeout."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.exceptions.SSLError):
        return Failure.TLS
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure.CONNECT_TIMEOUT
    if isinstance(exc, requests.exceptions.Timeout):
        return Failure.READ_TIMEOUT
    opening = _first(exc, NewConnectionError)  # raised while opening the connection: nothing was sent
    return _opening_failure(exc) if opening is not None else Failure.DROPPED


def classify_aiohttp(exc: BaseException) -> Failure:
    """The kind of an ``aiohttp`` ClientError or timeout."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        return Failure.TLS
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _opening_failure(exc)
    if isinstance(exc, aiohttp.ServerTimeoutError) and _is_connect_timeout(exc):
        return Failure.CONNECT_TIMEOUT
    if isinstance(exc, (*TIMEOUTS, aiohttp.ServerTimeoutError)):
        return Failure.READ_TIMEOUT
    return Failure.DROPPED


def _is_connect_timeout(exc: BaseException) -> bool:
    import aiohttp

    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)  # aiohttp >= 3.10
    return connect_timeout is not None and isinstance(exc, connect_timeout)


def _opening_failure(exc: BaseException) -> Failure:
    """The kind of a failure to open a connection, from the OS error underneath."""
    if _first(exc, socket.gaierror) is not None or _is_name_resolution_error(exc):
        return Failure.DNS
    if _first(exc, ConnectionRefusedError) is not None:
        return Failure.REFUSED
    if _first(exc, TIMEOUTS) is not None:
        return Failure.CONNECT_TIMEOUT
    return Failure.UNREACHABLE


def _is_name_resolution_error(exc: BaseException) -> bool:
    try:
        from urllib3.exceptions import NameResolutionError  # urllib3 >= 2
    except ImportError:  # pragma: no cover - urllib3 1.x chains a socket.gaierror instead
        return False
    return _first(exc, NameResolutionError) is not None


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _tls_detail(exc: BaseException) -> str:
    """What the TLS layer said, from the ssl error's attributes (not its text)."""
    # the ssl module's own error: aiohttp's ClientConnector{SSL,Certificate}Error are ssl errors too,
    # without the ssl module's attributes
    other = next(
        (e for e in causes(exc) if isinstance(e, ssl.SSLError) and type(e).__module__ == "ssl"), None
    )
    if isinstance(other, ssl.SSLCertVerificationError):
        return f"the certificate was not accepted: {other.verify_message or other.reason or 'not trusted'}"
    if isinstance(other, ssl.SSLError):
        reason = getattr(other, "reason", None)
        return f"{type(other).__name__}{f' {reason}' if reason else ''}"
    return type(exc).__name__


def _scheme_note(endpoint: Endpoint) -> str:
    if not endpoint.scheme_assumed:
        return ""
    return f" The host of Airflow connection {endpoint.conn_id!r} has no scheme, so https:// was assumed."


def _tls_fix(endpoint: Endpoint, host: str, port: int) -> str:
    conn = f"Airflow connection {endpoint.conn_id!r}"
    assumed = (
        f"The host of {conn} has no scheme, so https:// was assumed. " if endpoint.scheme_assumed else ""
    )
    return (
        f"{assumed}Does {host}:{port} speak https? If it serves plain http, write http:// in the host of "
        f"{conn}. Is its certificate trusted on this machine? A certificate from a private CA needs that "
        "CA in the trust store (or in REQUESTS_CA_BUNDLE / SSL_CERT_FILE); for tests only, the "
        "connection's extra verify_ssl=false turns the check off. Not retried."
    )


def _connect_fix(endpoint: Endpoint) -> str:
    return (
        f"Check the host and port of Airflow connection {endpoint.conn_id!r}, and that the service is up "
        f"and reachable from this machine."
    )


def transport_error(
    failure: Failure, exc: BaseException, *, what: str, url: str, endpoint: Endpoint, timeout: float
) -> TransportError:
    """The error to raise for a request that got no answer: its message names the connection, the URL
    and the likely fix, and its type says whether it may be retried."""
    host, port = _host_port(url)
    conn = f"Airflow connection {endpoint.conn_id!r}"
    head = f"{what}: could not connect to {url}"
    if failure is Failure.TLS:
        message = f"{head}: the TLS handshake with {host}:{port} failed ({_tls_detail(exc)}). "
        return TlsError(message + _tls_fix(endpoint, host, port), failure=failure.value)
    note = _scheme_note(endpoint)
    if failure is Failure.DNS:
        return NotSentError(
            f"{head}: DNS lookup of {host!r} failed (the name does not resolve).{note} Check the host "
            f"name in {conn} (its spelling), and that this machine's DNS can resolve it.",
            failure=failure.value,
        )
    if failure is Failure.REFUSED:
        return NotSentError(
            f"{head}: connection refused (nothing listens on {host}:{port}).{note} " + _connect_fix(endpoint),
            failure=failure.value,
        )
    if failure is Failure.CONNECT_TIMEOUT:
        return NotSentError(
            f"{head}: no connection within {connect_timeout(timeout):g}s.{note} Check the host and port "
            f"of {conn}, and that no firewall or proxy drops traffic from this machine to {host}:{port}.",
            failure=failure.value,
        )
    if failure is Failure.UNREACHABLE:
        why = _first(exc, OSError)
        detail = f" ({why.strerror})" if isinstance(why, OSError) and why.strerror else ""
        return NotSentError(f"{head}{detail}.{note} " + _connect_fix(endpoint), failure=failure.value)
    if failure is Failure.READ_TIMEOUT:
        return AmbiguousError(
            f"{what}: no response from {url} within {timeout:g}s. The service may be slow or stuck: if "
            f"it needs longer, raise the extra timeout of {conn} (seconds per request).",
            failure=failure.value,
        )
    return AmbiguousError(
        f"{what}: the connection to {url} broke before a response came back ({type(exc).__name__}). "
        f"If this keeps happening, check the proxies or load balancers between this machine and the "
        f"host of {conn}.",
        failure=failure.value,
    )
