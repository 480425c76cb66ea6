"""A later try of a task instance finds the run an earlier try kept in the ``task_state_store``.

The operators run against the sandbox over HTTP. The store is a dict with the
store's three methods: Airflow's own needs a task supervisor, and is exercised
in the ``dag.test()`` and real-cluster tests; here every decision of
``resume_or_start`` is driven for each vendor, with the vendor's real answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_pipelines.operators.dataform import DataformRunOperator
from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator
from airflow_provider_pipelines.operators.profitbase import ProfitbaseDataFlowOperator
from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator
from airflow_provider_pipelines.resume import STORE_KEY, StoredRun
from airflow_provider_pipelines.testing.fakes.profitbase import FakeProfitbase
from tests.dagrun import BareTaskInstance


class DictStore:
    """What an operator uses of Airflow's ``task_state_store``: get, set, delete."""

    def __init__(self, broken: bool = False) -> None:
        self.data: dict[str, Any] = {}
        self.broken = broken

    def get(self, key: str, default: Any = None) -> Any:
        if self.broken:
            raise RuntimeError("the supervisor went away")
        return json.loads(json.dumps(self.data.get(key, default)))  # JSON in, JSON out, as Airflow's

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.data[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


@dataclass
class _DagRun:
    run_id: str = "manual__2026-12-03"


#: vendor -> (build the operator, the vendor's failure word)
VENDORS: dict[str, tuple[Any, str]] = {
    "dataform": (lambda **kw: DataformRunOperator(task_id="t", project_id="1234", **kw), "FAILED"),
    "profitbase": (
        lambda **kw: ProfitbaseDataFlowOperator(task_id="t", data_flow_id=FakeProfitbase.data_flows[0], **kw),
        "Failed",
    ),
    "dataops": (
        lambda **kw: DataOpsPipelineOperator(task_id="t", project="4242", ref="main", **kw),
        "failed",
    ),
    "remote_airflow": (lambda **kw: TriggerRemoteDagRunOperator(task_id="t", dag_id="etl", **kw), "failed"),
}


def _try(vendor: str, store: DictStore, try_number: int, **kwargs: Any) -> str:
    """One try of the task: execute() as the worker calls it, returning the run id."""
    ti = BareTaskInstance()
    ti.try_number = try_number
    op = VENDORS[vendor][0](deferrable=False, poll_interval=0.2, timeout=30, **kwargs)
    return str(op.execute({"ti": ti, "dag_run": _DagRun(), "task_state_store": store}))


def _starts(client: Any, vendor: str) -> list[dict[str, Any]]:
    return client.runs(vendor)


def _ids(client: Any, vendor: str) -> list[str]:
    """The ids of the runs the fake holds, as the task sees them."""
    return [r["data"].get("dag_run_id", r["run_id"]) for r in client.runs(vendor)]


def _wait_until_finished(client: Any, vendor: str, word: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(r["status"] == word for r in client.runs(vendor)):
            return
        time.sleep(0.2)
    raise AssertionError(f"the {vendor} runs did not reach {word}: {client.runs(vendor)}")


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_later_try_re_attaches_to_a_run_still_going(client, vendor, capfd):
    client.plan(vendor, "*", duration=2.0)
    store = DictStore()
    first = _try(vendor, store, 1, wait_for_completion=False)
    entry = store.data[STORE_KEY]
    assert StoredRun.from_entry(entry).run_id == first
    assert entry["concluded"] is True  # a task that returns at once succeeded with it
    # a try that died while waiting left the entry unconcluded; the next one reads it back
    store.data[STORE_KEY] = {**entry, "concluded": False}
    second = _try(vendor, store, 2)
    text = "".join(capfd.readouterr())
    assert second == first
    assert len(_starts(client, vendor)) == 1
    assert "re-attaching to it instead of starting a new run" in text
    assert f"Re-attached to {_name(vendor)} run {first}" in text


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_later_try_takes_the_result_of_a_run_that_succeeded(client, vendor, capfd):
    client.plan(vendor, "*", duration=0.3)
    store = DictStore()
    first = _try(vendor, store, 1, wait_for_completion=False)
    store.data[STORE_KEY]["concluded"] = False
    _wait_until_finished(client, vendor, _success(vendor))
    assert _try(vendor, store, 2) == first
    text = "".join(capfd.readouterr())
    assert len(_starts(client, vendor)) == 1
    assert "taking its result instead of starting a new run" in text


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_later_try_starts_a_new_run_when_the_kept_one_failed_and_says_why(client, vendor, capfd):
    failure = VENDORS[vendor][1]
    client.plan(vendor, "*", duration=0.3, outcome=failure)
    store = DictStore()
    first = _try(vendor, store, 1, wait_for_completion=False)
    store.data[STORE_KEY]["concluded"] = False
    _wait_until_finished(client, vendor, failure)
    client.plan(vendor, "*", duration=0.3)
    second = _try(vendor, store, 2)
    text = "".join(capfd.readouterr())
    assert second != first
    assert _ids(client, vendor) == [first, second]
    assert "which ended failed; starting a new run" in text
    assert StoredRun.from_entry(store.data[STORE_KEY]).run_id == second
    if vendor == "remote_airflow":  # the replacement gets the next id of this task instance
        assert second == f"{first}.r2"


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_cleared_task_that_succeeded_starts_a_new_run(client, vendor, capfd):
    client.plan(vendor, "*", duration=0.3)
    store = DictStore()
    first = _try(vendor, store, 1)
    assert store.data[STORE_KEY]["concluded"] is True
    second = _try(vendor, store, 2)
    text = "".join(capfd.readouterr())
    assert second != first
    assert len(_starts(client, vendor)) == 2
    assert f"succeeded before with {_name(vendor)} run {first} and was cleared: starting a new run" in text


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("not json object", "cannot be read (not a JSON object"),
        ({"version": 99}, "cannot be read (unknown layout version 99)"),
        ({"version": 1, "vendor": "dataform", "conn_id": "dataform_default", "run_id": "7"}, "'ref' must be"),
        (
            {
                "version": 1,
                "vendor": "dataops",
                "conn_id": "dataops_default",
                "ref": {"x": "1"},
                "run_id": "7",
            },
            "names run 7 of vendor 'dataops' on connection 'dataops_default'",
        ),
        (
            {"version": 1, "vendor": "dataform", "conn_id": "other", "ref": {"x": "1"}, "run_id": "7"},
            "on connection 'other', and this task runs 'dataform' on 'dataform_default'",
        ),
        (
            {
                "version": 1,
                "vendor": "dataform",
                "conn_id": "dataform_default",
                "ref": {"x": "1"},
                "run_id": "7",
            },
            "Ignoring the run kept by an earlier try (Dataform run reference lacks project_id, run_id",
        ),
    ],
)
def test_an_entry_that_cannot_be_used_is_logged_and_ignored(client, entry, says, capfd):
    client.plan("dataform", "*", duration=0.3)
    store = DictStore()
    store.data[STORE_KEY] = entry
    run_id = _try("dataform", store, 2)
    text = "".join(capfd.readouterr())
    assert says in text
    assert [r["run_id"] for r in _starts(client, "dataform")] == [run_id]


def test_a_store_that_fails_is_logged_and_the_task_runs(client, capfd):
    client.plan("dataform", "*", duration=0.3)
    run_id = _try("dataform", DictStore(broken=True), 2)
    text = "".join(capfd.readouterr())
    assert "Could not read airflow_provider_pipelines.run from the task_state_store" in text
    assert [r["run_id"] for r in _starts(client, "dataform")] == [run_id]


def test_a_kept_run_that_cannot_be_read_fails_the_try_rather_than_start_another(client, capfd):
    client.plan("dataform", "*", duration=5)
    store = DictStore()
    first = _try("dataform", store, 1, wait_for_completion=False)
    store.data[STORE_KEY]["concluded"] = False
    client.fault("status", "/run/", method="GET", status=401, times=1)
    with pytest.raises(Exception, match=f"started Dataform run {first}, and its state cannot be read now"):
        _try("dataform", store, 2)
    assert len(_starts(client, "dataform")) == 1


def _success(vendor: str) -> str:
    from airflow_provider_pipelines.testing.fakes import FAKES

    return next(f.success_word for f in FAKES if f.name == vendor)


def _name(vendor: str) -> str:
    from airflow_provider_pipelines.hooks import hook_class

    return hook_class(vendor).api_class.display_name
