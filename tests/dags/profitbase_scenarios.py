"""Profitbase DAGs for dag.test(); the scenario comes from the run's conf.

conf keys: ``flow`` (data flow id, also the sandbox plan key), ``timeout`` is fixed per DAG.
"""

from __future__ import annotations

from datetime import datetime

from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator
from airflow_provider_pipelines.sensors.profitbase import ProfitbaseDataFlowSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

FLOW = "{{ dag_run.conf['flow'] }}"

for name, deferrable, use_await in (("poll", False, False), ("defer", True, False), ("await", False, True)):
    with DAG(dag_id=f"t_profitbase_{name}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        ProfitbaseDataFlowOperator(
            task_id="flow",
            data_flow_id=FLOW,
            deferrable=deferrable,
            use_await=use_await,
            poll_interval=0.5,
            timeout=3,
        )
    globals()[dag.dag_id] = dag

for name, deferrable in (("poll", False), ("defer", True)):
    with DAG(dag_id=f"t_profitbase_sensor_{name}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        start = ProfitbaseDataFlowOperator(task_id="start", data_flow_id=FLOW, wait_for_completion=False)
        watch = ProfitbaseDataFlowSensor(
            task_id="watch",
            data_flow_id=FLOW,
            run_id="{{ ti.xcom_pull(task_ids='start') }}",
            deferrable=deferrable,
            poll_interval=0.5,
            timeout=30,
        )
        start >> watch
    globals()[dag.dag_id] = dag

# a sensor given a run id from the conf (``run``), with a short grace for a run InVision never answers for
for name, deferrable in (("poll", False), ("defer", True)):
    with DAG(dag_id=f"t_profitbase_unknown_{name}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        ProfitbaseDataFlowSensor(
            task_id="watch",
            data_flow_id=FLOW,
            run_id="{{ dag_run.conf['run'] }}",
            deferrable=deferrable,
            poll_interval=0.3,
            timeout=40,
            unknown_run_grace=2,
        )
    globals()[dag.dag_id] = dag

# a literal data flow id that is not a GUID: checked at parse time, warned about once when the task runs
with DAG(dag_id="t_profitbase_literal_id", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    ProfitbaseDataFlowOperator(task_id="flow", data_flow_id="not-a-guid-flow", poll_interval=0.5, timeout=10)
