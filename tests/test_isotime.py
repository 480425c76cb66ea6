"""ISO 8601 timestamps read the same on every supported Python (3.10's fromisoformat reads fewer)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_pipelines.isotime import as_310_isoformat, parse_iso

CASES = [
    ("2026-01-31T06:00:00Z", datetime(2026, 1, 31, 6, tzinfo=timezone.utc)),
    ("2026-01-31T06:00:00.5+02:00", datetime(2026, 1, 31, 6, 0, 0, 500000, timezone(timedelta(hours=2)))),
    ("2026-01-31T06:00:00.123456789Z", datetime(2026, 1, 31, 6, 0, 0, 123456, timezone.utc)),
    ("2026-01-31 06:00:00.12", datetime(2026, 1, 31, 6, 0, 0, 120000)),
    ("2026-01-31T06:00:00+00:00", datetime(2026, 1, 31, 6, tzinfo=timezone.utc)),
    ("2026-01-31", datetime(2026, 1, 31)),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse_iso_reads_what_python_3_11_reads(text, expected):
    assert parse_iso(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_the_3_10_form_is_read_by_3_10s_fromisoformat_as_the_same_time(text, expected):
    # the 3.10 path, on every Python: what 3.10's fromisoformat reads is a subset of later ones
    assert datetime.fromisoformat(as_310_isoformat(text)) == expected


@pytest.mark.parametrize("text", ["31/01/2026", "2026-01-31T06:00:00Q", "", "yesterday"])
def test_what_is_no_iso_timestamp_is_refused(text):
    with pytest.raises(ValueError):
        parse_iso(text)
