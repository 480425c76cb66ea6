"""Run a Dataform Web schedule nightly and wait for it without holding a worker slot.

Connection ``dataform_default`` (type ``dataform_web``): host = the API base URL
(``https://api.dataform.co``), password = the project's API token.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_pipelines.operators.dataform import DataformRunOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

with DAG(
    dag_id="example_dataform",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "dataform"],
) as dag:
    DataformRunOperator(
        task_id="nightly",
        project_id="1234",
        schedule_name="nightly",
        deferrable=True,
        poll_interval=30,
        timeout=timedelta(hours=2),
    )
