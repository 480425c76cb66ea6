"""Normalised run states and the one value every vendor's run is turned into.

Each vendor maps its own status words onto :class:`RunState` in one
:class:`StatusTable`; the operator, the sensor and the trigger all decide through
:meth:`StatusTable.classify`, so no status decision is made anywhere else. An
unknown word becomes ``UNKNOWN``: logged by the waiter, never a success.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class RunState(str, enum.Enum):
    """A remote run's state, the same words for every vendor (``str()`` gives the word)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"

    def __str__(self) -> str:  # as enum.StrEnum does (Python 3.11+); this runs on 3.10 too
        return self.value

    @property
    def is_terminal(self) -> bool:
        """True when the run will not change state again by itself."""
        return self in _TERMINAL


_TERMINAL = frozenset({RunState.SUCCESS, RunState.FAILED, RunState.CANCELLED, RunState.SKIPPED})


@dataclass(frozen=True)
class StatusTable:
    """One vendor's status words and what they mean.

    :param vendor: the vendor's display name, used in messages.
    :param words: vendor status word -> normalised state.
    :param case_sensitive: compare words exactly (the default) or case-insensitively.
    """

    vendor: str
    words: Mapping[str, RunState]
    case_sensitive: bool = True

    def __post_init__(self) -> None:
        if not self.case_sensitive:
            object.__setattr__(self, "words", {k.lower(): v for k, v in self.words.items()})

    def classify(self, word: object) -> RunState:
        """The normalised state of a vendor status word; anything unlisted is ``UNKNOWN``."""
        if not isinstance(word, str):
            return RunState.UNKNOWN
        key = word if self.case_sensitive else word.lower()
        return self.words.get(key, RunState.UNKNOWN)


@dataclass(frozen=True)
class RemoteRun:
    """What we know about one remote run at one moment.

    :param vendor: the registry key of the vendor (``"dataform"``, ...).
    :param ref: the ids needed to read the run again (plain strings, safe to serialise).
    :param run_id: the vendor's id of the run, as users see it.
    :param state: the normalised state.
    :param vendor_status: the vendor's own status word, kept for messages.
    :param url: the run's page in the vendor's UI, when the vendor gives one.
    :param detail: a short vendor-specific progress note (a stage, a task), optional.
    """

    vendor: str
    ref: Mapping[str, str]
    run_id: str
    state: RunState
    vendor_status: str | None = None
    url: str | None = None
    detail: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """``run 5678 (status FAILED, https://...)`` for log and error lines."""
        facts = [f"status {self.vendor_status}"] if self.vendor_status is not None else []
        if self.url:
            facts.append(self.url)
        return f"run {self.run_id}" + (f" ({', '.join(facts)})" if facts else "")

    def status_words(self) -> str:
        """The vendor's own word with the normalised state: ``created (queued)``, ``RUNNING (running)``;
        the state alone when the vendor's word is the same (``running``) or unknown."""
        word = self.vendor_status
        if not word or word.lower() == self.state.value:
            return self.state.value
        return f"{word} ({self.state.value})"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, for trigger events and XCom."""
        return {
            "vendor": self.vendor,
            "ref": dict(self.ref),
            "run_id": self.run_id,
            "state": self.state.value,
            "vendor_status": self.vendor_status,
            "url": self.url,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RemoteRun:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on anything malformed."""
        try:
            ref = data["ref"]
            if not isinstance(ref, Mapping) or not all(isinstance(v, str) for v in ref.values()):
                raise ValueError("ref must be a mapping of strings")
            return cls(
                vendor=str(data["vendor"]),
                ref=dict(ref),
                run_id=str(data["run_id"]),
                state=RunState(data["state"]),
                vendor_status=data.get("vendor_status"),
                url=data.get("url"),
                detail=data.get("detail"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed run payload: {exc!r}") from None
