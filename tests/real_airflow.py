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
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN_LIFETIME = 5
#: the OpenLineage namespace of the remote's own jobs
REMOTE_NAMESPACE = "remote"
#: the DAGs of the remote that tests/test_real_airflow.py and tests/test_lineage_real_airflow.py use
REMOTE_DAGS = Path(__file__).parent / "remote_dags"
#: the connection (an environment variable) that reaches it
REAL_CONN = "AIRFLOW_CONN_REMOTE_AIRFLOW_REAL"
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
    #: run the OpenLineage provider's listener (when installed), writing to :attr:`lineage_file`
    openlineage: bool = False
    #: process name (a component, or a name given to :meth:`start_component`) -> its process
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    password: str = ""
    startup_seconds: float = 0.0
    #: triggerer process name -> the id of its TriggererJob in the metadata DB
    triggerer_jobs: dict[str, int] = field(default_factory=dict)
    _env: dict[str, str] = field(default_factory=dict)
    _deadline: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def lineage_file(self) -> Path:
        """Where the remote's OpenLineage file transport writes its events, one JSON event a line."""
        return self.base / "openlineage.jsonl"

    def lineage_env(self) -> dict[str, str]:
        """The remote's own OpenLineage settings (namespace ``remote``), when it is to run it."""
        if not self.openlineage:
            return {}
        transport = {"type": "file", "log_file_path": str(self.lineage_file), "append": True}
        return {
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": REMOTE_NAMESPACE,
        }

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

    def start(self, dags: Path | list[Path], lifetime: float, dag_ids: set[str] | None = None) -> RealAirflow:
        """Start it with a copy of ``dags`` (one folder or several, merged); ready once the API lists
        ``dag_ids`` (default: the names the files define)."""
        started = time.monotonic()
        self.home.mkdir(parents=True)
        folders = dags if isinstance(dags, list) else [dags]
        for folder in folders:
            shutil.copytree(
                folder, self.base / "dags", ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
            )
        self._env = {
            **remote_env(self.home, self.base / "dags", self.port),
            **self.lineage_env(),
            **self.extra_env,
        }
        self._deadline = time.monotonic() + lifetime
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=self._env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        for component in self.components:
            self.start_component(component)
        wanted = set().union(*(_dag_ids(f) for f in folders)) if dag_ids is None else dag_ids
        try:
            self._wait_until_ready(started + STARTUP_LIMIT, wanted)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def start_component(
        self, component: str, name: str | None = None, *args: str, env: dict[str, str] | None = None
    ) -> None:
        """Start one Airflow component (``triggerer``, ...) as a process called ``name`` (default: the
        component), with ``env`` over the deployment's settings. It stops by itself when the
        deployment's lifetime is over."""
        name = name or component
        remaining = max(10, int(self._deadline - time.monotonic()))
        bound = ["timeout", "-k", "10", str(remaining)] if shutil.which("timeout") else []
        log = (self.base / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [*bound, sys.executable, "-m", "airflow", component, *args],
            env={**self._env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends its children too
        )

    def start_triggerer(self, name: str, limit: float = 120.0) -> int:
        """Start a triggerer process called ``name``; return its job id once it has one."""
        # every triggerer job there is, not only the live ones: a killed triggerer's row stays
        # "running" in the DB, and must not be taken for the new one's
        known = set(self.triggerer_jobs.values()) | {
            row[0] for row in self.query("SELECT id FROM job WHERE job_type = 'TriggererJob'")
        }
        # each triggerer serves its trigger logs on a port of its own (two on one host would collide)
        port = {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        self.start_component("triggerer", name, env=port)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self._check_alive()
            rows = self.query("SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running'")
            fresh = {row[0] for row in rows} - known
            if fresh:
                self.triggerer_jobs[name] = max(fresh)
                return self.triggerer_jobs[name]
            time.sleep(0.5)
        raise RuntimeError(f"triggerer {name} registered no job within {limit:g}s\n{self.log_tails()}")

    def signal_component(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` to a process and its children (its process group): SIGSTOP, SIGCONT, SIGKILL."""
        os.killpg(self.processes[name].pid, sig)
        if sig == signal.SIGKILL:
            self.processes.pop(name).wait(10)

    def stop(self) -> None:
        procs = list(self.processes.values())
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                os.killpg(proc.pid, signal.SIGTERM)
        limit = time.monotonic() + 5  # a throw-away deployment: no need to wait for a graceful end
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, limit - time.monotonic()))
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group: task processes included
            proc.wait(10)
        self.processes.clear()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from the deployment's metadata DB (SQLite), read-only, for what its API does not show."""
        db = sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

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
        for name, proc in self.processes.items():
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
        """One call to the deployment's /api/v2 as the admin (a fresh token each time). A read is tried
        up to three times: on a loaded 2-core machine the API server sometimes answers 5xx (SQLite
        busy) or not in time; a write is sent once."""
        data = None if body is None else json.dumps(body).encode()
        tries = 3 if method == "GET" else 1
        for attempt in range(1, tries + 1):
            request = urllib.request.Request(
                f"{self.url}/api/v2/{path.lstrip('/')}",
                data=data,
                method=method,
                headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=90) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == tries:
                    raise
            except (OSError, urllib.error.URLError):
                if attempt == tries:
                    raise
            time.sleep(2)
        raise AssertionError("unreachable")

    def token(self, path: str = "/auth/token") -> str:
        """A token for the admin, straight from the remote (``/auth/token/cli`` ones live longer)."""
        body = json.dumps({"username": "admin", "password": self.password}).encode()
        request = urllib.request.Request(
            self.url + path, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            return str(json.loads(resp.read())["access_token"])

    def log_tails(self, lines: int = 25) -> str:
        parts = []
        for component in self.processes or self.components:
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
