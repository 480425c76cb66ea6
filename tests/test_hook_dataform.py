"""DataformHook against the sandbox over real HTTP, with injected faults."""

from __future__ import annotations

import json
import os
import time

import pytest

from airflow_provider_pipelines.errors import (
    AuthError,
    ConfigurationError,
    NotFoundError,
    NotSentError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    StartUncertainError,
)
from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.runs import RunState

TOKEN = "sandbox-dataform-token"


@pytest.fixture
def conn(sandbox, monkeypatch):
    """Define connection ``dataform_test`` with the given fields (sandbox defaults)."""

    def define(**fields):
        conn = {
            "conn_type": "dataform_web",
            "host": sandbox.vendor_url("dataform"),
            "password": TOKEN,
            "extra": {"timeout": 2, "backoff": 0.05, "backoff_max": 0.2},
        }
        conn.update(fields)
        monkeypatch.setenv("AIRFLOW_CONN_DATAFORM_TEST", json.dumps(conn))
        return DataformHook("dataform_test")

    return define


def gets(client):
    return [r for r in client.requests("dataform") if r["method"] == "GET"]


def test_start_reads_the_run_once_for_its_link(client, conn):
    run = conn().start_run("1234", schedule_name="nightly", tags=["x"])
    assert run.state is RunState.RUNNING and run.vendor_status == "RUNNING"
    assert run.url and run.url.endswith(f"/#/1234/run/{run.run_id}")
    assert [r["method"] for r in client.requests("dataform")] == ["POST", "GET"]
    assert client.runs("dataform")[0]["data"]["request"] == {
        "scheduleName": "nightly",
        "runConfig": {"tags": ["x"]},
    }


def test_token_goes_only_in_the_bearer_header_never_in_urls(client, conn):
    hook = conn()
    run = hook.start_run("1234")
    hook.get_run(run.ref)
    assert all(TOKEN not in r["path"] for r in client.requests())
    assert TOKEN not in repr(hook.get_endpoint())


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_burst_of_server_errors_on_reads_is_retried(client, conn, status):
    hook = conn()
    run = hook.start_run("1234")
    client.fault("status", "/run/", method="GET", status=status, times=3)
    assert hook.get_run(run.ref).run_id == run.run_id
    assert [r["status"] for r in gets(client)[1:]] == [status] * 3 + [200]


def test_429_retry_after_is_waited_for(client, conn):
    hook = conn()
    run = hook.start_run("1234")
    client.fault("status", "/run/", method="GET", status=429, headers={"Retry-After": "1"}, times=1)
    hook.get_run(run.ref)
    reads = gets(client)[1:]
    assert [r["status"] for r in reads] == [429, 200]
    assert reads[1]["t"] - reads[0]["t"] >= 1.0


def test_dropped_connections_and_slow_replies_on_reads_are_retried(client, conn):
    client.plan("dataform", duration=60)
    hook = conn()
    run = hook.start_run("1234")
    client.fault("drop", "/run/", method="GET", times=2)
    client.fault("delay", "/run/", method="GET", seconds=3, times=1)  # beyond the 2 s request timeout
    assert hook.get_run(run.ref).state is RunState.RUNNING
    assert [r["fault"] for r in gets(client)[1:]] == ["drop", "drop", "delay", None]


def test_html_error_page_gives_a_clear_error_with_status_and_excerpt(client, conn):
    hook = conn(extra={"max_attempts": 2, "backoff": 0.01})
    run = hook.start_run("1234")
    client.fault("html", "/run/", method="GET", status=502, times=5)
    with pytest.raises(ServerError, match=r"HTTP 502 .*502 Bad Gateway"):
        hook.get_run(run.ref)
    assert len(gets(client)) == 1 + 2


def test_html_page_with_200_is_a_format_error_not_retried(client, conn):
    hook = conn()
    run = hook.start_run("1234")
    client.fault("html", "/run/", method="GET", status=200, body="<html>Sign in</html>", times=5)
    with pytest.raises(ResponseFormatError, match=r"HTTP 200 .*not JSON: '<html>Sign in</html>'"):
        hook.get_run(run.ref)
    assert len(gets(client)) == 2


