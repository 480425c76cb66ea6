"""Apache Airflow provider: start runs on remote data-pipeline services and wait for them.

``get_provider_info()`` is the ``apache_airflow_provider`` entry point: it tells
Airflow about the connection types, hooks, operators, sensors, triggers and
extra links. It imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_PKG = "airflow_provider_pipelines"


#: extras every connection type of this provider understands, shown as named form fields
_COMMON_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Request timeout (seconds)",
        "schema": {"type": ["number", "null"], "minimum": 1},
        "description": "Read timeout of each API request (default 30).",
    },
    "max_attempts": {
        "label": "Tries per request",
        "schema": {"type": ["integer", "null"], "minimum": 1},
        "description": "How often a failed status read is tried before the wait logs it and goes on "
        "(default 5). Starts are retried only where the vendor certainly did not act.",
    },
    "backoff": {
        "label": "First retry pause (seconds)",
        "schema": {"type": ["number", "null"], "minimum": 0},
        "description": "Pauses grow from this, doubling, with jitter (default 1).",
    },
    "backoff_max": {
        "label": "Longest retry pause (seconds)",
        "schema": {"type": ["number", "null"], "minimum": 0},
        "description": "Default 30. A longer Retry-After from the vendor is still honoured.",
    },
    "verify_ssl": {
        "label": "Verify TLS certificates",
        "schema": {"type": ["boolean", "null"]},
        "description": "Leave on. Turning it off is logged as a warning on every use.",
    },
}


def _dataform_connection() -> dict[str, Any]:
    return {
        "hook-class-name": f"{_PKG}.hooks.dataform.DataformHook",
        "connection-type": "dataform_web",
        "hook-name": "Dataform Web",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "port", "extra"],
            "relabeling": {"host": "API base URL", "password": "API token"},
            "placeholders": {
                "host": "https://api.dataform.co",
                "password": "5235783003799552|s+N8g...=|1",
            },
        },
        "conn-fields": {
            "project_id": {
                "label": "Project id (for the connection test)",
                "schema": {"type": ["string", "null"]},
                "description": "A project the token may read; the Test button reads a run in it. "
                "Without it, project 0 is read, which a project-scoped token may be refused.",
            },
            **_COMMON_FIELDS,
        },
    }


def _profitbase_connection() -> dict[str, Any]:
    return {
        "hook-class-name": f"{_PKG}.hooks.profitbase.ProfitbaseHook",
        "connection-type": "profitbase_invision",
        "hook-name": "Profitbase InVision",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "port", "extra"],
            "relabeling": {"host": "InVision base URL (with its path)", "password": "API key"},
            "placeholders": {
                "host": "https://mydomain.com/invision",
                "password": "dd63a1ad-60eb-4066-8d71-1721007437b4",
            },
        },
        "conn-fields": _COMMON_FIELDS,
    }


def _dataops_connection() -> dict[str, Any]:
    return {
        "hook-class-name": f"{_PKG}.hooks.dataops.DataOpsHook",
        "connection-type": "dataops_live",
        "hook-name": "DataOps.live",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "port", "extra"],
            "relabeling": {"host": "DataOps.live URL", "password": "Access token"},
            "placeholders": {
                "host": "https://app.dataops.live",
                "password": "glpat-Xq3vT9kLm2Ws8Rb1Yc7D",
            },
        },
        "conn-fields": {
            "trigger_token": {
                "label": "Pipeline trigger token",
                "schema": {"type": ["string", "null"], "format": "password"},
                "description": "Used only when there is no access token: it can start pipelines, "
                "but not list them or read private ones.",
            },
            **_COMMON_FIELDS,
        },
    }


def _remote_airflow_connection() -> dict[str, Any]:
    return {
        "hook-class-name": f"{_PKG}.hooks.remote_airflow.RemoteAirflowHook",
        "connection-type": "remote_airflow",
        "hook-name": "Remote Airflow",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port"],
            "relabeling": {
                "host": "Deployment URL",
                "login": "Username (with a password: token or basic auth)",
                "password": "Password or API token",
            },
            "placeholders": {
                "host": "https://clq2k8x9f0001.astronomer.run/dxq7z3wn",
                "login": "admin (leave empty when the password is an API token)",
                "password": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9...",
            },
        },
        "conn-fields": {
            "auth_type": {
                "label": "Auth type",
                "schema": {
                    "type": ["string", "null"],
                    "default": "auto",
                    "enum": ["auto", "bearer", "token", "basic", "api_key", "none"],
                },
                "description": "auto: password alone is a Bearer token; login + password get a token from "
                "/auth/token on Airflow 3, basic auth on Airflow 2. api_key: 'Authorization: <key>' "
                "(Astronomer Software's experimental API).",
            },
            "api_version": {
                "label": "API version",
                "schema": {
                    "type": ["string", "null"],
                    "default": "auto",
                    "enum": ["auto", "v2", "v1", "experimental"],
                },
                "description": "auto: detected once per task from /api/v2, /api/v1, then the "
                "experimental API.",
            },
            **_COMMON_FIELDS,
        },
    }


#: integration name -> module name under hooks/, operators/ and sensors/
_INTEGRATIONS = {
    "Dataform Web": "dataform",
    "Profitbase InVision": "profitbase",
    "DataOps.live": "dataops",
    "Remote Airflow": "remote_airflow",
}


def _modules(kind: str) -> list[dict[str, Any]]:
    return [
        {"integration-name": name, "python-modules": [f"{_PKG}.{kind}.{module}"]}
        for name, module in _INTEGRATIONS.items()
    ]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ProvidersManager."""
    return {
        "package-name": "airflow-provider-pipelines",
        "name": "Pipelines (Dataform Web, Profitbase InVision, DataOps.live, remote Airflow)",
        "description": "Start runs on remote data-pipeline services and wait for them, deferrably.",
        "versions": [__version__],
        "connection-types": [
            _dataform_connection(),
            _profitbase_connection(),
            _dataops_connection(),
            _remote_airflow_connection(),
        ],
        "hooks": _modules("hooks"),
        "operators": _modules("operators"),
        "sensors": _modules("sensors"),
        "triggers": [
            {"integration-name": "Pipelines", "python-modules": [f"{_PKG}.triggers.runs"]},
        ],
        "extra-links": [
            f"{_PKG}.links.DataformRunLink",
            f"{_PKG}.links.DataOpsPipelineLink",
            f"{_PKG}.links.RemoteDagRunLink",
        ],
        "integrations": [
            {
                "integration-name": "Dataform Web",
                "external-doc-url": "https://docs.dataform.co/dataform-web/api",
            },
            {"integration-name": "Profitbase InVision"},
            {
                "integration-name": "DataOps.live",
                "external-doc-url": "https://docs.dataops.live/",
            },
            {
                "integration-name": "Remote Airflow",
                "external-doc-url": "https://airflow.apache.org/docs/apache-airflow/stable/stable-rest-api-ref.html",
            },
            {
                "integration-name": "Pipelines",
                "external-doc-url": "https://pypi.org/project/airflow-provider-pipelines/",
            },
        ],
    }
