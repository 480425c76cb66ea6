"""One nightly chain across all four services, every wait deferred.

DataOps.live ingests, Dataform transforms, Profitbase InVision loads the
planning model, and a reporting DAG on another Airflow deployment is triggered
last. Each task starts its run, records its id and link, and frees its worker
slot while the run goes on; a failure anywhere stops the chain with the
vendor's reason in the task log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_pipelines.operators.dataform import DataformRunOperator
from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator
from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator
from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator

try:
    from airflow.sdk import DAG, chain
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.models.baseoperator import chain

with DAG(
    dag_id="example_pipeline_chain",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "dataops", "dataform", "profitbase", "remote_airflow"],
    default_args={"deferrable": True, "poll_interval": 60, "timeout": timedelta(hours=2)},
) as dag:
    chain(
        DataOpsPipelineOperator(
            task_id="ingest",
            project="acme/analytics/snowflake-pipelines",
            pipeline_file="full-ci.yml",
        ),
        DataformRunOperator(task_id="transform", project_id="1234", schedule_name="nightly"),
        ProfitbaseDataFlowOperator(
            task_id="load_planning_model",
            data_flow_id="2b081248-4963-43b3-ba06-5b7403d58b4d",
        ),
        TriggerRemoteDagRunOperator(
            task_id="refresh_reports",
            dag_id="etl",
            conf={"upstream_run": "{{ run_id }}"},
        ),
    )
