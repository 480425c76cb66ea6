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
