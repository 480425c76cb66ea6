"""The provider's exceptions, one tree for every vendor.

::

    PipelinesError (an AirflowException: it fails the task)
     ├── ConfigurationError        bad parameter or connection; raised before any request
     ├── TransportError            no usable HTTP response came back
     │    ├── NotSentError         the request never reached the server (refused, DNS, connect timeout)
     │    ├── TlsError             the TLS handshake failed (not https, untrusted certificate): never retried
     │    └── AmbiguousError       it may have reached the server (read timeout, dropped connection)
     ├── HttpError                 the server answered with an error status
     │    ├── AuthError            401 / 403: never retried
     │    ├── NotFoundError        404
     │    ├── ConflictError        409
     │    ├── RateLimitedError     429, with the wait the server asked for
     │    ├── ServerError          5xx
     │    └── ClientError          any other 4xx
     ├── ResponseFormatError       a 2xx whose body is not the JSON we expected
     ├── StartUncertainError       a start failed in a way that may have started a run
     └── RunError                  the remote run did not succeed
          ├── RunFailedError       it ended failed / cancelled / skipped
          ├── RunBlockedError      it waited for a person past the task's grace period
          ├── RunTimeoutError      the wait's deadline passed first
          └── RunUnknownError      the vendor never once answered for the run: it may not exist

Whether a failure may be retried is decided from these types
(:meth:`airflow_provider_pipelines.http.RetryPolicy.is_retryable`), never from message text.
No message here ever contains a secret: messages are built from the request's
method and secret-free URL, the status, and a short excerpt of the body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_pipelines._compat import AirflowException

if TYPE_CHECKING:
    from airflow_provider_pipelines.runs import RemoteRun

F = TypeVar("F", bound=Callable[..., Any])


class PipelinesError(AirflowException):
    """Base of every error this provider raises."""


class ConfigurationError(PipelinesError, ValueError):
    """A parameter or a connection is wrong; the message names the field and what was expected."""


class TransportError(PipelinesError):
    """No usable HTTP response came back.

    :param failure: what went wrong (:class:`airflow_provider_pipelines.http_failures.Failure`'s
        value: ``refused``, ``dns``, ``tls``, ``connect_timeout``, ``read_timeout``, ...), or "".
    """

    def __init__(self, message: str, *, failure: str = "") -> None:
        super().__init__(message)
        self.failure = failure


class NotSentError(TransportError):
    """The request certainly did not reach the server: safe to retry, even a start."""


class TlsError(TransportError):
    """The TLS handshake failed: the host does not speak https, or its certificate is not trusted.

    Nothing was sent, but trying again cannot help, so it is never retried."""


class AmbiguousError(TransportError):
    """The request may have reached the server: only reads are retried."""


class HttpError(PipelinesError):
    """The server answered with an error status."""

    def __init__(
        self, message: str, *, status: int, retry_after: float | None = None, is_json: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        #: whether the error body was JSON (an API's answer) rather than, say, a proxy's HTML page
        self.is_json = is_json


class AuthError(HttpError):
    """401 or 403: the credentials are wrong or lack a permission."""


class NotFoundError(HttpError):
    """404."""


class ConflictError(HttpError):
    """409."""


class RateLimitedError(HttpError):
    """429: the server asked us to slow down."""


class ServerError(HttpError):
    """A 5xx answer."""


class ClientError(HttpError):
    """Any other 4xx answer."""


class ResponseFormatError(PipelinesError):
    """A success status whose body is not what the vendor documents."""


class StartUncertainError(PipelinesError):
    """A start failed after the request may have reached the vendor: a run may have started."""


class RunError(PipelinesError):
    """The remote run did not end in success.

    :param run: the run as last seen.
    :param reasons: the vendor's account of why (failed jobs or tasks, log tails), one line each;
        the message names the first.
    """

    def __init__(self, message: str, run: RemoteRun | None = None, reasons: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.run = run
        self.reasons = tuple(reasons)


class RunFailedError(RunError):
    """The run ended in a failed, cancelled or skipped state."""


class RunBlockedError(RunError):
    """The run waited for a person (a manual step) for longer than the task allows."""


class RunTimeoutError(RunError):
    """The deadline passed before the run ended."""


class RunUnknownError(RunError):
    """Every read of a run failed for longer than the task allows, and none ever succeeded: the
    vendor may not know the run (InVision answers a bare 500 for a run id it does not know)."""


def keeps_run_error(method: F) -> F:
    """Keep a :class:`RunError` that ends a task method on the task (``run_error``) before it goes on up.

    The OpenLineage FAIL event is built after the task failed, from the task object
    alone (``get_openlineage_facets_on_failure``): this is how it learns the run and
    the vendor's reasons without asking the vendor again.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except RunError as exc:
            self.run_error = exc
            raise

    return wrapper  # type: ignore[return-value]
