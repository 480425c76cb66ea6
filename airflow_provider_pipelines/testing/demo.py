"""``python -m airflow_provider_pipelines.testing.demo [DAGS_FOLDER]``: the example DAGs against the sandbox.

Starts the sandbox, points every vendor's default connection at it, makes a
throw-away Airflow home with a migrated SQLite DB, then runs each example DAG
with ``dag.test()`` (real Airflow: deferred tasks go through the trigger) and
prints each run's outcome. Then it tells the sandbox to fail every run of every
vendor and runs every example that started a remote run again, the chain
included, to show what each failure looks like (the event-driven examples start
none: they run when a remote run ends, and by hand here they only say so).

Airflow's own output while a DAG runs (``[DAG TEST]`` lines and the like) goes to
a file in the Airflow home, named at the start, so that the summary reads cleanly;
the provider's lines are taken from the task logs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: the status word each fake vendor ends a failed run with
FAILURE_WORDS = {
    "dataform": "FAILED",
    "profitbase": "Failed",
    "dataops": "failed",
    "remote_airflow": "failed",
}


def _prepare(dags_folder: Path) -> Path:
    """A throw-away Airflow home with a migrated DB; returns the file Airflow's own output goes to."""
    home = tempfile.mkdtemp(prefix="pipelines-demo-home-")
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # INFO so that the provider's own lines are captured; capture_logs keeps them off the screen
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    print(f"Airflow home {home}; creating its database ...", flush=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    airflow_output = Path(home) / "demo-airflow-output.log"
    print(f"Airflow's own output goes to {airflow_output}", flush=True)
    return airflow_output


@contextlib.contextmanager
def _elsewhere(path: Path) -> Iterator[None]:
    """Send everything written to stdout and stderr (file descriptors 1 and 2, so also what logging
    handlers holding the original streams write) to ``path`` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    try:
        with path.open("ab") as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


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


def _lines(prefix: str, text: str) -> list[str]:
    """``text`` under ``prefix``, its further lines indented under the first (a job's log tail)."""
    first, *rest = text.rstrip().splitlines() or [""]
    pad = " " * len(prefix)
    return [prefix + first] + [pad + line for line in rest]


def _run(
    bag: Any, dag_id: str, airflow_output: Path, *, no_retries: bool = False
) -> tuple[bool, list[str], list[str]]:
    """Run one DAG; print its tasks' states, the runs started and the failure reasons. Returns whether
    it succeeded, the reasons (the provider's error lines) and the runs it started."""
    import structlog

    dag = bag.get_dag(dag_id)
    if no_retries:  # a failed try would otherwise wait out its retry_delay before the next
        for task in dag.tasks:
            task.retries = 0
    with _elsewhere(airflow_output), structlog.testing.capture_logs() as events:
        dr = dag.test()
    texts = [(e, _text(e)) for e in events]
    started = [t for _, t in texts if t.startswith(("Started ", "Re-attached to "))]
    # the provider's own error lines (Airflow's "Task failed with exception" comes from logger "task")
    reasons = [
        t for e, t in texts if e.get("log_level") in ("error", "critical") and e.get("logger_name") != "task"
    ]
    print(f"{dag_id}:", flush=True)
    for ti in sorted(dr.get_task_instances(), key=lambda ti: ti.task_id):
        print(f"  {ti.task_id}: {getattr(ti.state, 'value', ti.state)}", flush=True)
    for line in started:
        print("\n".join(_lines("    ", line)), flush=True)
    for line in reasons:
        print("\n".join(_lines("    reason: ", line)), flush=True)
    return str(getattr(dr.state, "value", dr.state)) == "success", reasons, started


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    dags_folder = Path(args[0] if args else "example_dags").resolve()
    airflow_output = _prepare(dags_folder)
    from airflow_provider_pipelines.testing.sandbox import Sandbox

    with Sandbox(lifetime=1800) as sandbox:
        os.environ.update(sandbox.connection_env())
        print(f"Sandbox on {sandbox.url}", flush=True)
        with _elsewhere(airflow_output):
            bag = _dagbag(dags_folder)
        dag_ids = sorted(bag.dag_ids)
        print(f"\nRunning {len(dag_ids)} example DAG(s), deferred, against the sandbox:\n", flush=True)
        first = {dag_id: _run(bag, dag_id, airflow_output) for dag_id in dag_ids}
        results = {dag_id: ok for dag_id, (ok, _, _) in first.items()}
        starting = [dag_id for dag_id, (_, _, started) in first.items() if started]

        print("\nNow the sandbox fails every run of every vendor; the examples again, to show why:\n")
        for vendor, word in FAILURE_WORDS.items():
            sandbox.client.plan(vendor, "*", duration=1.0, outcome=word)
        failures = {dag_id: _run(bag, dag_id, airflow_output, no_retries=True) for dag_id in starting}
    # each DAG failed, with a reason from the provider, and every vendor's failure was shown
    failed_as_told = bool(failures) and all(not ok and reasons for ok, reasons, _ in failures.values())
    shown = " ".join(" ".join(reasons) for _, reasons, _ in failures.values())
    vendors_shown = all(
        name in shown for name in ("Dataform", "Profitbase InVision", "DataOps.live", "Remote Airflow")
    )
    good = all(results.values()) and failed_as_told and vendors_shown
    print(
        "\ndemo: " + ("OK" if good else "FAILED") + f" ({sum(results.values())}/{len(results)} succeeded; "
        f"failures shown for {len(failures)} DAG(s), all four vendors: {vendors_shown})"
    )
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
