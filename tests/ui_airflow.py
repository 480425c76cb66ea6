"""A real Airflow 3 API server (UI, REST API, connection Test) on 127.0.0.1, for the connection-form tests.

Only the ``api-server`` runs: the connection form, the connection REST API and
its test endpoint need nothing else. Connection tests are enabled (Airflow's
default is off), and the UI's session lasts as long as the server.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.real_airflow import RealAirflow, free_port

UI_ENV = {
    "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME": "3600",
    "AIRFLOW__API_AUTH__JWT_LEEWAY": "10",
}


@contextlib.contextmanager
def ui_airflow(base: Path, lifetime: float = 900) -> Iterator[RealAirflow]:
    """Start the API server (stopped on exit, and by itself after ``lifetime`` seconds)."""
    dags = base / "no-dags"
    dags.mkdir(parents=True)
    airflow = RealAirflow(base / "airflow", free_port(), components=("api-server",), extra_env=UI_ENV)
    airflow.start(dags, lifetime, dag_ids=set())
    try:
        yield airflow
    finally:
        airflow.stop()


def call(airflow: RealAirflow, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One /api/v2 call as the admin: (HTTP status, decoded body), errors included."""
    request = urllib.request.Request(
        f"{airflow.url}/api/v2/{path.lstrip('/')}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {airflow.token()}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def delete_connection(airflow: RealAirflow, conn_id: str) -> None:
    """Delete a connection if it exists (a test re-run against the same server starts clean)."""
    call(airflow, "DELETE", f"connections/{conn_id}")
