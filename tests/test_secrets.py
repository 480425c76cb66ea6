"""Secrets audit: run every operator and sensor, both waiting modes, success and failure, and look
for the connections' secrets everywhere they must not be: task and trigger logs, exception
texts, XCom values, serialised trigger kwargs, and the URLs the vendor saw.

The sandbox's secrets are recognisable strings, so a leak cannot hide.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_pipelines.testing.fakes import FAKES
from tests.dagrun import run_dag

SECRETS = [fake.token for fake in FAKES] + [
    secret for fake in FAKES if (secret := getattr(fake, "trigger_token", None))
]

#: (DAG id, conf, sandbox plan: vendor, key, outcome word)
SCENARIOS = (
    [
        (f"t_dataform_{mode}", {"schedule": "s"}, ("dataform", "s", outcome))
        for mode in ("poll", "defer")
        for outcome in ("SUCCESSFUL", "FAILED")
    ]
    + [
        (f"t_dataform_nowait_{mode}", {"schedule": "s"}, ("dataform", "s", "FAILED"))
        for mode in ("poll", "defer")
    ]
    + [
        (f"t_profitbase_{mode}", {"flow": flow}, ("profitbase", flow, outcome))
        for mode in ("poll", "defer", "await")
        for outcome in ("Succeeded", "Failed")
        for flow in ("2b081248-4963-43b3-ba06-5b7403d58b4d",)
    ]
    + [
        (
            f"t_profitbase_sensor_{mode}",
            {"flow": "2b081248-4963-43b3-ba06-5b7403d58b4d"},
            ("profitbase", "2b081248-4963-43b3-ba06-5b7403d58b4d", "Failed"),
        )
        for mode in ("poll", "defer")
    ]
    + [
        (f"t_dataops_{mode}", {"plan": "full-ci.yml"}, ("dataops", "full-ci.yml", outcome))
        for mode in ("poll", "defer")
        for outcome in ("success", "failed")
    ]
    + [
        (f"t_remote_airflow_{mode}", {"dag": "etl"}, ("remote_airflow", "etl", outcome))
        for mode in ("poll", "defer")
        for outcome in ("success", "failed")
    ]
)


@pytest.mark.parametrize(("dag_id", "conf", "plan"), SCENARIOS, ids=[f"{s[0]}-{s[2][2]}" for s in SCENARIOS])
def test_no_secret_reaches_logs_xcom_errors_or_urls(airflow_db, client, capfd, dag_id, conf, plan):
    vendor, key, outcome = plan
    client.plan(vendor, key, duration=0.5, outcome=outcome)
    result = run_dag(dag_id, conf)
    logs = "".join(capfd.readouterr())
    assert result.tasks, "the DAG ran no task"
    # both paths were really taken: a failing plan fails a task, a successful one fails none
    assert ("failed" in result.tasks.values()) is (outcome.lower() in ("failed",))
    stored = json.dumps({f"{t}/{k}": v for (t, k), v in result.xcom.items()}, default=str)
    urls = " ".join(r["path"] for r in client.requests())
    for secret in SECRETS:
        assert secret not in logs, f"{secret} leaked into the logs of {dag_id}"
        assert secret not in stored, f"{secret} leaked into XCom of {dag_id}"
        assert secret not in urls, f"{secret} leaked into a URL of {dag_id}"
    # the run went through the real path: the vendor saw requests, with the secret only in headers
    assert client.requests(vendor)
