"""DAGs of the OpenLineage tests (tests/test_lineage.py) that the vendor scenario files do not have.

* ``t_lineage_dataops_user_parent``: the user's variables already set ``OPENLINEAGE_PARENT_ID``;
* ``t_lineage_dataops_off`` and ``t_lineage_remote_off``: ``openlineage_inject_parent_info=False``.
"""

from __future__ import annotations

from datetime import datetime

from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator
from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

ARGS = {"schedule": None, "start_date": datetime(2026, 1, 1), "catchup": False}
#: a parent the user names themselves (another scheduler's run, say)
USER_PARENT = "their-namespace/their_job/0194d3a2-5c1e-7b3a-9c55-2a5f4e1d9b10"
PIPELINE = {
    "project": "acme/analytics/snowflake-pipelines",
    "pipeline_file": "full-ci.yml",
    "poll_interval": 0.5,
}

with DAG(dag_id="t_lineage_dataops_user_parent", **ARGS):
    DataOpsPipelineOperator(
        task_id="run", variables={"OPENLINEAGE_PARENT_ID": USER_PARENT}, timeout=10, **PIPELINE
    )

with DAG(dag_id="t_lineage_dataops_off", **ARGS):
    DataOpsPipelineOperator(task_id="run", openlineage_inject_parent_info=False, timeout=10, **PIPELINE)

with DAG(dag_id="t_lineage_remote_off", **ARGS):
    TriggerRemoteDagRunOperator(
        task_id="trigger",
        dag_id="etl",
        conf={"day": "2026-01-31"},
        openlineage_inject_parent_info=False,
        poll_interval=0.5,
        timeout=10,
    )
