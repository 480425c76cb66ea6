"""Pure unit tests of the remote Airflow API object: bodies, paths, parsers, ids, auth, parameters."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from airflow_provider_pipelines.apis.remote_airflow import (
    EXPERIMENTAL,
    STATUSES,
    V1,
    V2,
    AirflowAuth,
    RemoteAirflowApi,
    generation_from_extra,
)
from airflow_provider_pipelines.errors import ConfigurationError, NotFoundError, ResponseFormatError
from airflow_provider_pipelines.http import ApiRequest, ApiResponse, Endpoint
from airflow_provider_pipelines.params.remote_airflow import (
    RUN_ID_PATTERN,
    check_conf,
    check_run_id,
    default_dag_run_id,
    normalise_logical_date,
)
from airflow_provider_pipelines.runs import RunState

API = RemoteAirflowApi()
BASE = "https://org.astronomer.run/d1"


def answer(request: ApiRequest, body: object, status: int = 200) -> ApiResponse:
    """A response to ``request`` as the endpoint at BASE would have got it."""
    url = Endpoint("c", BASE, {}).url(request)
    return ApiResponse(status=status, headers={}, body=json.dumps(body).encode(), request=request, url=url)


def ref(api: str = V2, **more: str) -> dict[str, str]:
    return {"api": api, "dag_id": "etl", "dag_run_id": "r1", **more}


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("queued", RunState.QUEUED),
        ("running", RunState.RUNNING),
        ("success", RunState.SUCCESS),
        ("failed", RunState.FAILED),
        ("up_for_retry", RunState.UNKNOWN),  # a task state, never a run's
        ("SUCCESS", RunState.UNKNOWN),
        (None, RunState.UNKNOWN),
    ],
)
def test_status_table(word, state):
    assert STATUSES.classify(word) is state


@pytest.mark.parametrize(
    ("api", "logical_date", "path", "body"),
    [
        (V2, None, "api/v2/dags/etl/dagRuns", {"dag_run_id": "r1", "logical_date": None, "conf": {"a": 1}}),
        (
            V2,
            "2026-01-31T06:00:00+00:00",
            "api/v2/dags/etl/dagRuns",
            {"dag_run_id": "r1", "logical_date": "2026-01-31T06:00:00+00:00", "conf": {"a": 1}},
        ),
        (V1, None, "api/v1/dags/etl/dagRuns", {"dag_run_id": "r1", "conf": {"a": 1}}),
        (
            V1,
            "2026-01-31T06:00:00+00:00",
            "api/v1/dags/etl/dagRuns",
            {"dag_run_id": "r1", "conf": {"a": 1}, "logical_date": "2026-01-31T06:00:00+00:00"},
        ),
        (
            EXPERIMENTAL,
            None,
            "api/experimental/dags/etl/dag_runs",
            {"run_id": "r1", "conf": {"a": 1}, "replace_microseconds": "false"},
        ),
        (
            EXPERIMENTAL,
            "2026-01-31T06:00:00+00:00",
            "api/experimental/dags/etl/dag_runs",
            {"run_id": "r1", "conf": {"a": 1}, "execution_date": "2026-01-31T06:00:00+00:00"},
        ),
    ],
)
def test_each_generation_gets_its_exact_trigger_body(api, logical_date, path, body):
    request = API.trigger_request(api, "etl", dag_run_id="r1", conf={"a": 1}, logical_date=logical_date)
    assert (request.method, request.path, request.json) == ("POST", path, body)
    # a repeat is detected by the server (the run id is ours), so a lost answer may be retried
    assert request.idempotent is True


@pytest.mark.parametrize(
    ("api", "status", "duplicate"),
    [
        (V2, 409, True),
        (V1, 409, True),
        (V2, 400, False),
        (EXPERIMENTAL, 400, True),
        (EXPERIMENTAL, 409, False),
    ],
)
def test_duplicate_status_per_generation(api, status, duplicate):
    assert API.is_duplicate(api, status) is duplicate


@pytest.mark.parametrize(
    ("the_ref", "method", "path"),
    [
        (ref(V2), "GET", "api/v2/dags/etl/dagRuns/r1"),
        (ref(V1), "GET", "api/v1/dags/etl/dagRuns/r1"),
        (ref(EXPERIMENTAL), "GET", "api/experimental/dags/etl/dag_runs"),
        (
            ref(EXPERIMENTAL, execution_date="2026-01-31T06:00:00+00:00"),
            "GET",
            "api/experimental/dags/etl/dag_runs/2026-01-31T06%3A00%3A00%2B00%3A00",
        ),
        (
            {"api": V2, "dag_id": "a/b", "dag_run_id": "manual__2026-01-01T00:00:00+00:00"},
            "GET",
            "api/v2/dags/a%2Fb/dagRuns/manual__2026-01-01T00%3A00%3A00%2B00%3A00",
        ),
    ],
)
def test_read_paths_follow_the_ref_generation(the_ref, method, path):
    request = API.read_request(the_ref)
    assert (request.method, request.path) == (method, path)


@pytest.mark.parametrize(
    ("api", "url"),
    [
        (V2, f"{BASE}/dags/etl/runs/manual__2026-01-01T00:00:00+00:00"),
        (V1, f"{BASE}/dags/etl/grid?dag_run_id=manual__2026-01-01T00%3A00%3A00%2B00%3A00"),
        (EXPERIMENTAL, None),
    ],
)
def test_run_link_per_generation_keeps_the_deployment_prefix(api, url):
    the_ref = {"api": api, "dag_id": "etl", "dag_run_id": "manual__2026-01-01T00:00:00+00:00"}
    body = {"state": "running", "dag_run_id": the_ref["dag_run_id"]}
    run = API.parse_run(answer(API.read_request(the_ref), body), the_ref)
    assert run.url == url
    assert run.state is RunState.RUNNING and run.run_id == the_ref["dag_run_id"]


def test_parse_run_reads_state_conf_and_logical_date():
    body = {"dag_run_id": "r1", "state": "failed", "conf": {"x": 1}, "logical_date": "2026-01-01T00:00:00Z"}
    run = API.parse_run(answer(API.read_request(ref()), body), ref())
    assert (run.state, run.vendor_status) == (RunState.FAILED, "failed")
    assert run.extra == {"conf": {"x": 1}, "logical_date": "2026-01-01T00:00:00Z"}
    assert run.to_dict()["ref"] == ref()


def test_experimental_run_list_is_searched_for_our_run_and_learns_its_date():
    the_ref = ref(EXPERIMENTAL)
    rows = [
        {"run_id": "other", "state": "success", "execution_date": "2026-01-01T00:00:00+00:00"},
        {"run_id": "r1", "state": "queued", "execution_date": "2026-01-02T00:00:00+00:00"},
    ]
    run = API.parse_run(answer(API.read_request(the_ref), rows), the_ref)
    assert run.state is RunState.QUEUED
    assert run.ref == {**the_ref, "execution_date": "2026-01-02T00:00:00+00:00"}
    with pytest.raises(NotFoundError, match="lists no run 'r1'"):
        API.parse_run(answer(API.read_request(the_ref), rows[:1]), the_ref)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [({"dag_run_id": "r1"}, "without the field 'state'"), ([1], "not an object")],
)
def test_parse_run_refuses_bodies_it_cannot_read(body, fragment):
    with pytest.raises(ResponseFormatError, match=fragment):
        API.parse_run(answer(API.read_request(ref()), body), ref())


def test_started_ref_refuses_a_run_id_other_than_ours_and_keeps_the_experimental_date():
    request = API.trigger_request(V2, "etl", dag_run_id="r1", conf={}, logical_date=None)
    with pytest.raises(ResponseFormatError, match="created run 'r2'"):
        API.started_ref(ref(), answer(request, {"dag_run_id": "r2", "state": "queued"}))
    request = API.trigger_request(EXPERIMENTAL, "etl", dag_run_id="r1", conf={}, logical_date=None)
    created = {"message": "Created", "run_id": "r1", "execution_date": "2026-01-01T00:00:00+00:00"}
    assert (
        API.started_ref(ref(EXPERIMENTAL), answer(request, created))["execution_date"]
        == created["execution_date"]
    )


@pytest.mark.parametrize(("api", "patched"), [(V2, True), (V1, True), (EXPERIMENTAL, False)])
def test_cancel_is_marking_the_run_failed_where_the_api_allows(api, patched):
    request = API.cancel_request(ref(api))
    if not patched:
        assert request is None
        return
    assert request is not None
    assert (request.method, request.path, request.json) == (
        "PATCH",
        f"api/{api}/dags/etl/dagRuns/r1",
        {"state": "failed"},
    )


def test_failed_tasks_are_parsed_with_try_and_map_index_and_filtered_again():
    request = API.failed_tasks_request(ref())
    assert request is not None and request.params == {"state": "failed", "limit": "100"}
    rows = [
        {"task_id": "extract", "state": "success", "try_number": 1, "map_index": -1},
        {"task_id": "load", "state": "failed", "try_number": 3, "map_index": 2},
        {"task_id": "transform", "state": "failed", "try_number": 2, "map_index": -1},
    ]
    tasks = API.parse_failed_tasks(answer(request, {"task_instances": rows}))
    assert [(t.label, t.try_number) for t in tasks] == [("load[2]", 3), ("transform", 2)]
    assert API.failed_tasks_request(ref(EXPERIMENTAL)) is None


@pytest.mark.parametrize(
    ("api", "method", "path", "params", "body"),
    [
        (V2, "PATCH", "api/v2/dags/etl", {"update_mask": "is_paused"}, {"is_paused": False}),
        (V1, "PATCH", "api/v1/dags/etl", {"update_mask": "is_paused"}, {"is_paused": False}),
        (EXPERIMENTAL, "GET", "api/experimental/dags/etl/paused/false", {}, None),
    ],
)
def test_unpause_request_per_generation(api, method, path, params, body):
    request = API.unpause_request(api, "etl")
    assert (request.method, request.path, dict(request.params), request.json) == (method, path, params, body)


@pytest.mark.parametrize(
    ("api", "body", "reported"),
    [
        (V2, {"version": "3.3.2", "git_version": None}, "3.3.2"),
        (V1, {"version": "2.11.0"}, "2.11.0"),
        (EXPERIMENTAL, {"status": "OK"}, ""),
        (V2, {"error": "API route not found"}, None),
        (V1, ["html?"], None),
    ],
)
def test_probe_counts_only_the_json_each_generation_sends(api, body, reported):
    assert API.parse_probe(api, answer(API.probe_request(api), body)) == reported


def test_probe_ignores_an_html_page_served_for_any_path():
    request = API.probe_request(V1)
    page = ApiResponse(200, {}, b"<html>app</html>", request, f"{BASE}/api/v1/version")
    assert API.parse_probe(V1, page) is None


# -- run ids, conf, logical dates ---------------------------------------------------------------


def test_default_run_id_is_stable_per_task_instance_and_valid_on_airflow():
    args = ("local_dag", "manual__2026-01-01T00:00:00.123456+00:00", "trigger")
    first = default_dag_run_id(*args)
    assert first == default_dag_run_id(*args)  # a retry computes the same id
    assert first.startswith("local_dag.trigger__manual__2026-01-01T00:00:00.123456+00:00__")
    assert RUN_ID_PATTERN.match(first)
    others = {
        default_dag_run_id("local_dag", args[1], "trigger", 0),
        default_dag_run_id("local_dag", args[1], "trigger", 1),
        default_dag_run_id("local_dag", args[1], "other"),
        default_dag_run_id("local_dag", "scheduled__2026-01-02T00:00:00+00:00", "trigger"),
        default_dag_run_id("other_dag", args[1], "trigger"),
    }
    assert first not in others and len(others) == 5


@pytest.mark.parametrize(
    ("dag_id", "run_id", "task_id"),
    [("dag with spaces", "manual run/1", "task"), ("d", "r" * 600, "t"), ("dag", "run:1", "grp.task")],
)
def test_default_run_id_is_valid_whatever_the_local_ids(dag_id, run_id, task_id):
    made = default_dag_run_id(dag_id, run_id, task_id)
    assert check_run_id(made) == made


def test_replacing_unsafe_characters_never_makes_two_task_instances_share_a_run_id():
    assert default_dag_run_id("dag", "run 1", "t") != default_dag_run_id("dag", "run_1", "t")
    assert default_dag_run_id("d", "r" * 600 + "a", "t") != default_dag_run_id("d", "r" * 600 + "b", "t")


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "ü", None, 12, "x" * 251])
def test_bad_run_ids_are_refused_before_any_request(bad):
    with pytest.raises(ConfigurationError, match="dag_run_id must"):
        check_run_id(bad)


@pytest.mark.parametrize(
    ("conf", "fragment"),
    [
        ("{}", "got str .*render_template_as_native_obj"),
        ([1, 2], "got list"),
        ({"when": datetime(2026, 1, 1)}, "JSON-serialisable"),
        ({"x": float("nan")}, "JSON-serialisable"),
        ({1: "a"}, "keys must be strings"),
    ],
)
def test_conf_must_be_a_json_object(conf, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        check_conf(conf)


def test_conf_none_is_an_empty_object():
    assert check_conf(None) == {}
    assert check_conf({"a": [1, {"b": None}]}) == {"a": [1, {"b": None}]}


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        (None, None),
        ("", None),
        ("None", None),  # "{{ logical_date }}" of an Airflow 3 run without one
        (datetime(2026, 1, 31, 6, tzinfo=timezone.utc), "2026-01-31T06:00:00+00:00"),
        (datetime(2026, 1, 31, 6), "2026-01-31T06:00:00+00:00"),
        (datetime(2026, 1, 31, 7, tzinfo=timezone(timedelta(hours=1))), "2026-01-31T07:00:00+01:00"),
        (date(2026, 1, 31), "2026-01-31T00:00:00+00:00"),
        ("2026-01-31", "2026-01-31T00:00:00+00:00"),
        ("2026-01-31T06:00:00Z", "2026-01-31T06:00:00+00:00"),
        ("2026-01-31T06:00:00.5+02:00", "2026-01-31T06:00:00.500000+02:00"),
    ],
)
def test_logical_date_from_datetime_date_or_iso_text(value, iso):
    assert normalise_logical_date(value) == iso


@pytest.mark.parametrize("value", ["yesterday", "31/01/2026", 1767225600, ["2026-01-01"]])
def test_logical_date_that_is_no_date_is_refused(value):
    with pytest.raises(ConfigurationError, match="logical_date must be"):
        normalise_logical_date(value)


@pytest.mark.parametrize(
    ("value", "generation"),
    [(None, None), ("auto", None), ("v2", V2), ("V1", V1), (" experimental ", EXPERIMENTAL)],
)
def test_api_version_extra(value, generation):
    assert generation_from_extra(value, "c") == generation


def test_unknown_api_version_extra_is_refused_naming_the_choices():
    with pytest.raises(ConfigurationError, match=r"'api_version' must be one of .*'v2'"):
        generation_from_extra("3", "c")


# -- auth -------------------------------------------------------------------------------------


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("mode", "generation", "header"),
    [
        ("bearer", None, "Bearer s3cret"),
        ("bearer", V1, "Bearer s3cret"),
        ("api_key", EXPERIMENTAL, "s3cret"),
        ("basic", V2, basic("ann", "s3cret")),
        ("login", V1, basic("ann", "s3cret")),
        ("login", EXPERIMENTAL, basic("ann", "s3cret")),
        ("login", None, None),  # only the version probes go out before the generation is known
        ("login", V2, None),  # a token must be fetched first
        ("token", V1, None),
        ("none", V2, None),
    ],
)
def test_auth_headers_by_mode_and_generation(mode, generation, header):
    auth = AirflowAuth(mode, login="ann", secret="s3cret", generation=generation)
    assert auth.headers().get("Authorization") == header
    assert "s3cret" not in repr(auth)


def test_login_on_airflow_3_fetches_a_token_then_sends_it_and_renews_on_refusal():
    auth = AirflowAuth("login", login="ann", secret="s3cret", conn_id="c", generation=V2)
    assert auth.needs_renewal()
    renewal = auth.renewal()
    assert renewal is not None
    assert (renewal.method, renewal.path, renewal.json) == (
        "POST",
        "auth/token",
        {"username": "ann", "password": "s3cret"},
    )
    auth.renewed(answer(renewal, {"access_token": "jwt-1"}, status=201))
    assert auth.headers() == {"Authorization": "Bearer jwt-1"} and not auth.needs_renewal()
    assert auth.should_renew(401) and auth.should_renew(403) and not auth.should_renew(404)
    with pytest.raises(ResponseFormatError, match="access_token"):
        auth.renewed(answer(renewal, {"token": "x"}, status=201))


@pytest.mark.parametrize(
    ("mode", "generation"), [("bearer", V2), ("basic", V1), ("api_key", EXPERIMENTAL), ("login", V1)]
)
def test_static_credentials_are_never_renewed(mode, generation):
    auth = AirflowAuth(mode, login="ann", secret="s3cret", generation=generation)
    assert auth.renewal() is None and not auth.needs_renewal() and not auth.should_renew(401)
