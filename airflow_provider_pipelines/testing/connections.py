"""Airflow connections that point at a sandbox, as ``AIRFLOW_CONN_*`` environment variables."""

from __future__ import annotations

import json

#: vendor -> (connection type, default connection id)
CONNECTIONS = {
    "dataform": ("dataform_web", "dataform_default"),
    "profitbase": ("profitbase_invision", "profitbase_default"),
    "dataops": ("dataops_live", "dataops_default"),
    "remote_airflow": ("remote_airflow", "remote_airflow_default"),
}

#: vendor -> path under the fake's mount that the connection's host must include
HOST_PATHS = {"profitbase": "/invision"}

#: extras that keep tests quick: short request timeouts and retry pauses
FAST_EXTRAS = {"timeout": 5, "backoff": 0.05, "backoff_max": 0.5}


def connection_env(base_url: str, *, extras: dict[str, object] | None = None) -> dict[str, str]:
    """One ``AIRFLOW_CONN_<ID>`` variable per vendor, with the fake's token and the fake's URL."""
    from airflow_provider_pipelines.testing.fakes import FAKES

    env = {}
    for fake in FAKES:
        conn_type, conn_id = CONNECTIONS[fake.name]
        conn = {
            "conn_type": conn_type,
            "host": f"{base_url.rstrip('/')}/{fake.name}{HOST_PATHS.get(fake.name, '')}",
            "password": fake.token,
            "extra": {**FAST_EXTRAS, **(extras or {})},
        }
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env
