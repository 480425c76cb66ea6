"""The provider as Airflow sees it: entry point, CLI listings, parse-time validation, parse cost."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from airflow_provider_pipelines import get_provider_info
from airflow_provider_pipelines.errors import ConfigurationError
from airflow_provider_pipelines.operators.dataform import DataformRunOperator
from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator
from airflow_provider_pipelines.sensors.dataform import DataformRunSensor


def airflow_cli(*args: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", *args, "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    ).stdout
    return json.loads(out[out.index("[") :])


def test_airflow_lists_the_provider_its_hooks_and_links(airflow_db):
    providers = {p["package_name"] for p in airflow_cli("providers", "list")}
    assert "airflow-provider-pipelines" in providers
    hooks = {h["connection_type"]: h["class"] for h in airflow_cli("providers", "hooks")}
    for entry in get_provider_info()["connection-types"]:
        assert hooks[entry["connection-type"]] == entry["hook-class-name"]
    links = {link["extra_link_class_name"] for link in airflow_cli("providers", "links")}
    assert set(get_provider_info()["extra-links"]) <= links
    assert len(get_provider_info()["extra-links"]) == 3


def test_airflows_providers_manager_builds_every_connection_form_in_this_airflow(airflow_db):
    """Airflow 3 reads the forms from get_provider_info(); 2.11 from the hooks' classmethods."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    behaviours, widgets = manager.field_behaviours, manager.connection_form_widgets
    for entry in get_provider_info()["connection-types"]:
        conn_type = entry["connection-type"]
        declared = entry["ui-field-behaviour"]
        assert behaviours[conn_type]["relabeling"] == declared["relabeling"]
        assert set(behaviours[conn_type]["hidden_fields"]) == set(declared["hidden-fields"])
        for name in entry["conn-fields"]:
            assert f"extra__{conn_type}__{name}" in widgets, (conn_type, name)
    assert widgets["extra__dataops_live__trigger_token"].is_sensitive
    assert not widgets["extra__dataform_web__timeout"].is_sensitive


def test_every_declared_module_and_class_imports():
    import importlib

    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for path in [c["hook-class-name"] for c in info["connection-types"]] + info["extra-links"]:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name)


def test_connection_forms_relabel_the_secret_and_hide_unused_fields():
    forms = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}
    assert forms["dataform_web"]["ui-field-behaviour"]["relabeling"]["password"] == "API token"
    assert forms["profitbase_invision"]["ui-field-behaviour"]["relabeling"]["password"] == "API key"
    assert forms["dataops_live"]["ui-field-behaviour"]["relabeling"]["password"] == "Access token"
    assert forms["remote_airflow"]["ui-field-behaviour"]["relabeling"]["host"] == "Deployment URL"
    assert {"auth_type", "api_version"} <= set(forms["remote_airflow"]["conn-fields"])
    assert "trigger_token" in forms["dataops_live"]["conn-fields"]
    for conn_type, form in forms.items():
        behaviour = form["ui-field-behaviour"]
        hidden = behaviour["hidden-fields"]
        assert "schema" in hidden
        # only a remote Airflow uses a login (a username, for /auth/token or basic auth)
        assert ("login" in hidden) is (conn_type != "remote_airflow")
        # Airflow 3.3.1-3.3.2's Test button refuses a connection without a port: the port is shown
        assert "port" not in hidden and behaviour["placeholders"]["port"] == "443"
        # labels short enough for the form's label column; help goes in descriptions
        assert all(len(label) <= 24 for label in behaviour["relabeling"].values()), behaviour["relabeling"]
        assert all(len(spec["label"]) <= 26 for spec in form["conn-fields"].values())
        assert all(spec["description"].strip() for spec in form["conn-fields"].values())
        assert "verify_ssl" in form["conn-fields"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DataformRunOperator(task_id="t", project_id=""), "project_id must be a non-empty string"),
        (lambda: DataformRunOperator(task_id="t", project_id=1234), "project_id must be a non-empty string"),
        (lambda: DataformRunOperator(task_id="t", project_id="1", tags="daily"), "tags must be a list"),
        (lambda: DataformRunOperator(task_id="t", project_id="1", schedule_name=""), "schedule_name must be"),
        (lambda: DataformRunOperator(task_id="t", project_id="1", timeout=0), "timeout must be more than 0"),
        (
            lambda: DataformRunOperator(task_id="t", project_id="1", poll_interval="x"),
            "poll_interval must be",
        ),
        (
            lambda: DataformRunSensor(task_id="t", project_id="1", run_id=""),
            "run_id must be a non-empty string",
        ),
        (lambda: ProfitbaseDataFlowOperator(task_id="t", data_flow_id=None), "data_flow_id must be"),
    ],
)
def test_static_bad_parameters_fail_at_dag_parse_time(make, message):
    with pytest.raises(ConfigurationError, match=message):
        make()


def test_templated_parameters_wait_for_rendering():
    op = DataformRunOperator(task_id="t", project_id="{{ var.value.project }}", tags="{{ params.tags }}")
    assert op.project_id == "{{ var.value.project }}"


DAG_FACING_MODULES = [
    f"airflow_provider_pipelines.{kind}.{vendor}"
    for kind in ("operators", "sensors")
    for vendor in ("dataform", "profitbase", "dataops", "remote_airflow")
]


def test_operator_modules_import_no_http_library():
    code = "\n".join(
        [
            "import sys",
            "try:\n    import airflow.sdk\nexcept ImportError:\n    import airflow",
            "from airflow_provider_pipelines._compat import BaseOperator",
            "before = set(sys.modules)",
            *(f"import {module}" for module in DAG_FACING_MODULES),
            "new = set(sys.modules) - before",
            "print(sorted({m.split('.')[0] for m in new} & {'requests', 'aiohttp', 'urllib3', 'tenacity'}))",
            "print(sorted(m for m in new if m.startswith('airflow_provider_pipelines.')))",
        ]
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    libraries, ours = out.strip().splitlines()[-2:]
    assert libraries == "[]"
    # nor the hooks, the HTTP layer, the vendor API modules or the lifecycle: those load when a task runs
    loaded = set(ast.literal_eval(ours))
    heavy = {"http", "lifecycle", "runs", "apis", "triggers"}
    assert not {m for m in loaded if m.split(".")[1] in heavy or (m.count(".") > 1 and ".hooks." in m)}
