"""DAGs the tests run with dag.test() against a remote Airflow: the sandbox's fake, or a real Airflow 3.

Scenarios are chosen through the run's conf (rendered as native objects):
``dag`` (the remote DAG id, default ``etl``), ``remote_conf`` (the remote run's conf),
``dag_run_id`` (default: the operator's own deterministic id), ``logical_date``.

* ``t_remote_airflow_{poll,defer}``: connection ``remote_airflow_default`` (the sandbox, v2),
  timeout 4 s;
* ``t_remote_airflow_v1_{poll,defer}``: connection ``remote_airflow_v1`` (the sandbox's
  Airflow 2, login + password), defined by the test module;
* ``t_remote_airflow_retry``: a task with one retry, polling;
* ``t_remote_airflow_sensor_{poll,defer}``: trigger without waiting, then the sensor;
* ``t_remote_airflow_sensor_soft``: the same, poking, with a 3 s timeout and ``soft_fail``;
* ``t_remote_real_{poll,defer}``, ``t_remote_real_timeout``, ``t_remote_real_unpause``,
  ``t_remote_real_retry`` (its first try dies right after the trigger): connection
  ``remote_airflow_real``, a real Airflow 3 started by ``tests/test_real_airflow.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator
from airflow_provider_pipelines.sensors.remote_airflow import RemoteDagRunSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

SCENARIO = {
    "dag_id": "{{ dag_run.conf.get('dag', 'etl') }}",
    "conf": "{{ dag_run.conf.get('remote_conf', {}) }}",
    "dag_run_id": "{{ dag_run.conf.get('dag_run_id') }}",
    "logical_date": "{{ dag_run.conf.get('logical_date') }}",
}


def scenario_dag(dag_id: str) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        render_template_as_native_obj=True,
    )


for mode, deferrable in (("poll", False), ("defer", True)):
    for suffix, conn_id in (("", "remote_airflow_default"), ("_v1", "remote_airflow_v1")):
        with scenario_dag(f"t_remote_airflow{suffix}_{mode}") as dag:
            TriggerRemoteDagRunOperator(
                task_id="trigger",
                remote_airflow_conn_id=conn_id,
                deferrable=deferrable,
                poll_interval=0.5,
                timeout=4,
                **SCENARIO,
            )
        globals()[dag.dag_id] = dag

    with scenario_dag(f"t_remote_airflow_sensor_{mode}") as dag:
        start = TriggerRemoteDagRunOperator(task_id="start", wait_for_completion=False, **SCENARIO)
        watch = RemoteDagRunSensor(
            task_id="watch",
            dag_id="{{ dag_run.conf.get('dag', 'etl') }}",
            dag_run_id="{{ ti.xcom_pull(task_ids='start') }}",
            deferrable=deferrable,
            poll_interval=0.5,
            timeout=30,
        )
        start >> watch
    globals()[dag.dag_id] = dag

    with scenario_dag(f"t_remote_real_{mode}") as dag:
        TriggerRemoteDagRunOperator(
            task_id="trigger",
            remote_airflow_conn_id="remote_airflow_real",
            deferrable=deferrable,
            poll_interval=1,
            timeout=180,
            **SCENARIO,
        )
    globals()[dag.dag_id] = dag

with scenario_dag("t_remote_airflow_sensor_soft") as dag:
    start = TriggerRemoteDagRunOperator(task_id="start", wait_for_completion=False, **SCENARIO)
    watch = RemoteDagRunSensor(
        task_id="watch",
        dag_id="{{ dag_run.conf.get('dag', 'etl') }}",
        dag_run_id="{{ ti.xcom_pull(task_ids='start') }}",
        deferrable=False,
        poll_interval=0.5,
        timeout=3,
        soft_fail=True,
    )
    start >> watch
globals()[dag.dag_id] = dag

with scenario_dag("t_remote_airflow_retry") as dag:
    TriggerRemoteDagRunOperator(
        task_id="trigger",
        retries=1,
        retry_delay=timedelta(seconds=0),
        poll_interval=0.5,
        timeout=10,
        **SCENARIO,
    )
globals()[dag.dag_id] = dag


class _CrashesAfterItsFirstStart(TriggerRemoteDagRunOperator):
    """Stands in for a worker that dies right after the remote run was triggered, on try 1 only."""

    def remember(self, context, run):
        super().remember(context, run)
        if context["ti"].try_number == 1:
            raise RuntimeError("the worker died after triggering the remote run (simulated)")


with scenario_dag("t_remote_real_retry") as dag:
    _CrashesAfterItsFirstStart(
        task_id="trigger",
        remote_airflow_conn_id="remote_airflow_real",
        retries=1,
        retry_delay=timedelta(seconds=0),
        poll_interval=1,
        timeout=180,
        **SCENARIO,
    )
globals()[dag.dag_id] = dag

with scenario_dag("t_remote_real_timeout") as dag:
    TriggerRemoteDagRunOperator(
        task_id="trigger",
        remote_airflow_conn_id="remote_airflow_real",
        poll_interval=1,
        timeout=6,
        **SCENARIO,
    )
globals()[dag.dag_id] = dag

with scenario_dag("t_remote_real_unpause") as dag:
    TriggerRemoteDagRunOperator(
        task_id="trigger",
        remote_airflow_conn_id="remote_airflow_real",
        unpause_if_paused=True,
        deferrable=True,
        poll_interval=1,
        timeout=180,
        **SCENARIO,
    )
globals()[dag.dag_id] = dag
