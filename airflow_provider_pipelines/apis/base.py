"""What every vendor API object offers to the shared lifecycle."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_provider_pipelines.errors import ResponseFormatError
from airflow_provider_pipelines.http import ApiRequest, ApiResponse, excerpt
from airflow_provider_pipelines.runs import RemoteRun, StatusTable


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
