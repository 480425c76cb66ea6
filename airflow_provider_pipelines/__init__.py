"""Apache Airflow provider: start runs on remote data-pipeline services and wait for them.

``get_provider_info()`` is the ``apache_airflow_provider`` entry point: it tells
Airflow about the connection types, hooks, operators, sensors, triggers and
extra links. It imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_PKG = "airflow_provider_pipelines"


#: extras every connection type of this provider understands, shown as named form fields. A field
#: left empty is saved as null by Airflow 3's form, and null means the hook's default. Only the
#: switch has a declared default: a switch cannot show "not set", so it shows the hook's default.
_COMMON_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Request timeout (s)",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "description": "Seconds to wait for each API answer. Empty: 30.",
    },
    "max_attempts": {
        "label": "Tries per request",
        "schema": {"type": ["integer", "null"], "minimum": 1},
        "description": "How often a failed status read is tried before the wait logs it and goes on. "
        "Starts are retried only where the vendor certainly did not act. Empty: 5.",
    },
    "backoff": {
        "label": "First retry pause (s)",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "description": "Pauses between tries grow from this, doubling, with jitter. Empty: 1.",
    },
    "backoff_max": {
        "label": "Longest retry pause (s)",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "description": "A longer Retry-After from the vendor is still honoured. Empty: 30.",
    },
    "max_requests_per_minute": {
        "label": "Max requests per minute",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "description": "A cap on this connection's requests, shared by all waits on it in a triggerer "
        "(per task in a worker); beyond it requests wait, never fail. The vendor's RateLimit "
        "headers are honoured anyway. Empty: no cap.",
    },
    "verify_ssl": {
        "label": "Verify TLS certificates",
        "schema": {"type": ["boolean", "null"], "default": True},
        "description": "Leave on. Turned off, every use logs a warning.",
    },
}

#: the port field is shown (not hidden) for Airflow 3.3.1 and 3.3.2: their Test button refuses a
#: connection whose port is empty (it sends port 0 and finds it differs from the stored null)
_PORT_PLACEHOLDER = "443"


def _dataform_connection() -> dict[str, Any]:
    return {
        "hook-class-name": f"{_PKG}.hooks.dataform.DataformHook",
        "connection-type": "dataform_web",
        "hook-name": "Dataform Web",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "extra"],
            "relabeling": {"host": "API base URL", "password": "API token"},
            "placeholders": {
                "host": "https://api.dataform.co",
                "port": _PORT_PLACEHOLDER,
                "password": "5235783003799552|s+N8g...=|1",
            },
        },
        "conn-fields": {
            "project_id": {
                "label": "Project ID to test with",
                "schema": {"type": ["string", "null"]},
                "description": "Used only when the connection is tested (Test in the connection list, "
                "airflow connections test), never by a task: a project the token may read. "
                "Empty: project 0, which a token scoped to one project may be refused.",
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
            "hidden-fields": ["schema", "login", "extra"],
            "relabeling": {"host": "InVision base URL", "password": "API key"},
            "placeholders": {
                "host": "https://mydomain.com/invision",
                "port": _PORT_PLACEHOLDER,
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
            "hidden-fields": ["schema", "login", "extra"],
            "relabeling": {"host": "DataOps.live URL", "password": "Access token"},
            "placeholders": {
                "host": "https://app.dataops.live",
                "port": _PORT_PLACEHOLDER,
                "password": "glpat-Xq3vT9kLm2Ws8Rb1Yc7D",
            },
        },
        "conn-fields": {
            "trigger_token": {
                "label": "Pipeline trigger token",
                "schema": {"type": ["string", "null"], "format": "password"},
                "description": "Used only when the connection has no access token: it can start "
                "pipelines, but not list them or read private ones.",
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
            "hidden-fields": ["schema"],
            "relabeling": {
                "host": "Deployment URL",
                "login": "Username",
                "password": "Password or token",
            },
            "placeholders": {
                "host": "https://clq2k8x9f0001.astronomer.run/dxq7z3wn",
                "port": _PORT_PLACEHOLDER,
                "login": "admin",
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
                "description": "auto: with no username, the password is an API token, sent as Bearer; "
                "a username and password get a token from /auth/token on Airflow 3, or are sent as "
                "basic auth on Airflow 2. api_key: 'Authorization: <key>' (Astronomer Software's "
                "experimental API).",
            },
            "api_version": {
                "label": "API version",
                "schema": {
                    "type": ["string", "null"],
                    "default": "auto",
                    "enum": ["auto", "v2", "v1", "experimental"],
                },
                "description": "auto: found once per task, trying /api/v2, /api/v1, then the "
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
            {
                "integration-name": "Pipelines",
                "python-modules": [f"{_PKG}.triggers.runs", f"{_PKG}.triggers.events"],
            },
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
