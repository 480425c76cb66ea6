"""Apache Airflow provider: start runs on remote data-pipeline services and wait for them.

``get_provider_info()`` is the ``apache_airflow_provider`` entry point: it tells
Airflow about the connection types, hooks, operators, sensors, triggers and
extra links. It imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_PKG = "airflow_provider_pipelines"


def _dataform_connection() -> dict[str, Any]:
    return {
        "hook-class-name": f"{_PKG}.hooks.dataform.DataformHook",
        "connection-type": "dataform_web",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "port", "extra"],
            "relabeling": {"host": "API base URL", "password": "API token"},
            "placeholders": {
                "host": "https://api.dataform.co",
                "password": "5235783003799552|s+N8g...=|1",
            },
        },
        "conn-fields": {
            "timeout": {
                "label": "Request timeout (seconds)",
                "schema": {"type": ["number", "null"], "minimum": 1},
                "description": "Read timeout of each API request (default 30).",
            },
            "verify_ssl": {
                "label": "Verify TLS certificates",
                "schema": {"type": ["boolean", "null"]},
                "description": "Leave on. Turning it off is logged as a warning on every use.",
            },
        },
    }


def _remote_airflow_connection() -> dict[str, Any]:
    return {
        "hook-class-name": f"{_PKG}.hooks.remote_airflow.RemoteAirflowHook",
        "connection-type": "remote_airflow",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port"],
            "relabeling": {
                "host": "Deployment URL",
                "login": "Username (with a password: token or basic auth)",
                "password": "Password or API token",
            },
            "placeholders": {
                "host": "https://airflow.example.com or https://<org>.astronomer.run/<deployment-id>",
                "login": "leave empty when the password is an API token",
                "password": "an Astro Deployment API token, a JWT, or the user's password",
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
            "timeout": {
                "label": "Request timeout (seconds)",
                "schema": {"type": ["number", "null"], "minimum": 1},
                "description": "Read timeout of each API request (default 30).",
            },
            "verify_ssl": {
                "label": "Verify TLS certificates",
                "schema": {"type": ["boolean", "null"]},
                "description": "Leave on. Turning it off is logged as a warning on every use.",
            },
        },
    }


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ProvidersManager."""
    return {
        "package-name": "airflow-provider-pipelines",
        "name": "Pipelines (Dataform Web, Profitbase InVision, DataOps.live, remote Airflow)",
        "description": "Start runs on remote data-pipeline services and wait for them, deferrably.",
        "versions": [__version__],
        "connection-types": [_dataform_connection(), _remote_airflow_connection()],
        "hooks": [
            {"integration-name": "Dataform Web", "python-modules": [f"{_PKG}.hooks.dataform"]},
            {"integration-name": "Remote Airflow", "python-modules": [f"{_PKG}.hooks.remote_airflow"]},
        ],
        "operators": [
            {"integration-name": "Dataform Web", "python-modules": [f"{_PKG}.operators.dataform"]},
            {"integration-name": "Remote Airflow", "python-modules": [f"{_PKG}.operators.remote_airflow"]},
        ],
        "sensors": [
            {"integration-name": "Dataform Web", "python-modules": [f"{_PKG}.sensors.dataform"]},
            {"integration-name": "Remote Airflow", "python-modules": [f"{_PKG}.sensors.remote_airflow"]},
        ],
        "triggers": [
            {"integration-name": "Pipelines", "python-modules": [f"{_PKG}.triggers.runs"]},
        ],
        "extra-links": [f"{_PKG}.links.DataformRunLink", f"{_PKG}.links.RemoteDagRunLink"],
        "integrations": [
            {
                "integration-name": "Dataform Web",
                "external-doc-url": "https://docs.dataform.co/dataform-web/api",
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
