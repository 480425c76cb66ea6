"""What every vendor API object offers to the shared lifecycle, and the shape of a listed page.

Vendors that can list runs (DataOps.live, a remote Airflow) also build a *changed
runs* list request and parse its pages into :class:`Page` values. Each run on
such a page carries, in ``RemoteRun.extra``:

* ``changed_at``: the ISO time of the field the list is filtered and ordered by
  (GitLab's ``updated_at``, Airflow's ``end_date``), or None when the row has none;
* ``finished_at``: the ISO time the run ended, as well as the vendor tells it (None
  while it goes on);

plus the vendor's own facts (a DataOps.live pipeline's ``ref``, ``sha`` and
``source``; a remote Airflow run's ``conf``).
"""

from __future__ import annotations

import email.utils
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

from airflow_provider_pipelines.errors import ResponseFormatError
from airflow_provider_pipelines.http import ApiRequest, ApiResponse, excerpt
from airflow_provider_pipelines.isotime import parse_iso
from airflow_provider_pipelines.runs import RemoteRun, StatusTable


@dataclass(frozen=True)
class Page:
    """One page of a list of runs.

    :param runs: the runs on the page, in the list's order.
    :param next_page: what asks for the next page (a page number, or an offset: the vendor's
        request builder knows which), None on the last page.
    :param server_time: the vendor's clock when it answered (its ``Date`` header), when it sent one.
    """

    runs: list[RemoteRun]
    next_page: int | None
    server_time: datetime | None = None


def server_time(response: ApiResponse) -> datetime | None:
    """The time in a response's ``Date`` header (UTC, to the second), or None when it has none."""
    value = response.headers.get("date")
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


def iso_utc(value: Any) -> str | None:
    """A vendor's time text as ISO 8601 in UTC (``...+00:00``), or None when it is absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = parse_iso(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat()


def query_time(when: datetime) -> str:
    """A time as list filters take it: ISO 8601 in UTC with milliseconds and a ``Z``."""
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class VendorApi(ABC):
    """Requests and parsers for one vendor; the hook and the trigger run them.

    A run is addressed by a ``ref``: a small mapping of strings holding the ids
    needed to read it again. It is what the trigger serialises.
    """

    #: registry key, as used in trigger kwargs and ``RemoteRun.vendor``
    vendor: ClassVar[str]
    #: name shown to people
    display_name: ClassVar[str]
    #: the vendor's status words and what they mean
    statuses: ClassVar[StatusTable]
    #: the ``ref`` keys a run needs
    ref_keys: ClassVar[tuple[str, ...]]
    #: the kind of remote run, for OpenLineage (``jobType`` of the ``pipelines_remoteRun`` facet)
    lineage_job_type: ClassVar[str]

    @abstractmethod
    def read_request(self, ref: Mapping[str, str]) -> ApiRequest:
        """The request that reads a run's status."""

    @abstractmethod
    def parse_run(self, response: ApiResponse, ref: Mapping[str, str]) -> RemoteRun:
        """Turn a status response into a :class:`RemoteRun`."""

    def cancel_request(self, ref: Mapping[str, str]) -> ApiRequest | None:
        """The request that cancels a run, or None when the vendor has no cancel."""
        return None

    # -- a held wait: one request the vendor keeps open, sending the run's state as it goes

    def offers_held_wait(self, ref: Mapping[str, str]) -> bool:
        """True where the vendor may keep a request open until the run ends (see ``held_wait.py``)."""
        return False

    def held_wait_request(self, ref: Mapping[str, str], interval: float, timeout: float) -> ApiRequest:
        """The held request: the vendor sends a line every ``interval`` seconds until the run ends;
        ``timeout``: how long the client waits for any line before it gives the stream up."""
        raise NotImplementedError(f"{self.display_name} offers no held wait")

    def parse_held_line(self, line: bytes, ref: Mapping[str, str], head: ApiResponse) -> RemoteRun:
        """One line of a held wait as a run (``head``: the answer's status and headers); a line that is
        not what the vendor documents raises :class:`ResponseFormatError`."""
        raise NotImplementedError(f"{self.display_name} offers no held wait")

    def check_ref(self, ref: Mapping[str, Any]) -> dict[str, str]:
        """A ref with exactly the expected string keys, else ``ValueError``."""
        missing = [k for k in self.ref_keys if not isinstance(ref.get(k), str) or not ref.get(k)]
        if missing:
            raise ValueError(f"{self.display_name} run reference lacks {', '.join(missing)}: {dict(ref)!r}")
        return {k: ref[k] for k in self.ref_keys}


def field_of(response: ApiResponse, data: Mapping[str, Any], key: str) -> Any:
    """``data[key]``, or a :class:`ResponseFormatError` naming the missing field and the body."""
    if key not in data or data[key] is None:
        raise ResponseFormatError(
            f"{response.request.what} got HTTP {response.status} from {response.url} without the "
            f"field {key!r}: {excerpt(response.body)!r}"
        )
    return data[key]
