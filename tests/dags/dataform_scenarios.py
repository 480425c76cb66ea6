"""DAGs the tests run with dag.test(): each scenario is chosen through the run's conf.

conf keys: ``schedule`` (the sandbox plan key), ``project`` (default 1234),
``timeout`` (seconds, default 60), ``wait`` (default true).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_pipelines.operators.dataform import DataformRunOperator
from airflow_provider_pipelines.sensors.dataform import DataformRunSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

for mode, deferrable in (("poll", False), ("defer", True)):
    with DAG(
        dag_id=f"t_dataform_{mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
    ) as dag:
        DataformRunOperator(
            task_id="run",
            project_id="{{ dag_run.conf.get('project', '1234') }}",
            schedule_name="{{ dag_run.conf['schedule'] }}",
            tags=["{{ dag_run.conf.get('tag', 'daily') }}"],
            deferrable=deferrable,
            poll_interval=0.5,
            timeout=3,
        )
    globals()[dag.dag_id] = dag

    with DAG(
        dag_id=f"t_dataform_nowait_{mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
    ) as dag:
        start = DataformRunOperator(
            task_id="start",
            project_id="1234",
            schedule_name="{{ dag_run.conf['schedule'] }}",
            wait_for_completion=False,
        )
        DataformRunSensor(
            task_id="watch",
            project_id="1234",
            run_id="{{ ti.xcom_pull(task_ids='start') }}",
            deferrable=deferrable,
            poll_interval=0.5,
            timeout=30,
        )
        start >> dag.get_task("watch")
    globals()[dag.dag_id] = dag

    with DAG(
        dag_id=f"t_dataform_retry_{mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        default_args={"retries": 1, "retry_delay": timedelta(seconds=0.5)},
    ) as dag:
        DataformRunOperator(
            task_id="run", project_id="1234", schedule_name="retry", deferrable=deferrable, timeout=15
        )
    globals()[dag.dag_id] = dag
