"""Run a DataOps.live pipeline file with variables, and wait for it without holding a worker slot.

Connection ``dataops_default`` (type ``dataops_live``): host = ``https://app.dataops.live``
(the hook adds ``/api/v4``), password = a personal, project or group access token.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

with DAG(
    dag_id="example_dataops",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "dataops"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
) as dag:
    DataOpsPipelineOperator(
        task_id="full_ci",
        project="acme/analytics/snowflake-pipelines",  # or the numeric project id
        ref="main",
        pipeline_file="full-ci.yml",
        variables={"FORCE_INGESTION": "1"},
        deferrable=True,
        poll_interval=30,
        timeout=timedelta(hours=2),  # past it, the pipeline is cancelled and the task fails
        manual_grace=timedelta(minutes=30),  # a pipeline waiting on a manual job fails the task after this
    )
