"""Connections made as Airflow 3.3's UI makes them, tested as its Test button tests them, over REST.

A real Airflow 3 API server holds the connections; the connection tests run in it
and reach the sandbox over HTTP. The request bodies are the ones the UI sends
(tests/ui_forms.py), so this is the Test button's path without a browser
(tests/test_ui_browser.py drives the real form).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.real_airflow import RealAirflow
from tests.ui_airflow import call, delete_connection, ui_airflow
from tests.ui_forms import SANDBOX_TYPES, UI_SAVED_EXTRAS, form_body, row_test_body, sandbox_fields

pytestmark = [pytest.mark.airflow3_only, pytest.mark.cluster]

TYPES = list(SANDBOX_TYPES)


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealAirflow]:
    with ui_airflow(tmp_path_factory.mktemp("ui-airflow")) as server:
        yield server


def save_as_the_form_does(
    airflow: RealAirflow, conn_id: str, conn_type: str, fields: dict, extras: dict
) -> dict:
    delete_connection(airflow, conn_id)
    status, saved = call(airflow, "POST", "connections", form_body(conn_id, conn_type, fields, extras))
    assert status == 201, saved
    status, listed = call(airflow, "GET", f"connections/{conn_id}")
    assert status == 200, listed
    return listed


@pytest.mark.parametrize("conn_type", TYPES)
def test_each_type_saved_by_the_form_passes_the_row_test(airflow, sandbox, conn_type):
    conn_id = f"rest_{conn_type}"
    listed = save_as_the_form_does(
        airflow, conn_id, conn_type, sandbox_fields(sandbox.url, conn_type), UI_SAVED_EXTRAS[conn_type]
    )
    assert json.loads(listed["extra"]) == UI_SAVED_EXTRAS[conn_type]  # the nulls are stored as sent
    status, result = call(airflow, "POST", "connections/test", row_test_body(listed))
    assert status == 200, result
    assert result["status"] is True, result["message"]


@pytest.mark.parametrize("conn_type", TYPES)
def test_every_extra_null_the_switch_too_still_passes(airflow, sandbox, conn_type):
    """What the issue saw: a form whose switch had no default saved verify_ssl null; null is the default."""
    conn_id = f"rest_nulls_{conn_type}"
    extras = dict.fromkeys(UI_SAVED_EXTRAS[conn_type])
    listed = save_as_the_form_does(
        airflow, conn_id, conn_type, sandbox_fields(sandbox.url, conn_type), extras
    )
    status, result = call(airflow, "POST", "connections/test", row_test_body(listed))
    assert (status, result["status"]) == (200, True), result


def test_a_failed_test_names_the_users_connection_not_a_made_up_one(airflow, sandbox):
    fields = sandbox_fields(sandbox.url, "dataform_web")
    extras = {**UI_SAVED_EXTRAS["dataform_web"], "verify_ssl": "maybe"}
    listed = save_as_the_form_does(airflow, "rest_named", "dataform_web", fields, extras)
    status, result = call(airflow, "POST", "connections/test", row_test_body(listed))
    assert status == 200 and result["status"] is False
    assert (
        result["message"] == "connection 'rest_named': extra 'verify_ssl' must be true or false, got 'maybe'"
    )


def test_a_wrong_token_is_refused_by_the_vendor(airflow, sandbox):
    fields = {**sandbox_fields(sandbox.url, "dataform_web"), "password": "not-the-token"}
    listed = save_as_the_form_does(
        airflow, "rest_wrong", "dataform_web", fields, UI_SAVED_EXTRAS["dataform_web"]
    )
    status, result = call(airflow, "POST", "connections/test", row_test_body(listed))
    assert status == 200 and result["status"] is False
    assert "Dataform refused the API token (HTTP 403" in result["message"]


def test_without_a_port_airflow_3_3_2_refuses_the_row_test_itself(airflow, sandbox):
    """Why the form shows the port: 3.3.1-3.3.2 send port 0 for an empty one and refuse the test
    (apache/airflow#73298 fixes that in the API server). The hook is never called."""
    from airflow import __version__

    fields = {**sandbox_fields(sandbox.url, "dataform_web"), "port": None}
    fields["host"] = sandbox.url + SANDBOX_TYPES["dataform_web"][1]  # the port in the host instead
    listed = save_as_the_form_does(
        airflow, "rest_no_port", "dataform_web", fields, UI_SAVED_EXTRAS["dataform_web"]
    )
    status, result = call(airflow, "POST", "connections/test", row_test_body(listed))
    if __version__ in ("3.3.1", "3.3.2"):
        assert status == 400 and "host or port to test differs" in str(result), result
    else:  # a fixed Airflow tests it as any other
        assert (status, result["status"]) == (200, True), result
