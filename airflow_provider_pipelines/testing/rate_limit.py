"""The sandbox's rate-limit mode: N requests per window per token, answered the way GitLab answers.

GitLab (and so DataOps.live) counts each token's requests in fixed windows (a
minute on gitlab.com, aligned to the clock), answers every request with
``RateLimit-Limit``, ``RateLimit-Observed``, ``RateLimit-Remaining``,
``RateLimit-Reset`` (the unix time the window ends) and ``RateLimit-ResetTime``
(the same as an HTTP date), and a request past the limit with ``429``,
``Retry-After`` (seconds to the window's end) and a plain ``Retry later`` body.
Refused requests count too, so a client that keeps hammering stays refused.

Switched on through the admin plane (``SandboxClient.rate_limit``), for every fake
vendor or some of them.
"""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass, field
from typing import Any

#: the request headers a fake vendor takes a credential from, in the order they are looked at
TOKEN_HEADERS = ("PRIVATE-TOKEN", "Authorization", "x-api-key", "JOB-TOKEN")


@dataclass
class RateLimit:
    """A fixed-window limit per token.

    :param limit: requests allowed per window and token.
    :param window: the window's length in seconds (windows are aligned to multiples of it).
    :param announce: send the ``RateLimit-*`` headers on every answer, as GitLab does; False: only
        on a 429 (to test a client that keeps to a limit without being told).
    :param vendors: the fake vendors it applies to (None: all).
    """

    limit: int
    window: float = 60.0
    announce: bool = True
    vendors: list[str] | None = None
    #: (token, window index) -> requests counted
    counts: dict[tuple[str, int], int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RateLimit:
        """From the admin call's body; a ``ValueError`` names what is wrong."""
        limit, window = data.get("limit"), data.get("window", 60.0)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a whole number of requests >= 1, got {limit!r}")
        if isinstance(window, bool) or not isinstance(window, int | float) or not 1 <= window <= 3600:
            raise ValueError(f"window must be a number of seconds in [1, 3600], got {window!r}")
        vendors = data.get("vendors")
        names = vendors if isinstance(vendors, list) else [None]
        if vendors is not None and not all(isinstance(v, str) for v in names):
            raise ValueError(f"vendors must be a list of vendor names, got {vendors!r}")
        return cls(limit, float(window), bool(data.get("announce", True)), vendors)

    def applies_to(self, vendor: str) -> bool:
        return self.vendors is None or vendor in self.vendors

    def count(self, token: str, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request of ``token`` at unix time ``now``: (allowed, the headers to answer with)."""
        index = int(now // self.window)
        key = (token, index)
        observed = self.counts.get(key, 0) + 1
        self.counts[key] = observed
        if len(self.counts) > 10_000:  # forget windows that have ended
            for old in [k for k in self.counts if k[1] < index]:
                del self.counts[old]
        end = (index + 1) * self.window
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Observed": str(observed),
            "RateLimit-Remaining": str(max(0, self.limit - observed)),
            "RateLimit-Reset": str(math.ceil(end)),
            "RateLimit-ResetTime": email.utils.formatdate(math.ceil(end), usegmt=True),
        }
        if observed > self.limit:
            headers["Retry-After"] = str(max(1, math.ceil(end - now)))
            return False, headers
        return True, headers


def token_of(headers: Any, peer: str | None) -> str:
    """Whom a request counts against: its credential, else its address (as GitLab does)."""
    for name in TOKEN_HEADERS:
        value = headers.get(name)
        if value:
            return f"{name}:{value}"
    return f"ip:{(peer or '').rsplit(':', 1)[0]}"
