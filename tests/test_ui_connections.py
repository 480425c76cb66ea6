"""Connections as the Airflow UI saves them: an extra left empty (null, or "") means the hook's default.

The hooks read connections made in Airflow 3.3.2's form (every declared extra saved,
``null`` for one left empty), in Airflow 2.11's form (empty fields left out, an
unticked box saved as false), or typed by hand, and test them against the sandbox.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_pipelines import get_provider_info
from airflow_provider_pipelines.errors import ConfigurationError
from airflow_provider_pipelines.hooks.base import extra_bool, extra_number, extra_value, resolve_base_url
from airflow_provider_pipelines.hooks.connection_check import UNNAMED
from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from tests.ui_forms import SANDBOX_TYPES, UI_SAVED_EXTRAS, declared_fields, form_extras, sandbox_fields

HOOKS = {
    "dataform_web": DataformHook,
    "profitbase_invision": ProfitbaseHook,
    "dataops_live": DataOpsHook,
    "remote_airflow": RemoteAirflowHook,
}
BLANKS = [None, "", "   "]

#: every declared extra of every connection type
EVERY_EXTRA = [(conn_type, name) for conn_type in HOOKS for name in declared_fields(conn_type)]


def set_connection(monkeypatch, conn_id: str, conn_type: str, fields: dict, extras: dict) -> None:
    conn = {"conn_type": conn_type, **{k: v for k, v in fields.items() if v is not None}, "extra": extras}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


# -- the values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", BLANKS)
def test_an_empty_extra_is_not_set_and_takes_the_default(blank):
    extras = {"flag": blank, "n": blank}
    assert extra_value(extras, "flag") is None
    assert extra_bool(extras, "flag", True, "c") is True
    assert extra_bool(extras, "flag", False, "c") is False
    assert extra_number(extras, "n", 7.5, "c") == 7.5


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("maybe", "must be true or false, got 'maybe'"), (0, "must be true or false, got 0")],
)
def test_a_set_but_wrong_switch_is_still_refused(value, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        extra_bool({"verify_ssl": value}, "verify_ssl", True, "my_conn")


@pytest.mark.parametrize("value", [0, -1, "x", True, "nan", "inf"])
def test_a_set_but_wrong_number_is_still_refused(value):
    with pytest.raises(ConfigurationError, match="'timeout' must be a positive number"):
        extra_number({"timeout": value}, "timeout", 30, "my_conn")


# -- every extra of every hook, left empty ----------------------------------------------------------


@pytest.mark.parametrize(("conn_type", "name"), EVERY_EXTRA)
@pytest.mark.parametrize("blank", BLANKS)
def test_every_extra_of_every_hook_left_empty_means_the_default(monkeypatch, conn_type, name, blank):
    fields = {"host": "https://vendor.example/api", "password": "s3cr3t-token"}
    set_connection(monkeypatch, "ui_plain", conn_type, fields, {})
    set_connection(monkeypatch, "ui_blank", conn_type, fields, {name: blank})
    plain, blanked = HOOKS[conn_type]("ui_plain"), HOOKS[conn_type]("ui_blank")
    expected, got = plain.get_endpoint(), blanked.get_endpoint()
    assert (got.base_url, got.timeout, got.retry, got.verify) == (
        expected.base_url,
        expected.timeout,
        expected.retry,
        expected.verify,
    )
    assert (got.timeout, got.retry.max_attempts, got.verify) == (30.0, 5, True)
    assert got.max_requests_per_minute is None  # no cap


@pytest.mark.parametrize("conn_type", list(HOOKS))
def test_the_extras_the_ui_saves_for_an_untouched_form_are_the_declared_defaults(conn_type):
    assert form_extras(conn_type) == UI_SAVED_EXTRAS[conn_type]
    assert set(UI_SAVED_EXTRAS[conn_type]) == set(declared_fields(conn_type))


def test_the_switch_starts_on_as_the_hook_defaults_it():
    for entry in get_provider_info()["connection-types"]:
        assert entry["conn-fields"]["verify_ssl"]["schema"]["default"] is True


def test_airflow_builds_each_form_with_the_hooks_defaults(airflow_db):
    """Airflow 3 sends a field's schema default as its initial value; 2.11's form starts from the
    widget's default. Either way the switch is on and the enums say auto; nothing else is preset."""
    from airflow.providers_manager import ProvidersManager

    widgets = ProvidersManager().connection_form_widgets
    for conn_type in HOOKS:
        for name, spec in declared_fields(conn_type).items():
            field = widgets[f"extra__{conn_type}__{name}"].field
            initial = field["value"] if isinstance(field, dict) else field.kwargs.get("default")
            assert initial == spec["schema"].get("default"), (conn_type, name)


# -- the remaining vendor extras, set or not ----------------------------------------------------------


@pytest.mark.parametrize("blank", BLANKS)
def test_remote_airflow_auth_type_and_api_version_left_empty_mean_auto(monkeypatch, blank):
    fields = {"host": "https://airflow.example", "login": "admin", "password": "pw"}
    set_connection(
        monkeypatch, "ui_remote", "remote_airflow", fields, {"auth_type": blank, "api_version": blank}
    )
    hook = RemoteAirflowHook("ui_remote")
    hook.get_endpoint()
    assert hook._auth is not None and hook._auth.mode == "login"
    assert hook._generation is None  # auto: probed on first use


