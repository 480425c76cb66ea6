"""A real Airflow 3 deployment on 127.0.0.1, to be the remote that the operator triggers DAGs on.

Three processes (``api-server``, ``scheduler``, ``dag-processor``) with SQLite and
the LocalExecutor, started with an environment of their own: the test process's
AIRFLOW_HOME and AIRFLOW__* settings never leak into them. Each runs under
coreutils ``timeout``, so it stops by itself even if the test run dies, and in a
process group of its own, so that :meth:`RealAirflow.stop` ends it with its task
processes. API tokens from ``/auth/token`` live :data:`TOKEN_LIFETIME` seconds
(with no leeway), so that renewing an expired token is exercised for real.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN_LIFETIME = 5
STARTUP_LIMIT = 240.0
COMPONENTS = ("api-server", "scheduler", "dag-processor")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def remote_env(home: Path, dags: Path, port: int) -> dict[str, str]:
    """The remote's environment: ours without any Airflow setting, plus its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": f"remote-test-secret-{port}",
            "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME": str(TOKEN_LIFETIME),
            "AIRFLOW__API_AUTH__JWT_LEEWAY": "0",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    return env


@dataclass
class RealAirflow:
    """A running remote; ``url`` is its base URL, ``password`` the admin's."""

    base: Path
    port: int
    #: the Airflow components to run, each as its own process
    components: tuple[str, ...] = COMPONENTS
    #: settings over the remote's own (e.g. connections, log level)
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    password: str = ""
    startup_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return self.base / "home"

    def connection(self, **fields: Any) -> str:
        """An ``AIRFLOW_CONN_*`` value for this remote (login + password unless told otherwise)."""
        conn = {
            "conn_type": "remote_airflow",
            "host": self.url,
            "login": "admin",
            "password": self.password,
            "extra": {"timeout": 30, "backoff": 0.2, "backoff_max": 2},
        }
        conn.update(fields)
        return json.dumps(conn)

    # -- start and stop -------------------------------------------------------------------------

    def start(self, dags: Path, lifetime: float, dag_ids: set[str] | None = None) -> RealAirflow:
        """Start it with a copy of ``dags``; ready once the API lists ``dag_ids`` (default: parsed names)."""
        started = time.monotonic()
        self.home.mkdir(parents=True)
        shutil.copytree(dags, self.base / "dags", ignore=shutil.ignore_patterns("__pycache__"))
        env = {**remote_env(self.home, self.base / "dags", self.port), **self.extra_env}
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        bound = ["timeout", "-k", "10", str(int(lifetime))] if shutil.which("timeout") else []
        for component in self.components:
            log = (self.base / f"{component}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [*bound, sys.executable, "-m", "airflow", component],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stop() ends its children too
                )
            )
        try:
            self._wait_until_ready(started + STARTUP_LIMIT, _dag_ids(dags) if dag_ids is None else dag_ids)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        limit = time.monotonic() + 5  # a throw-away deployment: no need to wait for a graceful end
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, limit - time.monotonic()))
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group: task processes included
            proc.wait(10)
        self.processes.clear()

    # -- readiness ------------------------------------------------------------------------------

    def _wait_until_ready(self, deadline: float, wanted: set[str]) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            if self._health_ok() and self._read_password():
                listed = self._listed_dags()
                if wanted <= listed:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the remote Airflow was not ready within {STARTUP_LIMIT:g}s\n{self.log_tails()}")

    def _check_alive(self) -> None:
        for name, proc in zip(self.components, self.processes, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"remote Airflow {name} exited with {proc.returncode}\n{self.log_tails()}")

    def _health_ok(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _read_password(self) -> bool:
        path = self.home / "simple_auth_manager_passwords.json.generated"
        if not self.password and path.exists():
            with contextlib.suppress(ValueError, KeyError):
                self.password = json.loads(path.read_text())["admin"]
        return bool(self.password)

    def _listed_dags(self) -> set[str]:
        try:
            token = self.token()
            request = urllib.request.Request(
                f"{self.url}/api/v2/dags?limit=100", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=10) as resp:
                return {d["dag_id"] for d in json.loads(resp.read())["dags"]}
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            return set()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One call to the deployment's /api/v2 as the admin (a fresh token each time)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v2/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())

    def token(self, path: str = "/auth/token") -> str:
        """A token for the admin, straight from the remote (``/auth/token/cli`` ones live longer)."""
        body = json.dumps({"username": "admin", "password": self.password}).encode()
        request = urllib.request.Request(
            self.url + path, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return str(json.loads(resp.read())["access_token"])

    def log_tails(self, lines: int = 25) -> str:
        parts = []
        for component in self.components:
            path = self.base / f"{component}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {component} ---\n" + "\n".join(tail))
        return "\n".join(parts)


def _dag_ids(dags: Path) -> set[str]:
    """The DAG ids the files in ``dags`` define (read from their text: they are not imported here)."""
    ids = set()
    for path in dags.glob("*.py"):
        for line in path.read_text().splitlines():
            text = line.strip()
            if text.startswith('with DAG("'):
                ids.add(text.split('"')[1])
    return ids
