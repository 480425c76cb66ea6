"""RemoteAirflowHook against the sandbox's fake remote Airflow (all three API generations), with faults."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from airflow_provider_pipelines.errors import (
    AuthError,
    ClientError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PipelinesError,
    ServerError,
)
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.http import close_shared_sessions
from airflow_provider_pipelines.runs import RunState
from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow as Fake

GENERATIONS = ["v2", "v1", "experimental"]
#: each generation's usual credentials: a login on Airflow 3 and 2, an API key on the experimental API
CREDENTIALS = {
    "v2": ("", {"login": Fake.login, "password": Fake.password}),
    "v1": ("/v1gen", {"login": Fake.login, "password": Fake.password}),
    "experimental": ("/expgen", {"password": Fake.api_key, "extra": {"auth_type": "api_key"}}),
}
FAST = {"timeout": 2, "backoff": 0.05, "backoff_max": 0.2}


@pytest.fixture
def conn(sandbox, monkeypatch):
    """Define connection ``remote_airflow_test`` for a generation of the fake; return a hook on it."""

    def define(generation="v2", **fields):
        suffix, credentials = CREDENTIALS[generation]
        conn = {"conn_type": "remote_airflow", "host": sandbox.vendor_url("remote_airflow") + suffix}
        conn.update(credentials)
        conn.update(fields)
        conn["extra"] = {**FAST, **credentials.get("extra", {}), **fields.get("extra", {})}
        monkeypatch.setenv("AIRFLOW_CONN_REMOTE_AIRFLOW_TEST", json.dumps(conn))
        return RemoteAirflowHook("remote_airflow_test")

    return define


def calls(client, fragment=""):
    return [
        (r["method"], r["path"], r["status"])
        for r in client.requests("remote_airflow")
        if fragment in r["path"]
    ]


def only_run(client):
    runs = client.runs("remote_airflow")
    assert len(runs) == 1, runs
    return runs[0]


# -- which API, which body ----------------------------------------------------------------------

PROBES = {
    "v2": ["/api/v2/version"],
    "v1": ["/api/v2/version", "/api/v1/version"],
    "experimental": ["/api/v2/version", "/api/v1/version", "/api/experimental/test"],
}


@pytest.mark.parametrize("generation", GENERATIONS)
def test_api_is_detected_once_per_hook_newest_first(client, conn, generation):
    hook = conn(generation)
    run = hook.trigger_dag_run("etl", dag_run_id="r1")
    hook.get_run(run.ref)
    hook.get_run(run.ref)
    probes = [
        path.split("/remote_airflow", 1)[1].removeprefix("/v1gen").removeprefix("/expgen")
        for _, path, _ in calls(client)
        if path.endswith(("/version", "/test"))
    ]
    assert probes == PROBES[generation]
    assert run.ref["api"] == generation


def test_api_version_extra_skips_the_probe(client, conn):
    hook = conn("v1", extra={"api_version": "v1"})
    hook.trigger_dag_run("etl", dag_run_id="r1")
    assert calls(client, "/version") == []


def test_no_airflow_api_at_the_host_says_what_to_check(client, conn, sandbox):
    hook = conn("v2", host=sandbox.vendor_url("remote_airflow") + "/nothing-here")
    with pytest.raises(
        ConfigurationError, match=r"found no Airflow REST API at .*/nothing-here .*path prefix"
    ):
        hook.trigger_dag_run("etl", dag_run_id="r1")
    assert client.runs("remote_airflow") == []


BODIES = {
    "v2": {"dag_run_id": "r1", "logical_date": "2026-01-31T06:00:00+00:00", "conf": {"k": [1, 2]}},
    "v1": {"dag_run_id": "r1", "conf": {"k": [1, 2]}, "logical_date": "2026-01-31T06:00:00+00:00"},
    "experimental": {"run_id": "r1", "conf": {"k": [1, 2]}, "execution_date": "2026-01-31T06:00:00+00:00"},
}


@pytest.mark.parametrize("generation", GENERATIONS)
def test_each_generation_receives_exactly_its_body(client, conn, generation):
    run = conn(generation).trigger_dag_run(
        "etl", dag_run_id="r1", conf={"k": [1, 2]}, logical_date="2026-01-31T06:00:00+00:00"
    )
    assert only_run(client)["data"]["request"] == BODIES[generation]
    assert run.run_id == "r1" and run.state in (RunState.QUEUED, RunState.RUNNING)


def test_airflow_3_gets_the_logical_date_key_even_when_null(client, conn):
    conn("v2").trigger_dag_run("etl", dag_run_id="r1")
    assert only_run(client)["data"]["request"] == {"dag_run_id": "r1", "logical_date": None, "conf": {}}


@pytest.mark.parametrize("conf", ["{}", [1], {"d": object()}])
def test_bad_conf_fails_before_any_request(client, conn, conf):
    with pytest.raises(ConfigurationError, match="conf must"):
        conn("v2").trigger_dag_run("etl", dag_run_id="r1", conf=conf)
    assert client.requests() == []


def test_unknown_dag_is_a_404_naming_it(client, conn):
    with pytest.raises(NotFoundError, match="knows no DAG 'nope'"):
        conn("v2").trigger_dag_run("nope", dag_run_id="r1")


# -- no duplicate runs -----------------------------------------------------------------------------


@pytest.mark.parametrize("generation", GENERATIONS)
def test_a_repeated_trigger_reattaches_to_the_existing_run(client, conn, generation, capfd):
    first = conn(generation).trigger_dag_run("etl", dag_run_id="r1", conf={"try": 1})
    again = conn(generation).trigger_dag_run("etl", dag_run_id="r1", conf={"try": 2})  # a retried task
    assert again.run_id == first.run_id == "r1"
    assert only_run(client)["data"]["conf"] == {"try": 1}
    refused = 400 if generation == "experimental" else 409
    assert [s for m, _, s in calls(client, "ag_runs") + calls(client, "agRuns") if m == "POST"] == [
        200,
        refused,
    ]
    assert "Run r1 of DAG etl already exists on the remote Airflow" in "".join(capfd.readouterr())


@pytest.mark.parametrize("generation", GENERATIONS)
def test_a_trigger_whose_answer_was_lost_is_sent_again_and_reattaches(client, conn, generation):
    client.fault("accept_then_drop", "dag_?[rR]uns$", method="POST", times=1)
    run = conn(generation).trigger_dag_run("etl", dag_run_id="r1")
    assert run.run_id == "r1"
    assert len(client.runs("remote_airflow")) == 1
    posts = [s for m, p, s in calls(client) if m == "POST" and "uns" in p]
    assert posts == ["dropped", 400 if generation == "experimental" else 409]


@pytest.mark.parametrize("generation", GENERATIONS)
def test_a_logical_date_taken_by_another_run_fails_naming_it(client, conn, generation):
    hook = conn(generation)
    hook.trigger_dag_run("etl", dag_run_id="first", logical_date="2026-01-31T06:00:00+00:00")
    error = ClientError if generation == "experimental" else ConflictError
    with pytest.raises(error, match=r"no run 'second' .*a run with logical date 2026-01-31T06:00:00\+00:00"):
        hook.trigger_dag_run("etl", dag_run_id="second", logical_date="2026-01-31T06:00:00+00:00")
    assert [r["data"]["dag_run_id"] for r in client.runs("remote_airflow")] == ["first"]


def test_a_start_refused_with_a_server_error_after_retries_says_so(client, conn):
    client.fault("status", "dagRuns$", method="POST", status=503, times=10)
    with pytest.raises(ServerError, match="HTTP 503"):
        conn("v2", extra={"max_attempts": 2}).trigger_dag_run("etl", dag_run_id="r1")
    assert client.runs("remote_airflow") == []


# -- auth --------------------------------------------------------------------------------------


def token_posts(client):
    return [s for m, p, s in calls(client, "/auth/token") if m == "POST"]


def test_login_on_airflow_3_fetches_one_token_per_hook_and_renews_it_once_expired(client, conn, caplog):
    hook = conn("v2")
    run = hook.trigger_dag_run("etl", dag_run_id="r1")
    hook.get_run(run.ref)
    assert token_posts(client) == [201]
    client.vendor_admin("remote_airflow", "expire_tokens")
    with caplog.at_level(logging.INFO):
        assert hook.get_run(run.ref).run_id == "r1"
    assert token_posts(client) == [201, 201]
    reads = [s for m, p, s in calls(client, "/dagRuns/r1") if m == "GET"]
    assert reads == [200, 401, 200]
    assert "credential refused (HTTP 401); fetching a new one" in caplog.text


def test_a_fresh_token_refused_again_fails_without_looping(client, conn):
    hook = conn("v2")
    run = hook.trigger_dag_run("etl", dag_run_id="r1")
    client.fault(
        "status", "/dagRuns/r1$", method="GET", status=401, body='{"detail": "Token Expired"}', times=2
    )
    with pytest.raises(AuthError, match="HTTP 401"):
        hook.get_run(run.ref)
    assert token_posts(client) == [201, 201]


def test_a_token_refused_right_after_it_was_fetched_is_not_fetched_again(client, conn):
    client.fault(
        "status", "dagRuns$", method="POST", status=401, body='{"detail": "Not authenticated"}', times=5
    )
    with pytest.raises(AuthError, match="HTTP 401"):
        conn("v2", extra={"api_version": "v2"}).trigger_dag_run("etl", dag_run_id="r1")
    assert token_posts(client) == [201]


def test_the_async_path_renews_an_expired_token_too(client, conn):
    run = conn("v2").trigger_dag_run("etl", dag_run_id="r1")
    hook = conn("v2")

    async def read_twice():
        await hook.aget_run(run.ref)
        client.vendor_admin("remote_airflow", "expire_tokens")
        again = await hook.aget_run(run.ref)
        await close_shared_sessions()
        return again

    assert asyncio.run(read_twice()).run_id == "r1"
    assert token_posts(client) == [201, 201, 201]  # the trigger's hook fetched its own, then renewed it
    assert [s for m, _, s in calls(client, "/dagRuns/r1") if m == "GET"] == [200, 401, 200]


def test_concurrent_reads_on_one_hook_fetch_one_token_and_renew_it_once(client, conn):
    run = conn("v2").trigger_dag_run("etl", dag_run_id="r1")
    hook = conn("v2")  # as a triggerer shares it between the triggers on one connection

    async def read_all_at_once():
        await hook.aget_endpoint()  # a shared hook is handed out with its endpoint resolved
        await asyncio.gather(*(hook.aget_run(run.ref) for _ in range(20)))
        client.vendor_admin("remote_airflow", "expire_tokens")
        runs = await asyncio.gather(*(hook.aget_run(run.ref) for _ in range(20)))
        await close_shared_sessions()
        return runs

    assert {r.run_id for r in asyncio.run(read_all_at_once())} == {"r1"}
    # the operator's token, then one for the 20 first reads, then one renewal for the 20 refused
    assert token_posts(client) == [201, 201, 201]
    reads = [s for m, _, s in calls(client, "/dagRuns/r1") if m == "GET"]
    assert reads.count(200) == 40 and set(reads) <= {200, 401}


def test_a_token_signed_with_a_lost_secret_is_renewed(client, conn):
    hook = conn("v2")
    run = hook.trigger_dag_run("etl", dag_run_id="r1")
    client.reset()  # the fake forgets its tokens, as a server restarted with a new secret would
    hook.trigger_dag_run("etl", dag_run_id=run.run_id)
    assert [s for m, _, s in calls(client, "agRuns") if m == "POST"] == [403, 200]


def test_wrong_password_fails_at_once_naming_the_connection_and_no_secret(client, conn):
    with pytest.raises(
        AuthError, match="login or password of connection 'remote_airflow_test' is wrong"
    ) as info:
        conn("v2", password="wrong-pw").trigger_dag_run("etl", dag_run_id="r1")
    assert "wrong-pw" not in str(info.value)
    assert token_posts(client) == [401]
    assert client.runs("remote_airflow") == []


@pytest.mark.parametrize("generation", ["v2", "v1"])
def test_a_pre_issued_token_alone_is_sent_as_bearer(client, conn, generation):
    hook = conn(generation, login=None, password=Fake.token)
    hook.trigger_dag_run("etl", dag_run_id="r1")
    assert token_posts(client) == []
    assert len(client.runs("remote_airflow")) == 1


def test_airflow_2_takes_basic_auth_from_a_login(client, conn):
    conn("v1").trigger_dag_run("etl", dag_run_id="r1")
    assert token_posts(client) == [] and len(client.runs("remote_airflow")) == 1


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"login": None, "extra": {"auth_type": "token"}}, "auth_type 'token' needs a login"),
        ({"extra": {"auth_type": "kerberos"}}, "'auth_type' must be one of"),
        ({"password": None, "extra": {"auth_type": "bearer"}}, "has no password or API token"),
    ],
)
def test_auth_settings_that_cannot_work_fail_before_any_request(client, conn, fields, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        conn("v2", **fields).trigger_dag_run("etl", dag_run_id="r1")
    assert client.requests() == []


def test_the_api_key_goes_without_a_scheme_word_and_a_wrong_one_is_refused(client, conn):
    conn("experimental").trigger_dag_run("etl", dag_run_id="r1")
    with pytest.raises(AuthError, match="HTTP 403"):
        conn("experimental", password="not-the-key", extra={"api_version": "experimental"}).get_run(
            {"api": "experimental", "dag_id": "etl", "dag_run_id": "r1"}
        )


def test_secrets_stay_out_of_urls_and_reprs(client, conn):
    hook = conn("v2")
    hook.trigger_dag_run("etl", dag_run_id="r1")
    assert all(Fake.password not in r["path"] for r in client.requests())
    assert Fake.password not in repr(hook.get_endpoint())


# -- paused DAGs, failures, cancel ------------------------------------------------------------------


@pytest.mark.parametrize("generation", GENERATIONS)
def test_a_run_queued_on_a_paused_dag_is_reported_once_naming_the_dag(client, conn, generation, capfd):
    hook = conn(generation)
    run = hook.trigger_dag_run("paused_etl", dag_run_id="r1")
    assert hook.check_paused(run) is True
    text = "".join(capfd.readouterr())
    assert text.count("DAG paused_etl is paused on the remote Airflow: run r1 stays queued") == 1
    assert only_run(client)["status"] == "queued"
    assert not any(m == "PATCH" for m, _, _ in calls(client))


@pytest.mark.parametrize("generation", GENERATIONS)
def test_unpause_if_paused_lets_the_run_start(client, conn, generation):
    client.plan("remote_airflow", "paused_etl", duration=0.2, outcome="success")
    hook = conn(generation)
    run = hook.trigger_dag_run("paused_etl", dag_run_id="r1")
    hook.check_paused(run, unpause=True)
    assert only_run(client)["status"] in ("running", "success")


def test_an_unpause_that_is_refused_names_the_run_already_triggered(client, conn):
    hook = conn("v2")
    run = hook.trigger_dag_run("paused_etl", dag_run_id="r1")
    client.fault(
        "status", "/dags/paused_etl$", method="PATCH", status=403, body='{"detail": "Forbidden"}', times=2
    )
    with pytest.raises(PipelinesError, match=r"Run r1 of DAG paused_etl was triggered, but .*HTTP 403"):
        hook.check_paused(run, unpause=True)


def test_an_active_dag_is_not_reported(client, conn, capfd):
    hook = conn("v2")
    run = hook.trigger_dag_run("etl", dag_run_id="r1")
    assert hook.check_paused(run) is False
    assert "paused" not in "".join(capfd.readouterr())


@pytest.mark.parametrize("generation", ["v2", "v1"])
def test_a_failed_run_is_explained_by_its_failed_tasks(client, conn, generation):
    client.plan("remote_airflow", "etl", duration=0.1, outcome="failed")
    hook = conn(generation)
    run = hook.trigger_dag_run("etl", dag_run_id="r1")
    time.sleep(0.3)
    run = hook.get_run(run.ref)
    assert run.state is RunState.FAILED
    lines = hook.explain_failure(run)
    assert lines[0] == "failed tasks of DAG etl: transform (try 2)"
    assert lines[1:] == ["remote task etl.transform: state failed, try 2"]
    assert "state=failed" in calls(client, "taskInstances")[0][1]


def test_the_experimental_api_cannot_list_failed_tasks_and_says_so(client, conn):
    client.plan("remote_airflow", "etl", duration=0.1, outcome="failed")
    hook = conn("experimental")
    run = hook.trigger_dag_run("etl", dag_run_id="r1")
    time.sleep(0.3)
    run = hook.get_run(run.ref)
    assert hook.explain_failure(run) == [
        "the experimental API lists no task instances: see DAG etl in the remote UI"
    ]


@pytest.mark.parametrize("generation", ["v2", "v1"])
def test_cancel_marks_the_run_failed(client, conn, generation):
    client.plan("remote_airflow", "etl", duration=60)
    hook = conn(generation)
    run = hook.trigger_dag_run("etl", dag_run_id="r1")
    hook.cancel_run(run)
    assert only_run(client)["data"]["patches"] == ["failed"]
    assert hook.get_run(run.ref).state is RunState.FAILED
    assert hook.explain_failure(hook.get_run(run.ref))[0] == "failed tasks of DAG etl: transform (try 1)"


def test_the_experimental_api_offers_no_cancel(conn, client):
    hook = conn("experimental")
    run = hook.trigger_dag_run("etl", dag_run_id="r1")
    assert hook.api.cancel_request(run.ref) is None


# -- anything else, and the connection test ----------------------------------------------------------


@pytest.mark.parametrize(
    ("generation", "path"),
    [("v2", "api/v2/pools"), ("v1", "/api/v1/pools"), ("experimental", "api/experimental/pools")],
)
def test_request_reaches_any_endpoint_with_the_same_auth_and_retries(client, conn, generation, path):
    client.fault("status", "/pools$", status=502, times=2)
    answer = conn(generation).request("GET", path)
    pools = answer if generation == "experimental" else answer["pools"]
    assert "default_pool" in json.dumps(pools)
    assert [s for _, p, s in calls(client, "/pools")] == [502, 502, 200]


def test_request_refuses_an_absolute_url(client, conn):
    with pytest.raises(ConfigurationError, match="relative to the deployment URL"):
        conn("v2").request("GET", "https://elsewhere.example.com/api/v2/pools")
    assert client.requests() == []


@pytest.mark.parametrize(
    ("generation", "words"),
    [
        ("v2", "/api/v2 with a token from /auth/token for user 'admin'; the credentials may list DAGs"),
        ("v1", "/api/v1 with basic auth as 'admin'; the credentials may list DAGs"),
        ("experimental", "/api/experimental with an API key; the API answers"),
    ],
)
def test_connection_test_says_what_it_found(client, conn, generation, words):
    assert conn(generation).test_connection() == (True, f"Connected: {words}")


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"password": "wrong"}, "login or password of connection 'remote_airflow_test' is wrong"),
        ({"host": "http://127.0.0.1:9", "extra": {"max_attempts": 1}}, "could not connect"),
        ({"extra": {"api_version": "v1"}}, "HTTP 404"),
    ],
)
def test_connection_test_gives_a_precise_reason(client, conn, fields, fragment):
    ok, reason = conn("v2", **fields).test_connection()
    assert not ok and fragment in reason, reason
