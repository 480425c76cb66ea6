"""One retried task per vendor and waiting mode, for dag.test(): its first try fails after its start.

The sandbox refuses the first try's status reads (401, a permanent error), so that try fails
with its run started and going; the second try must find that run instead of starting another.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_pipelines.operators.dataform import DataformRunOperator
from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator
from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator
from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

OPERATORS = {
    "dataform": lambda **kw: DataformRunOperator(project_id="1234", schedule_name="retried", **kw),
    "profitbase": lambda **kw: ProfitbaseDataFlowOperator(
        data_flow_id="6f1c2d3e-0000-4000-8000-000000000001", **kw
    ),
    "dataops": lambda **kw: DataOpsPipelineOperator(
        project="4242", ref="main", pipeline_file="retried.yml", **kw
    ),
    "remote_airflow": lambda **kw: TriggerRemoteDagRunOperator(dag_id="etl", **kw),
}

for vendor, build in OPERATORS.items():
    for mode, deferrable in (("poll", False), ("defer", True)):
        with DAG(
            dag_id=f"t_retried_{vendor}_{mode}",
            schedule=None,
            start_date=datetime(2026, 1, 1),
            catchup=False,
            default_args={"retries": 1, "retry_delay": timedelta(seconds=0.5)},
        ) as dag:
            build(task_id="run", deferrable=deferrable, poll_interval=0.5, timeout=30)
        globals()[dag.dag_id] = dag
