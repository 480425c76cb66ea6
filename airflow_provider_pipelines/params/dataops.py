"""DataOps.live parameters as DAG files give them: checked at parse time, with no HTTP and no heavy
imports (the API module uses the same checks)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_pipelines.errors import ConfigurationError

#: the variable that makes DataOps.live run another pipeline file than the default
PIPELINE_FILE_VARIABLE = "_PIPELINE_FILE_NAME"
#: the variable every pipeline this provider starts carries: it finds the pipeline again on retry
MARKER_VARIABLE = "AIRFLOW_PIPELINES_MARKER"
#: the variable that tells one start request from another (of this or any try): after a start whose
#: answer was lost, the pipeline it may have created is found by it, in whatever state it is
ATTEMPT_VARIABLE = "AIRFLOW_PIPELINES_START"
#: GitLab variable keys: letters, digits and underscores, at most 255 of them
_VARIABLE_KEY = re.compile(r"[A-Za-z0-9_]{1,255}")


def marker_for(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """A short, stable value naming one task instance (every try of it), for the marker variable.

    The same task in the same DAG run always gets the same marker, so a retry can
    recognise the pipeline an earlier try started; any other task instance gets another.
    """
    text = "\x1f".join((dag_id, run_id, task_id, str(map_index)))
    return "af-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def id_text(value: Any) -> Any:
    """An int id as a string (``4242`` -> ``"4242"``); anything else unchanged, for the checks to judge."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def check_project(value: Any) -> str:
    """A project as the API wants it: a numeric id or an unencoded path like ``group/sub/project``."""
    value = id_text(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            f"project must be a numeric project id or a path like 'group/project', got {value!r}"
        )
    if "%2f" in value.lower():
        raise ConfigurationError(
            f"project {value!r} looks URL-encoded: give the plain path (e.g. 'group/project'); "
            "the hook encodes it"
        )
    if value != value.strip() or value.startswith("/") or value.endswith("/") or "//" in value:
        raise ConfigurationError(
            f"project must be a numeric id or a path like 'group/sub/project' without leading, "
            f"trailing or doubled slashes or spaces, got {value!r}"
        )
    return value


def check_variables(variables: Any, pipeline_file: str | None = None) -> dict[str, str]:
    """The pipeline variables to send: the user's, plus ``_PIPELINE_FILE_NAME`` for ``pipeline_file``."""
    if variables is None:
        variables = {}
    if not isinstance(variables, Mapping):
        raise ConfigurationError(f"variables must be a dict of strings, got {type(variables).__name__}")
    bad_keys = [k for k in variables if not isinstance(k, str) or not _VARIABLE_KEY.fullmatch(k)]
    if bad_keys:
        raise ConfigurationError(
            f"variables: these keys are not valid variable names (letters, digits and '_' only): {bad_keys!r}"
        )
    bad_values = sorted(k for k, v in variables.items() if not isinstance(v, str))
    if bad_values:
        raise ConfigurationError(
            f"variables must map names to strings; the values of {bad_values} are not strings "
            "(quote numbers and booleans, e.g. {'FORCE_INGESTION': '1'})"
        )
    for own in (MARKER_VARIABLE, ATTEMPT_VARIABLE):
        if own in variables:
            raise ConfigurationError(f"variables must not set {own}: this provider sets it")
    result = dict(variables)
    if pipeline_file is not None:
        if PIPELINE_FILE_VARIABLE in result and result[PIPELINE_FILE_VARIABLE] != pipeline_file:
            raise ConfigurationError(
                f"pipeline_file={pipeline_file!r} and variables[{PIPELINE_FILE_VARIABLE!r}]="
                f"{result[PIPELINE_FILE_VARIABLE]!r} disagree: set only pipeline_file"
            )
        result[PIPELINE_FILE_VARIABLE] = pipeline_file
    return result
