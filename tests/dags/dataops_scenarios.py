"""DataOps.live DAGs the tests run with dag.test(): each scenario is chosen through the run's conf.

conf keys: ``plan`` (the pipeline file, which is the sandbox plan key; default ``full-ci.yml``),
``project`` (default the path ``acme/analytics/snowflake-pipelines``), ``ref`` (default ``main``),
``jobs`` (transformation jobs in the fake, default 1).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator
from airflow_provider_pipelines.sensors.dataops import DataOpsPipelineSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

PROJECT = "{{ dag_run.conf.get('project', 'acme/analytics/snowflake-pipelines') }}"
PIPELINE = dict(
    project=PROJECT,
    ref="{{ dag_run.conf.get('ref', 'main') }}",
    pipeline_file="{{ dag_run.conf.get('plan', 'full-ci.yml') }}",
    variables={"DATAOPS_DEBUG": "1", "SANDBOX_TRANSFORM_JOBS": "{{ dag_run.conf.get('jobs', '1') }}"},
    poll_interval=0.5,
)

for mode, deferrable in (("poll", False), ("defer", True)):
    with DAG(
        dag_id=f"t_dataops_{mode}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
    ) as dag:
        DataOpsPipelineOperator(task_id="run", deferrable=deferrable, timeout=4, manual_grace=1, **PIPELINE)
    globals()[dag.dag_id] = dag

    with DAG(
        dag_id=f"t_dataops_lenient_{mode}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
    ) as dag:
        DataOpsPipelineOperator(
            task_id="run", deferrable=deferrable, timeout=4, skipped_is_success=True, **PIPELINE
        )
    globals()[dag.dag_id] = dag

    with DAG(
        dag_id=f"t_dataops_retry_{mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        default_args={"retries": 1, "retry_delay": timedelta(seconds=0.5)},
    ) as dag:
        DataOpsPipelineOperator(task_id="run", deferrable=deferrable, timeout=15, **PIPELINE)
    globals()[dag.dag_id] = dag

    with DAG(
        dag_id=f"t_dataops_nowait_{mode}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
    ) as dag:
        start = DataOpsPipelineOperator(
            task_id="start",
            project=PROJECT,
            pipeline_file="{{ dag_run.conf.get('plan', 'full-ci.yml') }}",
            wait_for_completion=False,
        )
        watch = DataOpsPipelineSensor(
            task_id="watch",
            project=PROJECT,
            pipeline_id="{{ ti.xcom_pull(task_ids='start') }}",
            deferrable=deferrable,
            poll_interval=0.5,
            timeout=30,
        )
        start >> watch
    globals()[dag.dag_id] = dag
