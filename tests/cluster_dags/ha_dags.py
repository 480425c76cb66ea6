"""DAGs for the real-cluster fault tests (``tests/test_ha_cluster.py``); the sandbox serves the vendors.

``ha_load``: six deferred tasks per vendor, five planned to succeed and one to fail, waiting
at once while the tests stop, resume and kill triggerers. ``ha_worker_kill``: one task per
vendor polling in the worker; each writes its process id to ``$PIPELINES_TEST_PID_DIR`` when it
starts, so that the test can kill the task's process while it polls.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_provider_pipelines.operators.dataform import DataformRunOperator
from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator
from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator
from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

#: the sandbox's plan key of each vendor's runs: (planned to succeed, planned to fail)
KEYS = {
    "dataform": ("ha_ok", "ha_fail"),
    "profitbase": ("6f1c2d3e-0000-4000-8000-000000000001", "6f1c2d3e-0000-4000-8000-000000000002"),
    "dataops": ("ha-ok.yml", "ha-fail.yml"),
    "remote_airflow": ("etl", "report"),
}
#: the keys of the worker-kill DAG's runs (one per vendor)
WORKER_KEYS = {
    "dataform": "wk",
    "profitbase": "2b081248-4963-43b3-ba06-5b7403d58b4d",
    "dataops": "wk.yml",
    "remote_airflow": "etl",
}
PER_VENDOR = 6


def operator(vendor: str, task_id: str, key: str, **kwargs: Any) -> Any:
    """One task of ``vendor`` whose run follows the sandbox plan ``key``."""
    if vendor == "dataform":
        return DataformRunOperator(task_id=task_id, project_id="1234", schedule_name=key, **kwargs)
    if vendor == "profitbase":
        return ProfitbaseDataFlowOperator(task_id=task_id, data_flow_id=key, **kwargs)
    if vendor == "dataops":
        return DataOpsPipelineOperator(
            task_id=task_id, project="4242", ref="main", pipeline_file=key, **kwargs
        )
    return TriggerRemoteDagRunOperator(task_id=task_id, dag_id=key, **kwargs)


def planned_outcome(task_id: str) -> str:
    """``success`` or ``failed``: what the ``ha_load`` task ``task_id`` is planned to end as."""
    return "failed" if task_id.endswith("_fail") else "success"


with DAG("ha_load", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, max_active_tasks=32):
    for vendor, (ok, bad) in KEYS.items():
        for i in range(PER_VENDOR):
            failing = i == PER_VENDOR - 1
            operator(
                vendor,
                f"{vendor}_{i}" + ("_fail" if failing else ""),
                bad if failing else ok,
                deferrable=True,
                poll_interval=5,
                timeout=900,
                retries=0,
            )


def _write_pid(context: Any) -> None:
    ti = context["ti"]
    folder = Path(os.environ["PIPELINES_TEST_PID_DIR"])
    (folder / f"{ti.task_id}.{ti.try_number}").write_text(str(os.getpid()))


with DAG("ha_worker_kill", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    for vendor, key in WORKER_KEYS.items():
        operator(
            vendor,
            f"{vendor}_worker",
            key,
            deferrable=False,
            poll_interval=2,
            timeout=900,
            retries=1,
            retry_delay=timedelta(seconds=2),
            on_execute_callback=_write_pid,
        )
