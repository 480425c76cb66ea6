"""Each hook's test_connection() (the UI's Test button, `airflow connections test`) against the sandbox."""

from __future__ import annotations

import json

import pytest

from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook

DF_TOKEN = "sandbox-dataform-token"
PB_KEY = "sandbox-profitbase-api-key"


@pytest.mark.parametrize(
    ("hook_cls", "conn_type", "path", "secret", "ok", "fragment"),
    [
        (DataformHook, "dataform_web", "/dataform", DF_TOKEN, True, "did not refuse the token"),
        (
            DataformHook,
            "dataform_web",
            "/dataform",
            "wrong-token-123",
            False,
            "refused the API token (HTTP 403",
        ),
        (DataformHook, "dataform_web", "", DF_TOKEN, False, "is not the Dataform API (a 404 page)"),
        (DataformHook, "dataform_web", "/dataform", "", False, "has no API token"),
        (
            ProfitbaseHook,
            "profitbase_invision",
            "/profitbase/invision",
            PB_KEY,
            True,
            "did not refuse the API key",
        ),
        (
            ProfitbaseHook,
            "profitbase_invision",
            "/profitbase/invision",
            "wrong-key-456",
            False,
            "refused the API key (HTTP 401",
        ),
        (ProfitbaseHook, "profitbase_invision", "/profitbase", PB_KEY, False, "check that the host includes"),
    ],
)
def test_connection_test_gives_ok_or_the_precise_reason(
    sandbox, client, monkeypatch, hook_cls, conn_type, path, secret, ok, fragment
):
    conn = {"conn_type": conn_type, "host": sandbox.url + path, "password": secret}
    monkeypatch.setenv("AIRFLOW_CONN_PROBE", json.dumps(conn))
    result, message = hook_cls("probe").test_connection()
    assert (result, fragment in message) == (ok, True), message
    assert secret not in message or not secret
    assert len(client.requests()) <= 1  # one request at most, never a retry storm


def test_connection_test_says_when_nothing_listens(monkeypatch):
    conn = {"conn_type": "dataform_web", "host": "http://127.0.0.1:9", "password": DF_TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_PROBE", json.dumps(conn))
    result, message = DataformHook("probe").test_connection()
    assert not result and "could not connect to http://127.0.0.1:9/" in message
    assert "connection refused" in message and "Airflow connection 'probe'" in message
