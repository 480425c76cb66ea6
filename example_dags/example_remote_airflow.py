"""Trigger a DAG on another Airflow deployment, pass it a conf, and wait without holding a worker slot.

Connection ``remote_airflow_default`` (type ``remote_airflow``): host = the deployment's URL,
path prefix included (``https://<org>.astronomer.run/<deployment-id>``, ``https://airflow.example.com``);
password = an API token (sent as Bearer), or login + password (a token from ``/auth/token`` on
Airflow 3, basic auth on Airflow 2). Which API the deployment speaks is found out by itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

with DAG(
    dag_id="example_remote_airflow",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "remote_airflow"],
) as dag:
    TriggerRemoteDagRunOperator(
        task_id="trigger_etl",
        dag_id="etl",
        conf={"source": "{{ dag.dag_id }}", "upstream_run": "{{ run_id }}"},
        deferrable=True,
        poll_interval=30,
        timeout=timedelta(hours=2),
    )
