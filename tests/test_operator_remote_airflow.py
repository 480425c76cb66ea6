"""TriggerRemoteDagRunOperator and RemoteDagRunSensor as DAG authors meet them: parameters, kill, registry."""

from __future__ import annotations

from datetime import datetime

import pytest

from airflow_provider_pipelines import get_provider_info
from airflow_provider_pipelines.errors import ConfigurationError
from airflow_provider_pipelines.hooks import hook_class
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator
from airflow_provider_pipelines.sensors.remote_airflow import RemoteDagRunSensor
from tests.dagrun import BareTaskInstance


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"dag_id": ""}, "dag_id must be a non-empty string"),
        ({"conf": "{'a': 1}"}, "conf must be a JSON object"),
        ({"conf": {"when": datetime(2026, 1, 1)}}, "conf must be JSON-serialisable"),
        ({"logical_date": "last tuesday"}, "logical_date must be"),
        ({"dag_run_id": "my run"}, "dag_run_id must match"),
        ({"poll_interval": 0}, "poll_interval must be"),
    ],
)
def test_bad_parameters_fail_when_the_dag_is_parsed(kwargs, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        TriggerRemoteDagRunOperator(task_id="t", **{"dag_id": "etl", **kwargs})


def test_templated_parameters_wait_for_rendering():
    op = TriggerRemoteDagRunOperator(
        task_id="t",
        dag_id="{{ params.dag }}",
        conf="{{ dag_run.conf }}",
        logical_date="{{ logical_date }}",
        dag_run_id="{{ run_id }}",
    )
    assert op.remote_dag_id == "{{ params.dag }}"
    assert set(op.template_fields) == {"remote_dag_id", "conf", "logical_date", "dag_run_id"}
    sensor = RemoteDagRunSensor(task_id="s", dag_id="{{ params.dag }}", dag_run_id="{{ ti.xcom_pull('t') }}")
    assert set(sensor.template_fields) == {"remote_dag_id", "dag_run_id"}


def test_fail_on_timeout_is_the_base_operators_cancel_on_timeout():
    assert TriggerRemoteDagRunOperator(task_id="t", dag_id="etl").cancel_on_timeout is True
    assert (
        TriggerRemoteDagRunOperator(task_id="t", dag_id="etl", fail_on_timeout=False).cancel_on_timeout
        is False
    )


@pytest.mark.parametrize(("fail_on_timeout", "patches"), [(True, ["failed"]), (False, [])])
def test_a_killed_task_marks_the_remote_run_failed_only_when_asked(client, fail_on_timeout, patches, capfd):
    client.plan("remote_airflow", "etl", duration=60)
    op = TriggerRemoteDagRunOperator(
        task_id="t", dag_id="etl", dag_run_id="r1", wait_for_completion=False, fail_on_timeout=fail_on_timeout
    )
    ti = BareTaskInstance()
    assert op.execute({"ti": ti}) == "r1"
    assert ti.xcom["run_id"] == "r1" and str(ti.xcom["run_url"]).endswith("/dags/etl/runs/r1")
    op.on_kill()
    assert client.runs("remote_airflow")[0]["data"].get("patches", []) == patches
    text = "".join(capfd.readouterr())
    if fail_on_timeout:
        assert "Marked run r1 of DAG etl failed on the remote Airflow" in text
    else:
        assert "Task killed; Remote Airflow run r1" in text and "goes on running" in text


def test_the_provider_registers_the_connection_type_hook_modules_and_link():
    info = get_provider_info()
    conn = next(c for c in info["connection-types"] if c["connection-type"] == "remote_airflow")
    assert conn["hook-class-name"].endswith("hooks.remote_airflow.RemoteAirflowHook")
    assert conn["ui-field-behaviour"]["relabeling"]["host"] == "Deployment URL"
    assert set(conn["conn-fields"]) >= {"auth_type", "api_version"}
    assert "api_key" in conn["conn-fields"]["auth_type"]["schema"]["enum"]
    for kind in ("hooks", "operators", "sensors"):
        modules = [m for entry in info[kind] for m in entry["python-modules"]]
        assert f"airflow_provider_pipelines.{kind}.remote_airflow" in modules
    assert "airflow_provider_pipelines.links.RemoteDagRunLink" in info["extra-links"]
    assert hook_class("remote_airflow") is RemoteAirflowHook
    assert RemoteAirflowHook.conn_type == "remote_airflow"
    assert RemoteAirflowHook.default_conn_name == "remote_airflow_default"


@pytest.mark.parametrize("rendered", ["None", "", "  "])
def test_a_dag_run_id_template_that_rendered_to_nothing_falls_back_to_the_task_instances_own(rendered):
    op = TriggerRemoteDagRunOperator(task_id="t", dag_id="etl", dag_run_id="{{ params.missing }}")
    op.dag_run_id = rendered  # what rendering left
    op.validate(rendered=True)

    class _Run:
        run_id = "manual__2026-12-01"

    run_id = op.remote_run_id({"ti": BareTaskInstance(), "dag_run": _Run()})
    assert run_id != rendered.strip() and "manual__2026-12-01" in run_id


def test_two_triggers_of_one_dag_within_a_second_do_not_collide_on_the_experimental_api(
    client, sandbox, monkeypatch
):
    import json

    from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow

    monkeypatch.setenv(
        "AIRFLOW_CONN_REMOTE_EXP_PAIR",
        json.dumps(
            {
                "conn_type": "remote_airflow",
                "host": sandbox.vendor_url("remote_airflow") + "/expgen",
                "password": FakeRemoteAirflow.api_key,
                "extra": {"auth_type": "api_key", "timeout": 2, "backoff": 0.05},
            }
        ),
    )
    hook = RemoteAirflowHook("remote_exp_pair")
    first = hook.trigger_dag_run("etl", dag_run_id="pair_a")
    second = hook.trigger_dag_run("etl", dag_run_id="pair_b")
    assert {first.run_id, second.run_id} == {"pair_a", "pair_b"}
    assert len(client.runs("remote_airflow")) == 2
    posts = [r for r in client.requests("remote_airflow") if r["method"] == "POST"]
    assert [r["status"] for r in posts] == [200, 200]
