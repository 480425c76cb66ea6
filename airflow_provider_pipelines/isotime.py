"""ISO 8601 timestamps read the same on Python 3.10 as on 3.11+.

Python 3.10's ``datetime.fromisoformat`` reads only what ``isoformat()`` writes: it refuses a
trailing ``Z`` and fractions of seconds other than 3 or 6 digits (``.5``), which 3.11+ and the
vendors' APIs accept.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from typing import Any

_FRACTION = re.compile(r"(?<=\d\d:\d\d:\d\d)\.(\d+)")


def parse_iso(text: str) -> datetime:
    """``datetime.fromisoformat`` as on Python 3.11+: ``2026-01-31T06:00:00.5Z`` works on 3.10 too.

    Raises ``ValueError`` for text that is no ISO 8601 timestamp, as ``fromisoformat`` does.
    """
    if sys.version_info >= (3, 11):
        return datetime.fromisoformat(text)
    return datetime.fromisoformat(as_310_isoformat(text))


def aware_or_none(text: Any) -> datetime | None:
    """An aware datetime from ISO text (``Z`` too; UTC when it names no offset), or None for
    anything else: a missing field, or text that is no timestamp."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = parse_iso(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def as_310_isoformat(text: str) -> str:
    """The same timestamp in the form Python 3.10's ``fromisoformat`` reads: ``+00:00`` for a
    trailing ``Z``, and six digits of fraction (3.11+ also drops digits past the sixth)."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
