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


def _dataops_connection() -> dict[str, Any]:
    return {
        "hook-class-name": f"{_PKG}.hooks.dataops.DataOpsHook",
        "connection-type": "dataops_live",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "port", "extra"],
            "relabeling": {"host": "DataOps.live URL", "password": "Access token"},
            "placeholders": {
                "host": "https://app.dataops.live",
                "password": "a personal, project or group access token (glpat-...)",
            },
        },
        "conn-fields": {
            "trigger_token": {
                "label": "Pipeline trigger token",
                "schema": {"type": ["string", "null"], "format": "password"},
                "description": "Used only when there is no access token: it can start pipelines, "
                "but not list them or read private ones.",
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
        "connection-types": [_dataform_connection(), _dataops_connection()],
        "hooks": [
            {"integration-name": "Dataform Web", "python-modules": [f"{_PKG}.hooks.dataform"]},
            {"integration-name": "DataOps.live", "python-modules": [f"{_PKG}.hooks.dataops"]},
        ],
        "operators": [
            {"integration-name": "Dataform Web", "python-modules": [f"{_PKG}.operators.dataform"]},
            {"integration-name": "DataOps.live", "python-modules": [f"{_PKG}.operators.dataops"]},
        ],
        "sensors": [
            {"integration-name": "Dataform Web", "python-modules": [f"{_PKG}.sensors.dataform"]},
            {"integration-name": "DataOps.live", "python-modules": [f"{_PKG}.sensors.dataops"]},
        ],
        "triggers": [
            {"integration-name": "Pipelines", "python-modules": [f"{_PKG}.triggers.runs"]},
        ],
        "extra-links": [f"{_PKG}.links.DataformRunLink", f"{_PKG}.links.DataOpsPipelineLink"],
        "integrations": [
            {
                "integration-name": "Dataform Web",
                "external-doc-url": "https://docs.dataform.co/dataform-web/api",
            },
            {
                "integration-name": "DataOps.live",
                "external-doc-url": "https://docs.dataops.live/",
            },
            {
                "integration-name": "Pipelines",
                "external-doc-url": "https://pypi.org/project/airflow-provider-pipelines/",
            },
        ],
    }
