"""Checks of operator and sensor parameters, with messages that name the parameter.

Values that still hold a Jinja template (``{{ ... }}``) are skipped at DAG parse
time and checked again at execute time, after rendering, before any request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_pipelines.errors import ConfigurationError


def is_template(value: Any) -> bool:
    """True for a string that Airflow will still render."""
    return isinstance(value, str) and "{{" in value


def require_str(name: str, value: Any, *, optional: bool = False) -> str | None:
    """A non-empty string (or None when optional)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        expected = "a non-empty string" + (" or None" if optional else "")
        raise ConfigurationError(f"{name} must be {expected}, got {value!r}")
    return value


def require_str_list(name: str, value: Any, *, optional: bool = True) -> list[str] | None:
    """A list of non-empty strings (or None when optional)."""
    if value is None and optional:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigurationError(f"{name} must be a list of strings, got {value!r}")
    bad = [v for v in value if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ConfigurationError(f"{name} must be a list of non-empty strings; these are not: {bad!r}")
    return list(value)


def require_str_dict(name: str, value: Any, *, optional: bool = True) -> dict[str, str] | None:
    """A mapping of string keys to string values (or None when optional)."""
    if value is None and optional:
        return None
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a dict of strings, got {type(value).__name__}")
    bad = {k: v for k, v in value.items() if not isinstance(k, str) or not k or not isinstance(v, str)}
    if bad:
        raise ConfigurationError(f"{name} must map non-empty string keys to string values; not: {bad!r}")
    return dict(value)


def require_seconds(name: str, value: Any, *, minimum: float = 0.0, optional: bool = False) -> float | None:
    """A positive number of seconds, from a number or a ``timedelta``."""
    if value is None and optional:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name} must be a number of seconds or a timedelta, got {value!r}")
    if value <= minimum:
        raise ConfigurationError(f"{name} must be more than {minimum:g} seconds, got {value!r}")
    return float(value)


def require_bool(name: str, value: Any) -> bool:
    """A real ``True`` or ``False``: ``bool("false")`` is True, so strings are refused, not coerced."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value
