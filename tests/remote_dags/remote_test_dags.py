"""The DAGs of the real remote Airflow 3 that tests/test_real_airflow.py starts (not loaded locally).

* ``remote_echo``: returns its run's conf as the XCom of task ``echo``;
* ``remote_broken``: ``prepare`` succeeds, then ``explode`` fails (no retries);
* ``remote_sleepy``: ``nap`` sleeps for minutes: for deadlines;
* ``remote_paused``: paused when first parsed.
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import DAG, task

ARGS = {"schedule": None, "start_date": datetime(2026, 1, 1), "catchup": False}

with DAG("remote_echo", **ARGS):

    @task
    def echo(**context):
        return context["dag_run"].conf

    echo()

with DAG("remote_broken", default_args={"retries": 0}, **ARGS):

    @task
    def prepare():
        return "ready"

    @task
    def explode(_ready):
        raise ValueError("remote_broken fails on purpose")

    explode(prepare())

with DAG("remote_sleepy", **ARGS):

    @task
    def nap():
        time.sleep(300)

    nap()

with DAG("remote_paused", is_paused_upon_creation=True, **ARGS):

    @task
    def hello():
        return "hello"

    hello()