@pytest.mark.parametrize(("token", "status"), [("wrong", 403), ("", None)])
def test_bad_or_missing_token_fails_at_once_without_retries(client, conn, token, status):
    hook = conn(password=token)
    if status is None:
        with pytest.raises(ConfigurationError, match="no API token"):
            hook.start_run("1234")
        assert client.requests() == []
        return
    with pytest.raises(AuthError, match="connection 'dataform_test'") as info:
        hook.start_run("1234")
    assert info.value.status == status
    assert len(client.requests("dataform")) == 1
    assert "wrong" not in str(info.value)


@pytest.mark.parametrize("fault", ["status", "accept_then_drop"])
def test_an_ambiguous_start_is_not_retried_and_says_a_run_may_exist(client, conn, fault):
    client.fault(fault, "/run$", method="POST", status=502, times=1)
    with pytest.raises(StartUncertainError, match="a run may have started; look for it in Dataform"):
        conn().start_run("1234")
    assert [r["method"] for r in client.requests("dataform")] == ["POST"]


def test_an_unreadable_answer_to_a_start_says_a_run_may_exist(client, conn):
    client.fault("accept_then_html", "/run$", method="POST", status=200, body="<html>Sign in</html>")
    with pytest.raises(
        StartUncertainError, match=r"not JSON: '<html>Sign in</html>'.*a run may have started"
    ):
        conn().start_run("1234")
    assert len(client.runs("dataform")) == 1  # it did start one, and the message says it may have
    assert [r["method"] for r in client.requests("dataform")] == ["POST"]


def test_a_retry_after_longer_than_the_policy_sleeps_is_not_slept_on_but_reported(client, conn):
    client.fault("status", "/run/", method="GET", status=429, headers={"Retry-After": "86400"}, times=1)
    hook = conn()
    run = hook.start_run("1234")  # its first read is refused: the run is still reported
    assert run.run_id == client.runs("dataform")[0]["run_id"]
    client.fault("status", "/run/", method="GET", status=429, headers={"Retry-After": "86400"}, times=1)
    started = time.monotonic()
    with pytest.raises(RateLimitedError, match="asked to wait 86400s") as info:
        hook.get_run(run.ref)
    assert time.monotonic() - started < 5 and info.value.retry_after == 86400


def test_a_start_refused_with_429_is_retried(client, conn):
    client.fault("status", "/run$", method="POST", status=429, headers={"Retry-After": "0"}, times=1)
    run = conn().start_run("1234")
    assert [r["status"] for r in client.requests("dataform")][:2] == [429, 200]
    assert len(client.runs("dataform")) == 1 and run.run_id == client.runs("dataform")[0]["run_id"]


def test_unknown_run_is_a_404_naming_the_ids(client, conn):
    with pytest.raises(NotFoundError, match="no run '777' in project '1234'"):
        conn().get_run({"project_id": "1234", "run_id": "777"})


def test_connection_refused_is_retried_then_reported(client, conn):
    hook = conn(host="http://127.0.0.1:9", extra={"max_attempts": 2, "backoff": 0.01})
    started = time.monotonic()
    with pytest.raises(NotSentError, match="could not connect"):
        hook.start_run("1234")
    assert time.monotonic() - started < 10


def test_missing_connection_says_which_and_how_to_create_it(sandbox):
    os.environ.pop("AIRFLOW_CONN_NOPE", None)
    with pytest.raises(ConfigurationError, match=r"'nope' is not defined.*'dataform_web'"):
        DataformHook("nope").get_run({"project_id": "1", "run_id": "2"})


def test_tls_verification_is_on_unless_turned_off_explicitly(conn, caplog):
    assert conn().get_endpoint().verify is True
    with caplog.at_level("WARNING"):
        endpoint = conn(extra={"verify_ssl": "false"}).get_endpoint()
    assert endpoint.verify is False
    assert "verification is OFF" in caplog.text
    with pytest.raises(ConfigurationError, match="verify_ssl"):
        conn(extra={"verify_ssl": "maybe"}).get_endpoint()
