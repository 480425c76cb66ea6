"""What Airflow 3.3.2's connection form saves and what its Test button sends, for the four types.

The shapes come from the UI's own code (``airflow/ui/dist``, 3.3.2) and were seen in
a real browser (tests/test_ui_browser.py checks them there):

* the Add form saves every declared extra field: the field's schema ``default``
  where it has one, ``null`` for a field left empty; standard fields left empty
  are left out of the request;
* the row's Test button posts the row as listed: ``""`` for an empty text field,
  the password as ``"***"``, and ``port: Number(port)``, which is ``0`` for an
  empty port.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_pipelines import get_provider_info

#: connection type -> (what the type list shows, sandbox path, secret the sandbox accepts)
SANDBOX_TYPES: dict[str, tuple[str, str, str]] = {
    "dataform_web": ("Dataform Web", "/dataform", "sandbox-dataform-token"),
    "profitbase_invision": ("Profitbase InVision", "/profitbase/invision", "sandbox-profitbase-api-key"),
    "dataops_live": ("DataOps.live", "/dataops", "sandbox-dataops-token"),
    "remote_airflow": ("Remote Airflow", "/remote_airflow", "sandbox-astro-deployment-token"),
}

_COMMON_NULLS = {
    "timeout": None,
    "max_attempts": None,
    "backoff": None,
    "backoff_max": None,
    "max_requests_per_minute": None,
}

#: the extras the 3.3.2 form saves when the user leaves every extra field as it is (seen in a browser)
UI_SAVED_EXTRAS: dict[str, dict[str, Any]] = {
    "dataform_web": {"project_id": None, **_COMMON_NULLS, "verify_ssl": True},
    "profitbase_invision": {**_COMMON_NULLS, "verify_ssl": True},
    "dataops_live": {"trigger_token": None, **_COMMON_NULLS, "verify_ssl": True},
    "remote_airflow": {"auth_type": "auto", "api_version": "auto", **_COMMON_NULLS, "verify_ssl": True},
}


def declared_fields(conn_type: str) -> dict[str, Any]:
    for entry in get_provider_info()["connection-types"]:
        if entry["connection-type"] == conn_type:
            return dict(entry["conn-fields"])
    raise KeyError(conn_type)


def form_extras(conn_type: str) -> dict[str, Any]:
    """The form's rule: each declared field starts at its schema default, else null."""
    return {name: spec["schema"].get("default") for name, spec in declared_fields(conn_type).items()}


def sandbox_fields(sandbox_url: str, conn_type: str) -> dict[str, Any]:
    """The standard fields a user types for the sandbox: host without the port, the port on its own."""
    _, path, secret = SANDBOX_TYPES[conn_type]
    parts = urlsplit(sandbox_url)
    return {"host": f"http://{parts.hostname}{path}", "port": parts.port, "password": secret}


def form_body(conn_id: str, conn_type: str, fields: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/v2/connections`` as the Add form sends it (empty standard fields left out)."""
    body: dict[str, Any] = {"connection_id": conn_id, "conn_type": conn_type}
    body.update({k: v for k, v in fields.items() if v not in (None, "")})
    body["extra"] = json.dumps(extras, indent=2)
    return body


def row_test_body(listed: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/v2/connections/test`` as the row's Test button sends it, from the listed row."""
    return {
        "conn_type": listed["conn_type"],
        "connection_id": listed["connection_id"],
        "description": listed.get("description") or "",
        "extra": listed.get("extra") or "{}",
        "host": listed.get("host") or "",
        "login": listed.get("login") or "",
        "password": listed.get("password") or "",
        "port": int(listed.get("port") or 0),  # Number(null) is 0
        "schema": listed.get("schema") or "",
    }
