"""Run a Profitbase InVision data flow and wait for it: deferred, then with one held request.

Connection ``profitbase_default`` (type ``profitbase_invision``): host = the
InVision base URL with its path (``https://mydomain.com/invision``),
password = a Data Flow Execution API key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

with DAG(
    dag_id="example_profitbase",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "profitbase"],
) as dag:
    ProfitbaseDataFlowOperator(
        task_id="load_budget",
        data_flow_id="2b081248-4963-43b3-ba06-5b7403d58b4d",
        deferrable=True,
        poll_interval=30,
        timeout=timedelta(hours=1),
    ) >> ProfitbaseDataFlowOperator(
        # InVision's await=true: one request held open until the flow ends (in the worker; a short
        # flow only: the run id comes in that reply, and InVision cannot list runs)
        task_id="refresh_forecast",
        data_flow_id="2b081248-4963-43b3-ba06-5b7403d58b4d",
        deferrable=False,
        use_await=True,
        timeout=timedelta(minutes=10),
    )