@pytest.mark.parametrize(("name", "value"), [("auth_type", "oauth"), ("api_version", "v9")])
def test_remote_airflow_set_but_unknown_words_are_refused_naming_the_extra(monkeypatch, name, value):
    set_connection(
        monkeypatch,
        "ui_remote",
        "remote_airflow",
        {"host": "https://a.example", "password": "unit-test-token"},
        {name: value},
    )
    with pytest.raises(ConfigurationError, match=f"extra '{name}' must be one of"):
        RemoteAirflowHook("ui_remote").get_endpoint()


@pytest.mark.parametrize("blank", BLANKS)
def test_dataops_an_empty_trigger_token_does_not_stand_in_for_the_access_token(monkeypatch, blank):
    set_connection(
        monkeypatch, "ui_dataops", "dataops_live", {"host": "https://app.example"}, {"trigger_token": blank}
    )
    with pytest.raises(ConfigurationError, match="has no access token"):
        DataOpsHook("ui_dataops").get_endpoint()


# -- the port field, shown for Airflow 3.3's Test button ---------------------------------------------


class Conn:
    def __init__(self, host, port):
        self.host, self.port = host, port


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("https://api.dataform.co", 443, "https://api.dataform.co"),  # the scheme's own port adds nothing
        ("http://127.0.0.1/dataform", 8080, "http://127.0.0.1:8080/dataform"),
        ("http://127.0.0.1:8080/dataform", 8080, "http://127.0.0.1:8080/dataform"),
        ("http://127.0.0.1:8080", 0, "http://127.0.0.1:8080"),  # 0: Airflow 3.3's Test button for "empty"
        ("http://127.0.0.1", None, "http://127.0.0.1"),
        ("api.example.com", 443, "https://api.example.com"),
    ],
)
def test_the_port_field_joins_the_host(host, port, url):
    assert resolve_base_url(Conn(host, port), None, "c") == url


@pytest.mark.parametrize(
    ("host", "port", "fragment"),
    [
        ("http://127.0.0.1:8080", 9090, "the host names port 8080 but the port field says 9090"),
        ("http://127.0.0.1", 70000, "port must be a number from 1 to 65535"),
        ("http://127.0.0.1:99999", None, r"is not an http\(s\) URL"),
    ],
)
def test_a_port_that_cannot_be_meant_is_refused(host, port, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        resolve_base_url(Conn(host, port), None, "my_conn")


# -- against the sandbox: the connection exactly as the UI saved it ------------------------------------


def ui_extras_variants(conn_type: str) -> dict[str, dict]:
    names = declared_fields(conn_type)
    return {
        "as Airflow 3.3.2 saves it": UI_SAVED_EXTRAS[conn_type],
        "every field null (the switch too)": dict.fromkeys(names),
        "every field an empty string": dict.fromkeys(names, ""),
    }


@pytest.mark.parametrize(
    "variant",
    ["as Airflow 3.3.2 saves it", "every field null (the switch too)", "every field an empty string"],
)
@pytest.mark.parametrize("conn_type", list(HOOKS))
def test_a_connection_saved_by_the_ui_passes_its_test_against_the_sandbox(
    sandbox, client, monkeypatch, conn_type, variant
):
    conn_id = f"ui_{conn_type}"
    set_connection(
        monkeypatch,
        conn_id,
        conn_type,
        sandbox_fields(sandbox.url, conn_type),
        ui_extras_variants(conn_type)[variant],
    )
    hook = HOOKS[conn_type](conn_id)
    ok, message = hook.test_connection()
    assert ok, message
    endpoint = hook.get_endpoint()
    assert endpoint.base_url.startswith(f"{sandbox.url}{SANDBOX_TYPES[conn_type][1]}")
    assert (endpoint.timeout, endpoint.retry.max_attempts, endpoint.verify) == (30.0, 5, True)


# -- the id a test names ------------------------------------------------------------------------------


def _airflow3_endpoint(hook, transient_conn_id, test_body):
    """Stands for Airflow 3's test endpoint: the locals it holds while the hook runs."""
    return hook.test_connection()


def _airflow2_endpoint(hook, transient_conn_id, body):
    """Stands for Airflow 2's test endpoint."""
    return hook.test_connection()


class Body:
    def __init__(self, connection_id):
        self.connection_id = connection_id


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda hook: _airflow3_endpoint(hook, "spjWUzIp", Body("my_dataform")), "'my_dataform'"),
        (
            lambda hook: _airflow2_endpoint(hook, "spjWUzIp", {"connection_id": "my_dataform"}),
            "'my_dataform'",
        ),
        (lambda hook: _airflow3_endpoint(hook, "spjWUzIp", Body("")), UNNAMED),
        (lambda hook: hook.test_connection(), "'spjWUzIp'"),  # not under the endpoint: the id is the user's
        (lambda hook: _airflow3_endpoint(hook, "otherId1", Body("my_dataform")), "'spjWUzIp'"),
    ],
)
def test_a_test_through_the_rest_endpoint_names_the_users_connection(monkeypatch, call, named):
    fields = {"host": "https://api.example", "password": "unit-test-token"}
    set_connection(monkeypatch, "spjWUzIp", "dataform_web", fields, {"verify_ssl": "maybe"})
    ok, message = call(DataformHook("spjWUzIp"))
    assert not ok
    assert named in message and "extra 'verify_ssl' must be true or false" in message, message
    if named != "'spjWUzIp'":
        assert "spjWUzIp" not in message
