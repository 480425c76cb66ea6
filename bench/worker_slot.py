"""How long a deferred run holds a worker slot: start the run, record it, defer (target: <= 2 s).

For each vendor's operator (``deferrable=True``), a one-task DAG runs with
``dag.test()`` against the sandbox (:class:`airflow_provider_pipelines.testing.Sandbox`,
real HTTP on 127.0.0.1; nothing is mocked), in real Airflow: the task starts the
run, pushes its id and link to XCom, defers, the trigger waits in-process, and the
task resumes and succeeds. The figure is the task's own time in the worker: from
``execute()`` being entered until it raises ``TaskDeferred``. To time it, the
operator class's ``execute`` is wrapped for the bench (on the class: the task
runner executes a copy of the task object, made by ``prepare_for_execution``).

All of it runs in one fresh interpreter (an Airflow home with a SQLite DB,
migrated first), as a worker's task process would. Its first ``dag.test()`` is a
warm-up, not counted: it starts Airflow's in-process execution API (seconds, once)
and pays the task process's first-time imports, among them the trigger module
with its HTTP and retry libraries, which only a deferring task imports; its slot
time is printed on its own line, as what the first deferral in a fresh worker
process costs. The sandbox runs in the driver process, not in the task's. Runs
are planned to last RUN_SECONDS and the tasks poll every POLL_INTERVAL seconds, so
that each ``dag.test()`` ends quickly; its wall time (parsing the DAG folder, the
DB, the trigger's wait, resuming) is shown too. Prints figures only; nothing is
asserted.

    python bench/worker_slot.py [--reps 5] [--json FILE]
    python bench/worker_slot.py --smoke        # one repetition per vendor: for CI
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENDORS = ("dataform", "profitbase", "dataops", "remote_airflow")
#: vendor -> (module, operator class)
OPERATORS = {
    "dataform": ("airflow_provider_pipelines.operators.dataform", "DataformRunOperator"),
    "profitbase": ("airflow_provider_pipelines.operators.profitbase", "ProfitbaseDataFlowOperator"),
    "dataops": ("airflow_provider_pipelines.operators.dataops", "DataOpsPipelineOperator"),
    "remote_airflow": ("airflow_provider_pipelines.operators.remote_airflow", "TriggerRemoteDagRunOperator"),
}
#: how long every sandbox run lasts, and the tasks' poll_interval: dag.test() is over in about a second
RUN_SECONDS = 1.0
POLL_INTERVAL = 0.5
TARGET_S = 2.0
DAG_PREFIX = "bench_worker_slot_"
#: the measuring interpreter is stopped after this long (start-up, plus seconds per dag.test())
CHILD_SLACK, PER_REP_LIMIT = 120, 60
STDERR_TAIL = 25

DAG_FILE = '''"""airflow DAGs for bench/worker_slot.py (written by it): one deferrable task per vendor."""
import sys

sys.path.insert(0, {bench!r})
from worker_slot import build_dags  # noqa: E402

globals().update(build_dags())
'''


# -- the DAGs (built in the Airflow home's DAG folder, through DAG_FILE) ----------------------------


def build_dags() -> dict[str, Any]:
    """One DAG per vendor, each with one deferrable operator task that starts a sandbox run."""
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2.11
        from airflow import DAG
    from datetime import datetime

    from airflow_provider_pipelines.operators.dataform import DataformRunOperator
    from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator
    from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator
    from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator
    from airflow_provider_pipelines.testing.fakes.profitbase import FakeProfitbase

    common: dict[str, Any] = {
        "task_id": "run",
        "deferrable": True,
        "poll_interval": POLL_INTERVAL,
        "timeout": 60,
    }
    tasks = {
        "dataform": lambda: DataformRunOperator(project_id="1234", schedule_name="nightly", **common),
        "profitbase": lambda: ProfitbaseDataFlowOperator(data_flow_id=FakeProfitbase.data_flows[0], **common),
        "dataops": lambda: DataOpsPipelineOperator(
            project="acme/analytics/snowflake-pipelines", ref="main", pipeline_file="full-ci.yml", **common
        ),
        "remote_airflow": lambda: TriggerRemoteDagRunOperator(dag_id="etl", conf={"bench": True}, **common),
    }
    dags: dict[str, Any] = {}
    for vendor, make in tasks.items():
        with DAG(
            dag_id=DAG_PREFIX + vendor, schedule=None, start_date=datetime(2026, 1, 1), catchup=False
        ) as dag:
            make()
        dags[dag.dag_id] = dag
    return dags


# -- the driver: Airflow home, sandbox, one child per vendor ----------------------------------------


def airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }


def tail(text: str) -> list[str]:
    return text.strip().splitlines()[-STDERR_TAIL:] or ["(nothing on stderr)"]


def run_child(cmd: list[str], env: dict[str, str], limit: float) -> tuple[int, list[str]]:
    """Run one child (stdout, Airflow's log, thrown away); (exit code, end of its stderr)."""
    with tempfile.TemporaryFile("w+", errors="replace") as err:
        try:
            proc = subprocess.run(
                cmd, check=False, stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=limit
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -1
            err.write(f"\n(stopped after {limit:g} s)")
        err.seek(0)
        return code, tail(err.read()) if code else []


HEAD = (
    f"{'vendor':<15} {'operator':<28} {'reps':>4} {'slot median ms':>14} {'min ms':>8} {'max ms':>8} "
    f"{'dag.test() s':>12} {'state':>8}"
)


def row(r: dict[str, Any]) -> str:
    return (
        f"{r['vendor']:<15} {r['operator']:<28} {r['reps']:>4} {r['slot_median_ms']:>14.1f} "
        f"{r['slot_min_ms']:>8.1f} {r['slot_max_ms']:>8.1f} {r['dag_test_median_s']:>12.2f} "
        f"{r['state']:>8}"
    )


def drive(args: argparse.Namespace) -> int:
    """Every vendor's measurement; returns how many failed."""
    from airflow_provider_pipelines.testing import Sandbox

    vendors = [v.strip() for v in args.vendors.split(",")]
    home = Path(tempfile.mkdtemp(prefix="pipelines-bench-home-"))
    failures = 0
    try:
        (home / "dags").mkdir()
        (home / "dags" / "bench_worker_slot.py").write_text(DAG_FILE.format(bench=str(HERE)))
        env = {**os.environ, **airflow_env(home)}
        started = time.perf_counter()
        code, lines = run_child([sys.executable, "-m", "airflow", "db", "migrate"], env, 300)
        if code:
            print(f"airflow db migrate failed (exit {code}); the end of its stderr:", flush=True)
            for line in lines:
                print(f"    | {line}", file=sys.stderr, flush=True)
            return 1
        migrated = time.perf_counter() - started
        reps = (1 + len(vendors) * args.reps) * PER_REP_LIMIT
        with Sandbox(lifetime=CHILD_SLACK + reps) as sandbox, tempfile.NamedTemporaryFile("r") as out:
            for vendor in VENDORS:
                sandbox.client.plan(vendor, "*", duration=RUN_SECONDS)
            env.update(sandbox.connection_env())
            print(
                f"dag.test() against the sandbox on {sandbox.url} (Airflow home with SQLite, migrated in "
                f"{migrated:.1f} s); runs last {RUN_SECONDS:g} s, tasks poll every {POLL_INTERVAL:g} s; "
                f"medians of {args.reps} after a warm-up; target: the slot held <= {TARGET_S:g} s",
                flush=True,
            )
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--vendors", ",".join(vendors)]
            cmd += ["--reps", str(args.reps), "--out", out.name]
            code, lines = run_child(cmd, env, CHILD_SLACK + reps)
            if code:
                print(f"the measuring interpreter FAILED: exit {code}; the end of its stderr:", flush=True)
                for line in lines:
                    print(f"    | {line}", file=sys.stderr, flush=True)
                return 1
            measured = json.load(out)
        print(HEAD, flush=True)
        results = [summarise(vendor, measured["vendors"][vendor]) for vendor in vendors]
        for result in results:
            print(row(result), flush=True)
            for problem in result["problems"]:
                failures += 1
                print(f"    {result['vendor']}: {problem}", flush=True)
        warm = measured["warmup"]
        if warm["slot_s"] is None:
            failures += 1
            print(f"warm-up ({warm['vendor']}): {warm['problem']}")
        else:
            print(
                f"first deferral in the fresh interpreter (the warm-up, {warm['vendor']}; first-time imports "
                f"included): slot {warm['slot_s'] * 1000:.1f} ms, dag.test() {warm['wall_s']:.2f} s"
            )
        if args.json:
            Path(args.json).write_text(json.dumps({"vendors": results, "warmup": warm}, indent=1))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return failures


def summarise(vendor: str, reps: list[dict[str, Any]]) -> dict[str, Any]:
    slots = [r["slot_s"] * 1000 for r in reps if r["slot_s"] is not None]
    walls = [r["wall_s"] for r in reps]
    states = sorted({r["state"] for r in reps})
    problems = [f"repetition {i + 1}: {r['problem']}" for i, r in enumerate(reps) if r.get("problem")]
    nan = float("nan")
    return {
        "vendor": vendor,
        "operator": OPERATORS[vendor][1],
        "reps": len(reps),
        "slot_median_ms": statistics.median(slots) if slots else nan,
        "slot_min_ms": min(slots) if slots else nan,
        "slot_max_ms": max(slots) if slots else nan,
        "dag_test_median_s": statistics.median(walls),
        "state": ",".join(states),
        "problems": problems,
        "samples": reps,
    }


# -- the measurements, in a fresh interpreter ---------------------------------------------------------------


@contextlib.contextmanager
def timed_execute(cls: type, samples: list[tuple[str, float]]) -> Iterator[None]:
    """Wrap ``cls.execute``: each call records ("deferred" | "returned" | "raised", seconds)."""
    from airflow.sdk.exceptions import TaskDeferred

    own = "execute" in cls.__dict__
    original = cls.__dict__["execute"] if own else cls.execute

    def execute(self: Any, context: Any) -> Any:
        start = time.perf_counter()
        try:
            result = original(self, context)
        except TaskDeferred:
            samples.append(("deferred", time.perf_counter() - start))
            raise
        except BaseException:
            samples.append(("raised", time.perf_counter() - start))
            raise
        samples.append(("returned", time.perf_counter() - start))
        return result

    cls.execute = execute  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if own:
            cls.execute = original  # type: ignore[attr-defined]
        else:
            del cls.execute  # type: ignore[attr-defined]


def one_run(dag: Any, operator: type) -> dict[str, Any]:
    """One dag.test(): the slot time (execute() until TaskDeferred), the wall time, the run's state."""
    samples: list[tuple[str, float]] = []
    with timed_execute(operator, samples):
        start = time.perf_counter()
        dr = dag.test()
        wall = time.perf_counter() - start
    state = str(getattr(dr.state, "value", dr.state))
    deferred = [s for kind, s in samples if kind == "deferred"]
    problem = None
    if not deferred:
        problem = f"the task did not defer (execute: {[kind for kind, _ in samples] or 'not called'})"
    elif state != "success":
        problem = f"the DAG run ended {state}"
    return {"slot_s": deferred[0] if deferred else None, "wall_s": wall, "state": state, "problem": problem}


def child(args: argparse.Namespace) -> None:
    from airflow.dag_processing.dagbag import DagBag

    vendors = args.vendors.split(",")
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"the bench DAGs failed to import: {bag.import_errors}")
    dags = {vendor: bag.get_dag(DAG_PREFIX + vendor) for vendor in vendors}
    operators = {
        vendor: getattr(importlib.import_module(OPERATORS[vendor][0]), OPERATORS[vendor][1])
        for vendor in vendors
    }
    warmup = {"vendor": vendors[0], **one_run(dags[vendors[0]], operators[vendors[0]])}
    measured = {
        vendor: [one_run(dags[vendor], operators[vendor]) for _ in range(args.reps)] for vendor in vendors
    }
    Path(args.out).write_text(json.dumps({"warmup": warmup, "vendors": measured}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="dag.test() runs per vendor (median printed)")
    parser.add_argument("--vendors", default=",".join(VENDORS), help="any of " + ",".join(VENDORS))
    parser.add_argument("--smoke", action="store_true", help="one repetition per vendor: for CI")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.smoke:
        args.reps = 1
    if drive(args):
        sys.exit(1)


if __name__ == "__main__":
    main()
