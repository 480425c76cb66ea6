"""A retried task, for every vendor and both waiting modes, in real Airflow (dag.test()).

The first try starts a run and then fails (its status reads are refused); the second try
must wait on that run rather than start another, wherever the vendor or Airflow allows it:
Airflow 3.3's task_state_store for every vendor, and the vendors' own means (DataOps.live's
marker, remote Airflow's fixed run id) before it. Dataform and InVision have no means of
their own: before Airflow 3.3 the second try starts a second run, and says so.
"""

from __future__ import annotations

import pytest

from tests.dagrun import HAS_TASK_STATE_STORE, run_dag

#: vendor -> (the status-read path to refuse, how many reads the first try makes before it fails)
READS = {
    "dataform": (r"/run/\d+$", 2),  # the read right after the start is allowed to fail
    "profitbase": (r"/status$", 1),
    "dataops": (r"/pipelines/\d+$", 1),
    "remote_airflow": (r"/dagRuns/[^/]+(/wait)?$", 1),  # in the worker: the held request
}
NAMES = {
    "dataform": "Dataform",
    "profitbase": "Profitbase InVision",
    "dataops": "DataOps.live",
    "remote_airflow": "Remote Airflow",
}
#: vendors that find an earlier try's run without Airflow's help, and what they log when they do
FIND_BY_THEMSELVES = {
    "dataops": "an earlier try started it; re-attaching instead of starting another",
    "remote_airflow": "already exists on the remote Airflow (running): re-attaching to it",
}


@pytest.mark.parametrize("mode", ["poll", "defer"])
@pytest.mark.parametrize("vendor", list(READS))
def test_a_retried_task_waits_on_the_run_its_first_try_started(airflow_db, client, vendor, mode, capfd):
    client.plan(vendor, "*", duration=3.0)
    path, reads = READS[vendor]
    client.fault("status", path, method="GET", status=401, times=reads)
    outcome = run_dag(f"t_retried_{vendor}_{mode}")
    text = "".join(capfd.readouterr())
    runs = client.runs(vendor)
    assert outcome.tasks == {"run": "success"}
    refused = [r for r in client.requests(vendor) if r["status"] == 401]
    assert len(refused) == reads  # the first try did fail after its start
    if HAS_TASK_STATE_STORE or vendor in FIND_BY_THEMSELVES:
        assert len(runs) == 1, runs
        run_id = runs[0]["data"].get("dag_run_id", runs[0]["run_id"])
        assert outcome.xcom[("run", "return_value")] == run_id
        if HAS_TASK_STATE_STORE:  # Airflow 3.3+: the run kept in the task_state_store
            assert f"An earlier try of this task started {NAMES[vendor]} run {run_id}" in text
            assert f"Re-attached to {NAMES[vendor]} run {run_id}" in text
        else:  # before: the vendor's own means
            assert FIND_BY_THEMSELVES[vendor] in text
        return
    assert len(runs) == 2  # Airflow 2.11 to 3.2: nothing tells the second try about the first run
    assert f"This is try 2 of the task. {NAMES[vendor]} offers no way to find a run" in text
