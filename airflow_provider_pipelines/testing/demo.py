"""``python -m airflow_provider_pipelines.testing.demo [DAGS_FOLDER]``: the example DAGs against the sandbox.

Starts the sandbox, points every vendor's default connection at it, makes a
throw-away Airflow home with a migrated SQLite DB, then runs each example DAG
with ``dag.test()`` (real Airflow: deferred tasks go through the trigger) and
prints each run's outcome. Finally it tells the sandbox to fail the runs and
runs the Dataform example again, to show what a failure looks like.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: examples re-run against failing runs (example_dataops retries, which dag.test() would wait out)
FAILURE_EXAMPLES = ("example_dataform", "example_profitbase", "example_remote_airflow")
FAILURE_WORDS = {
    "dataform": "FAILED",
    "profitbase": "Failed",
    "dataops": "failed",
    "remote_airflow": "failed",
}


class _Errors:
    """The provider's error lines of the last DAG run: the reason a task failed."""

    def __init__(self) -> None:
        self.lines: list[str] = []


def _prepare(dags_folder: Path) -> None:
    home = tempfile.mkdtemp(prefix="pipelines-demo-home-")
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # INFO so that the provider's own lines are captured; capture_logs keeps them off the screen
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    print(f"Airflow home {home}; creating its database ...", flush=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


def _dagbag(dags_folder: Path) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.11
        from airflow.models.dagbag import DagBag
    bag = DagBag(dag_folder=str(dags_folder))
    if bag.import_errors:
        raise SystemExit(f"example DAGs failed to import: {bag.import_errors}")
    return bag


def _text(event: Mapping[str, Any]) -> str:
    text = str(event.get("event", ""))
    args = event.get("positional_args")
    if args:
        try:
            return text % tuple(args)
        except (TypeError, ValueError):
            return text
    return text


def _run(bag: Any, dag_id: str, errors: _Errors) -> bool:
    import structlog

    errors.lines.clear()
    with structlog.testing.capture_logs() as events:
        dr = bag.get_dag(dag_id).test()
    started = [_text(e) for e in events if _text(e).startswith("Started ")]
    # the provider's own error lines (Airflow's "Task failed with exception" comes from logger "task")
    errors.lines += [
        _text(e)
        for e in events
        if e.get("log_level") in ("error", "critical") and e.get("logger_name") != "task"
    ]
    ok = str(getattr(dr.state, "value", dr.state)) == "success"
    for ti in dr.get_task_instances():
        state = str(getattr(ti.state, "value", ti.state))
        print(f"  {dag_id}.{ti.task_id}: {state}", flush=True)
    for line in started:
        print(f"    {line}", flush=True)
    for line in errors.lines:
        print(f"    reason: {line}", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    dags_folder = Path(args[0] if args else "example_dags").resolve()
    _prepare(dags_folder)
    from airflow_provider_pipelines.testing.sandbox import Sandbox

    errors = _Errors()
    with Sandbox(lifetime=1800) as sandbox:
        os.environ.update(sandbox.connection_env())
        print(f"Sandbox on {sandbox.url}", flush=True)
        bag = _dagbag(dags_folder)
        dag_ids = sorted(bag.dag_ids)
        print(f"Running {len(dag_ids)} example DAG(s), deferred, against the sandbox:", flush=True)
        results = {dag_id: _run(bag, dag_id, errors) for dag_id in dag_ids}

        print("Now the sandbox fails every run; the examples again, to show the reasons:", flush=True)
        for vendor, word in FAILURE_WORDS.items():
            sandbox.client.plan(vendor, "*", duration=1.0, outcome=word)
        failed_as_told = all(
            not _run(bag, dag_id, errors) and bool(errors.lines) for dag_id in FAILURE_EXAMPLES
        )
    good = all(results.values()) and failed_as_told
    print(
        "demo: " + ("OK" if good else "FAILED") + f" ({sum(results.values())}/{len(results)} succeeded, "
        f"failure shown: {failed_as_told})"
    )
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
