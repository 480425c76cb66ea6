"""Secrets audit: run every operator and sensor, both waiting modes, success and failure, and look
for the connections' secrets everywhere they must not be: task and trigger logs, exception
texts, XCom values, serialised trigger kwargs, and the URLs the vendor saw.

The sandbox's secrets are recognisable strings, so a leak cannot hide.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from airflow_provider_pipelines.testing.fakes import FAKES
from airflow_provider_pipelines.testing.fakes.dataops import FakeDataOps
from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow
from tests.dagrun import run_dag

SECRETS = [
    *(fake.token for fake in FAKES),
    FakeDataOps.trigger_token,
    FakeRemoteAirflow.password,
    FakeRemoteAirflow.api_key,
    # every token the fake's /auth/token issues carries this signature
    "sandbox-signature-",
    # the basic-auth header's encoded pair is as good as the password
    base64.b64encode(f"{FakeRemoteAirflow.login}:{FakeRemoteAirflow.password}".encode()).decode(),
]

#: connections a scenario swaps in: remote Airflow with a login, on Airflow 3 (a token from
#: /auth/token) and Airflow 2 (basic auth); DataOps.live with a trigger token beside its access token
CONNECTIONS = {
    "v2-login": ("AIRFLOW_CONN_REMOTE_AIRFLOW_DEFAULT", "remote_airflow", ""),
    "v1-login": ("AIRFLOW_CONN_REMOTE_AIRFLOW_V1", "remote_airflow", "/v1gen"),
}

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
        (f"t_dataops_nowait_{mode}", {"plan": "full-ci.yml"}, ("dataops", "full-ci.yml", "failed"))
        for mode in ("poll", "defer")
    ]
    + [
        (f"t_remote_airflow_{mode}", {"dag": "etl"}, ("remote_airflow", "etl", outcome))
        for mode in ("poll", "defer")
        for outcome in ("success", "failed")
    ]
    + [
        (f"t_remote_airflow_{mode}", {"dag": "etl", "_conn": "v2-login"}, ("remote_airflow", "etl", outcome))
        for mode in ("poll", "defer")
        for outcome in ("success", "failed")
    ]
    + [
        (
            f"t_remote_airflow_v1_{mode}",
            {"dag": "etl", "_conn": "v1-login"},
            ("remote_airflow", "etl", outcome),
        )
        for mode in ("poll", "defer")
        for outcome in ("success", "failed")
    ]
    + [
        (f"t_remote_airflow_sensor_{mode}", {"dag": "etl"}, ("remote_airflow", "etl", "failed"))
        for mode in ("poll", "defer")
    ]
)


@pytest.fixture
def connections(sandbox, monkeypatch):
    """Swap in a scenario's connection; the DataOps.live connection always holds a trigger token too."""
    dataops = json.loads(os.environ["AIRFLOW_CONN_DATAOPS_DEFAULT"])
    dataops["extra"] = {**dataops.get("extra", {}), "trigger_token": FakeDataOps.trigger_token}
    monkeypatch.setenv("AIRFLOW_CONN_DATAOPS_DEFAULT", json.dumps(dataops))

    def use(name):
        variable, vendor, suffix = CONNECTIONS[name]
        conn = {
            "conn_type": "remote_airflow",
            "host": sandbox.vendor_url(vendor) + suffix,
            "login": FakeRemoteAirflow.login,
            "password": FakeRemoteAirflow.password,
            "extra": {"timeout": 5, "backoff": 0.05, "backoff_max": 0.5},
        }
        monkeypatch.setenv(variable, json.dumps(conn))

    return use


def _stored(home: str) -> bytes:
    """Everything Airflow stored in its metadata DB (task instances, XCom, triggers, logs of events)."""
    return b"".join(p.read_bytes() for p in Path(home).glob("airflow.db*"))


@pytest.mark.parametrize(("dag_id", "conf", "plan"), SCENARIOS, ids=[f"{s[0]}-{s[2][2]}" for s in SCENARIOS])
def test_no_secret_reaches_logs_xcom_errors_or_urls(
    airflow_db, client, connections, capfd, dag_id, conf, plan
):
    vendor, key, outcome = plan
    if "_conn" in conf:
        connections(conf["_conn"])
    client.plan(vendor, key, duration=0.5, outcome=outcome)
    result = run_dag(dag_id, conf)
    logs = "".join(capfd.readouterr())
    assert result.tasks, "the DAG ran no task"
    # both paths were really taken: a failing plan fails a task, a successful one fails none
    assert ("failed" in result.tasks.values()) is (outcome.lower() in ("failed",))
    stored = json.dumps({f"{t}/{k}": v for (t, k), v in result.xcom.items()}, default=str)
    urls = " ".join(r["path"] for r in client.requests())
    database = _stored(airflow_db)
    for secret in SECRETS:
        assert secret not in logs, f"{secret} leaked into the logs of {dag_id}"
        assert secret not in stored, f"{secret} leaked into XCom of {dag_id}"
        assert secret not in urls, f"{secret} leaked into a URL of {dag_id}"
        assert secret.encode() not in database, f"{secret} was stored in Airflow's DB by {dag_id}"
    if conf.get("_conn") == "v2-login":  # the login really was used: tokens were fetched
        assert [r for r in client.requests(vendor) if r["path"].endswith("/auth/token")]
    # the run went through the real path: the vendor saw requests, with the secret only in headers
    assert client.requests(vendor)
