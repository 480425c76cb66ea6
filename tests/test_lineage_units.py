"""The parent info this provider hands to remote runs, as pure values (no OpenLineage needed)."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_pipelines.lineage import (
    DBT_CONTEXT_VARIABLE,
    DBT_PARENT_VARIABLE,
    DBT_ROOT_VARIABLE,
    ParentInfo,
    parent_conf,
    parent_info,
    parent_variables,
)

PARENT = ParentInfo(
    namespace="default",
    job_name="nightly.trigger_etl",
    run_id="01a23bda-8529-7a10-a0c9-955418704e06",
    root_namespace="default",
    root_job_name="nightly",
    root_run_id="01a23bda-8529-7f14-b649-bd6eabfc1ae2",
)
OURS = {
    "parentRunId": PARENT.run_id,
    "parentJobName": "nightly.trigger_etl",
    "parentJobNamespace": "default",
    "rootParentRunId": PARENT.root_run_id,
    "rootParentJobName": "nightly",
    "rootParentJobNamespace": "default",
}
LOG = logging.getLogger("test")


@pytest.mark.parametrize(
    ("conf", "sent"),
    [
        (None, {"openlineage": OURS}),
        ({"day": "x"}, {"day": "x", "openlineage": OURS}),
        # other keys of the user's openlineage object stay, beside ours
        ({"openlineage": {"note": "mine"}}, {"openlineage": {**OURS, "note": "mine"}}),
        # any parent or root key of the user's: the whole conf goes as it is
        ({"openlineage": {"parentRunId": "theirs"}}, {"openlineage": {"parentRunId": "theirs"}}),
        ({"openlineage": {"rootParentJobName": "theirs"}}, {"openlineage": {"rootParentJobName": "theirs"}}),
        ({"openlineage": "not an object"}, {"openlineage": "not an object"}),
    ],
)
def test_parent_conf_adds_the_keys_and_never_overwrites_the_users(conf, sent):
    before = json.dumps(conf)
    assert parent_conf(conf, PARENT, LOG) == sent
    assert json.dumps(conf) == before  # the operator's own conf is not changed in place


def test_parent_variables_are_strings_dbt_ol_can_split():
    variables = parent_variables({"FORCE": "1"}, PARENT, LOG)
    assert variables["FORCE"] == "1" and all(isinstance(v, str) for v in variables.values())
    assert variables[DBT_PARENT_VARIABLE] == f"default/nightly.trigger_etl/{PARENT.run_id}"
    assert variables[DBT_ROOT_VARIABLE] == f"default/nightly/{PARENT.root_run_id}"
    context = json.loads(variables[DBT_CONTEXT_VARIABLE])
    assert context == {
        "parent": {
            "run": {"runId": PARENT.run_id},
            "job": {"namespace": "default", "name": "nightly.trigger_etl"},
            "root": {
                "run": {"runId": PARENT.root_run_id},
                "job": {"namespace": "default", "name": "nightly"},
            },
        }
    }


@pytest.mark.parametrize("name", [DBT_CONTEXT_VARIABLE, DBT_PARENT_VARIABLE, DBT_ROOT_VARIABLE])
def test_a_dbt_ol_variable_of_the_users_means_none_of_ours(name):
    assert parent_variables({name: "theirs"}, PARENT, LOG) == {name: "theirs"}


def test_a_namespace_with_a_slash_gets_only_the_json_form():
    """dbt-ol splits the older pair on '/' into three parts: such a name cannot go that way."""
    slashed = ParentInfo(
        **{**PARENT.__dict__, "namespace": "s3://bucket/ns", "root_namespace": "s3://bucket/ns"}
    )
    variables = parent_variables({}, slashed, LOG)
    assert set(variables) == {DBT_CONTEXT_VARIABLE}
    assert json.loads(variables[DBT_CONTEXT_VARIABLE])["parent"]["job"]["namespace"] == "s3://bucket/ns"


def test_no_parent_info_without_the_openlineage_provider_or_with_it_off(monkeypatch):
    """Not installed, or installed with no transport: None (the lineage tests cover it on)."""
    monkeypatch.delenv("AIRFLOW__OPENLINEAGE__TRANSPORT", raising=False)
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__DISABLED", "True")
    assert parent_info(object(), LOG) is None
