"""Remote-Airflow parameters as DAG files give them: checked at parse time, with no HTTP and no heavy
imports (the API module uses the same checks)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_pipelines.errors import ConfigurationError
from airflow_provider_pipelines.isotime import parse_iso

#: what Airflow accepts as a run id (anything else is refused with 400)
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.~:+-]+$")
_RUN_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.~:+-]+")
#: Airflow's run_id column holds 250 characters
_RUN_ID_MAX = 250


def check_conf(conf: Any) -> dict[str, Any]:
    """``conf`` as a JSON object (a dict that JSON can encode), else :class:`ConfigurationError`."""
    if conf is None:
        return {}
    if not isinstance(conf, Mapping):
        hint = (
            " (a template renders to a string unless the DAG sets render_template_as_native_obj=True)"
            if isinstance(conf, str)
            else ""
        )
        raise ConfigurationError(f"conf must be a JSON object (a dict), got {type(conf).__name__}{hint}")
    bad_keys = [k for k in conf if not isinstance(k, str)]
    if bad_keys:
        raise ConfigurationError(f"conf keys must be strings; these are not: {bad_keys!r}")
    try:
        json.dumps(dict(conf), allow_nan=False)
    except (TypeError, ValueError) as exc:
        found = _not_json(conf, "conf")
        if found is None:  # pragma: no cover - the walk finds what json refused
            raise ConfigurationError(f"conf must be JSON-serialisable: {exc}") from None
        path, value = found
        raise ConfigurationError(
            f"conf must be JSON-serialisable, but {path} is {_what(value)}{_json_hint(value)}"
        ) from None
    return dict(conf)


def _not_json(value: Any, path: str) -> tuple[str, Any] | None:
    """The path (``conf['day']``, ``conf['rows'][2]``) and value of the first part JSON cannot encode."""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                return (f"{path} (the key {key!r})", key)
            found = _not_json(item, f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _not_json(item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return (path, value)


def _what(value: Any) -> str:
    if isinstance(value, float):
        return f"{value!r} (JSON has no NaN or infinity)"
    kind = type(value)
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    return f"of type {module}{kind.__qualname__}"


def _json_hint(value: Any) -> str:
    if isinstance(value, float):
        return ": pass a finite number, or None"
    if isinstance(value, datetime | date):
        return ": pass it as text, e.g. value.isoformat(), or a template such as '{{ ds }}'"
    if isinstance(value, set | frozenset):
        return ": pass a list instead"
    if isinstance(value, bytes):
        return ": pass text instead (decode it)"
    return ": pass only strings, numbers, booleans, None, lists and dicts"


def normalise_logical_date(value: Any) -> str | None:
    """A logical date as ISO 8601 with a UTC offset; a datetime, a date or an ISO string.

    A value without a time zone is taken as UTC (Airflow's own default time zone). The text
    ``None`` is no date: it is what ``{{ logical_date }}`` renders to for an Airflow 3 run
    that has no logical date.
    """
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    when: datetime
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            when = parse_iso(value.strip())
        except ValueError:
            raise ConfigurationError(
                f"logical_date must be a datetime or an ISO 8601 string such as "
                f"2026-01-31T06:00:00+00:00, got {value!r}"
            ) from None
    else:
        raise ConfigurationError(
            f"logical_date must be a datetime, an ISO 8601 string or a template, got {type(value).__name__}"
        )
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.isoformat()


def check_run_id(dag_run_id: Any, name: str = "dag_run_id") -> str:
    """A run id Airflow accepts, else :class:`ConfigurationError` (rather than the remote's 400)."""
    if not isinstance(dag_run_id, str) or not RUN_ID_PATTERN.match(dag_run_id):
        raise ConfigurationError(
            f"{name} must match {RUN_ID_PATTERN.pattern} (letters, digits and _ . ~ : + -), "
            f"got {dag_run_id!r}"
        )
    if len(dag_run_id) > _RUN_ID_MAX:
        raise ConfigurationError(f"{name} must be at most {_RUN_ID_MAX} characters, got {len(dag_run_id)}")
    return dag_run_id


def default_dag_run_id(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The remote run id this task instance always uses, whatever its try number.

    The same (local DAG, local run, task, map index) always gives the same id,
    so a retried task's trigger is refused as a duplicate and re-attaches to the
    run its first try started. Readable parts first; a hash of the exact values
    keeps ids unique where unsafe characters were replaced or the text was cut.
    """
    task = task_id if map_index < 0 else f"{task_id}.{map_index}"
    exact = "\x00".join((dag_id, run_id, task))
    digest = hashlib.sha256(exact.encode()).hexdigest()[:10]
    readable = _RUN_ID_UNSAFE.sub("_", f"{dag_id}.{task}__{run_id}")
    return f"{readable[: _RUN_ID_MAX - 12]}__{digest}"


_REPLACEMENT = re.compile(r"\.r(\d+)$")


def replacement_run_id(base: str, failed: str) -> str:
    """The remote run id for the run that replaces ``failed``, a run of this task instance that ended
    without success: ``<base>.r2``, then ``.r3``, ...

    Derived from the failed run's id alone, so that a try which dies between triggering
    the replacement and keeping it in the task_state_store is followed by a try that
    asks for the same id again, is refused as a duplicate, and re-attaches.
    """
    found = _REPLACEMENT.search(failed)
    suffix = f".r{int(found.group(1)) + 1 if found else 2}"
    if len(base) + len(suffix) <= _RUN_ID_MAX:
        return base + suffix
    digest = hashlib.sha256(base.encode()).hexdigest()[:10]
    return f"{base[: _RUN_ID_MAX - len(suffix) - 11]}_{digest}{suffix}"
