"""Pure unit tests: state tables, request builders, parsers, events, schedules, retry rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_pipelines.apis.dataform import STATUSES, DataformApi
from airflow_provider_pipelines.errors import (
    AmbiguousError,
    AuthError,
    ClientError,
    ConfigurationError,
    NotFoundError,
    NotSentError,
    PipelinesError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
)
from airflow_provider_pipelines.hooks.base import resolve_base_url
from airflow_provider_pipelines.http import (
    ApiRequest,
    ApiResponse,
    Endpoint,
    RetryPolicy,
    check_response,
    parse_retry_after,
)
from airflow_provider_pipelines.lifecycle import PollSchedule, RunEvent, format_elapsed
from airflow_provider_pipelines.runs import RemoteRun, RunState
from airflow_provider_pipelines.validation import require_seconds, require_str, require_str_list

API = DataformApi()
READ = ApiRequest("GET", "v1/x", what="read thing")
START = ApiRequest("POST", "v1/x", idempotent=False, what="start thing")


def response(
    status: int, body: bytes = b"{}", headers: dict[str, str] | None = None, request: ApiRequest = READ
) -> ApiResponse:
    return ApiResponse(status=status, headers=headers or {}, body=body, request=request, url="http://h/v1/x")


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("RUNNING", RunState.RUNNING),
        ("SUCCESSFUL", RunState.SUCCESS),
        ("FAILED", RunState.FAILED),
        ("CANCELLED", RunState.CANCELLED),
        ("TIMED_OUT", RunState.FAILED),
        ("UNKNOWN", RunState.UNKNOWN),
        ("successful", RunState.UNKNOWN),  # Dataform's words are upper case; no guessing
        ("", RunState.UNKNOWN),
        (None, RunState.UNKNOWN),
        (3, RunState.UNKNOWN),
    ],
)
def test_dataform_status_table(word, state):
    assert STATUSES.classify(word) is state


def test_only_success_state_is_success_and_unknown_is_not_terminal():
    assert [s for s in RunState if s.is_terminal] == [
        RunState.SUCCESS,
        RunState.FAILED,
        RunState.CANCELLED,
        RunState.SKIPPED,
    ]
    assert not RunState.UNKNOWN.is_terminal and not RunState.BLOCKED.is_terminal


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({}, {}),
        ({"schedule_name": "nightly"}, {"scheduleName": "nightly"}),
        ({"environment_name": "prod"}, {"environmentName": "prod"}),
        ({"tags": ["a", "b"]}, {"runConfig": {"tags": ["a", "b"]}}),
        (
            {"schedule_name": "s", "environment_name": "e", "tags": ["t"]},
            {"scheduleName": "s", "environmentName": "e", "runConfig": {"tags": ["t"]}},
        ),
    ],
)
def test_dataform_start_request_body(kwargs, body):
    request = API.start_request("1234", **kwargs)
    assert (request.method, request.path, request.json) == ("POST", "v1/project/1234/run", body)
    assert request.idempotent is False


def test_dataform_ids_are_url_encoded_as_path_segments():
    assert API.read_request({"project_id": "a/b", "run_id": "7 8"}).path == "v1/project/a%2Fb/run/7%208"


def test_dataform_parse_run_keeps_word_state_and_link():
    body = b'{"id": "5678", "status": "TIMED_OUT", "runLogUrl": "https://app.dataform.co/#/1234/run/5678"}'
    run = API.parse_run(response(200, body), {"project_id": "1234", "run_id": "5678"})
    assert (run.run_id, run.state, run.vendor_status) == ("5678", RunState.FAILED, "TIMED_OUT")
    assert run.url == "https://app.dataform.co/#/1234/run/5678"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"id": "1"}', "without the field 'status'"),
    ],
)
def test_dataform_parse_run_rejects_bodies_it_cannot_read(body, fragment):
    with pytest.raises(ResponseFormatError, match=fragment):
        API.parse_run(response(200, body), {"project_id": "1", "run_id": "1"})


def test_dataform_parse_started_needs_an_id():
    assert API.parse_started(response(200, b'{"id": 42}'), "1234") == {"project_id": "1234", "run_id": "42"}
    with pytest.raises(ResponseFormatError, match="'id'"):
        API.parse_started(response(200, b"{}"), "1234")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (400, ClientError),
        (422, ClientError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (504, ServerError),
    ],
)
def test_error_statuses_map_to_typed_errors(status, error):
    with pytest.raises(error) as info:
        check_response(response(status, b'{"message": "nope"}'), conn_id="c")
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value) and "nope" in str(info.value)


def test_auth_error_names_the_connection_and_what_to_check():
    with pytest.raises(AuthError, match=r"connection 'dataform_default'.*token"):
        check_response(response(401), conn_id="dataform_default")


def test_long_html_error_pages_are_cut_to_a_short_excerpt():
    page = b"<html>" + b"x" * 5000 + b"</html>"
    with pytest.raises(ServerError) as info:
        check_response(response(502, page), conn_id="c")
    assert len(str(info.value)) < 400


def test_hints_are_appended_for_their_status():
    request = ApiRequest("GET", "p", what="read run", hints={404: "check run_id"})
    with pytest.raises(NotFoundError, match="check run_id"):
        check_response(response(404, request=request), conn_id="c")


def test_retry_after_seconds_date_and_ratelimit_reset():
    now = 1_800_000_000.0
    assert parse_retry_after({"retry-after": "7"}, now) == 7
    assert parse_retry_after({"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"}, 1_800_000_000.0) is not None
    assert parse_retry_after({"ratelimit-reset": str(int(now) + 12)}, now) == 12
    assert parse_retry_after({}, now) is None


@pytest.mark.parametrize(
    ("exc", "read", "start"),
    [
        (NotSentError("x"), True, True),
        (RateLimitedError("x", status=429), True, True),
        (AmbiguousError("x"), True, False),
        (ServerError("x", status=503), True, False),
        (AuthError("x", status=401), False, False),
        (NotFoundError("x", status=404), False, False),
        (ClientError("x", status=400), False, False),
        (ResponseFormatError("x"), False, False),
    ],
)
def test_retry_only_what_is_safe(exc, read, start):
    policy = RetryPolicy()
    assert policy.is_retryable(exc, READ) is read
    assert policy.is_retryable(exc, START) is start


def test_retry_wait_grows_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(backoff_initial=1.0, backoff_max=8.0)
    waits = [policy.wait_seconds(n, None) for n in range(1, 7)]
    assert all(0.5 <= w <= 1.0 for w in waits[:1]) and all(w <= 8.0 for w in waits)
    assert policy.wait_seconds(1, RateLimitedError("x", status=429, retry_after=20)) == 20


def _flaky(failures: list[Exception]):
    """A send that raises the given errors in turn, then answers 200; it records each try."""
    tries: list[int] = []

    def send(request):
        tries.append(len(tries) + 1)
        if failures:
            raise failures.pop(0)
        return response(200, request=request)

    async def asend(request):
        return send(request)

    return tries, send, asend


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("failures", "request_", "max_attempts", "tries", "outcome"),
    [
        ([], READ, 5, 1, 200),
        ([ServerError("x", status=503)], READ, 5, 2, 200),
        ([NotSentError("x"), AmbiguousError("x"), ServerError("x", status=502)], READ, 5, 4, 200),
        ([ServerError("x", status=503)] * 3, READ, 3, 3, ServerError),
        ([ServerError("x", status=503)], READ, 1, 1, ServerError),
        ([AmbiguousError("x")], START, 5, 1, AmbiguousError),  # a start that may have arrived
        ([RateLimitedError("x", status=429)], START, 5, 2, 200),  # refused: safe to resend
        ([AuthError("x", status=401)], READ, 5, 1, AuthError),
    ],
)
def test_retry_policy_tries_as_often_as_its_rules_say(
    mode, failures, request_, max_attempts, tries, outcome, caplog
):
    import asyncio

    policy = RetryPolicy(max_attempts=max_attempts, backoff_initial=0.001, backoff_max=0.002)
    made, send, asend = _flaky(list(failures))

    def run():
        if mode == "sync":
            return policy.call(request_, send)
        return asyncio.run(policy.acall(request_, asend))

    if outcome == 200:
        assert run().status == 200
    else:
        with pytest.raises(outcome):
            run()
    assert len(made) == tries
    logged = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    # every failed try but the last is logged, numbered in order: "try 1 of N failed", "try 2 of N" ...
    assert [m.split(": try ")[1].split(" failed")[0] for m in logged] == [
        f"{n} of {max_attempts}" for n in range(1, tries)
    ]


def test_endpoint_repr_hides_credentials_and_urls_carry_none():
    endpoint = Endpoint("c", "https://h/p", {"Authorization": "Bearer s3cr3t"})
    assert "s3cr3t" not in repr(endpoint)
    assert endpoint.url(ApiRequest("GET", "v1/a", params={"q": "1"})) == "https://h/p/v1/a?q=1"


class Conn:
    def __init__(self, host=None, port=None):
        self.host, self.port = host, port


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        (None, None, "https://api.dataform.co"),
        ("api.example.com", None, "https://api.example.com"),
        ("http://127.0.0.1:8080", None, "http://127.0.0.1:8080"),
        ("http://127.0.0.1", 9000, "http://127.0.0.1:9000"),
        ("https://mydomain.com/invision/", None, "https://mydomain.com/invision"),
        ("https://h.example/a/b", None, "https://h.example/a/b"),
    ],
)
def test_base_url_honours_scheme_port_and_path(host, port, url):
    assert resolve_base_url(Conn(host, port), "https://api.dataform.co", "c") == url


@pytest.mark.parametrize(
    ("host", "fragment"),
    [("ftp://h", "not an http"), ("https://user:pw@h", "credentials"), ("https://h/?api_key=1", "query")],
)
def test_bad_hosts_are_refused_with_a_reason(host, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        resolve_base_url(Conn(host), None, "c")
    with pytest.raises(ConfigurationError, match="no host"):
        resolve_base_url(Conn(None), None, "c")


def test_poll_schedule_starts_short_and_grows_to_the_interval():
    schedule = PollSchedule(poll_interval=60)
    assert schedule.delay(0) == 5
    assert schedule.delay(100) == 10
    assert schedule.delay(10_000) == 60
    assert PollSchedule(poll_interval=1).delay(0) == 1


def test_format_elapsed():
    assert [format_elapsed(s) for s in (5, 200, 3720)] == ["5s", "3m20s", "1h02m"]


RUN = RemoteRun(
    "dataform", {"project_id": "1", "run_id": "2"}, "2", RunState.SUCCESS, "SUCCESSFUL", "https://u"
)


def test_run_event_round_trip():
    event = RunEvent.parse(RunEvent("finished", RUN).to_payload())
    assert event.run == RemoteRun.from_dict(RUN.to_dict())
    assert event.status == "finished"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "success",
        {},
        {"status": "success", "run": RUN.to_dict()},  # not an allowed status word
        {"status": "finished"},  # no run
        {"status": "finished", "run": {**RUN.to_dict(), "state": "running"}},  # not terminal
        {"status": "finished", "run": {**RUN.to_dict(), "state": "great"}},
        {"status": "finished", "run": {**RUN.to_dict(), "ref": {"x": 1}}},
        {"status": "timeout", "run": None},
    ],
)
def test_malformed_or_unexpected_events_are_refused(payload):
    with pytest.raises(PipelinesError):
        RunEvent.parse(payload)


@pytest.mark.parametrize("value", ["", "  ", None, 12, ["a"]])
def test_require_str_names_the_parameter(value):
    with pytest.raises(ConfigurationError, match="project_id must be a non-empty string"):
        require_str("project_id", value)


@pytest.mark.parametrize("value", ["a", ["a", 1], ["a", ""], {"a": 1}])
def test_require_str_list_names_the_parameter(value):
    with pytest.raises(ConfigurationError, match="tags must be a list"):
        require_str_list("tags", value)


@pytest.mark.parametrize("value", [0, -1, "10", True, None])
def test_require_seconds_names_the_parameter(value):
    with pytest.raises(ConfigurationError, match="timeout must be"):
        require_seconds("timeout", value)
    assert require_seconds("timeout", timedelta(minutes=2)) == 120


def test_run_from_dict_needs_its_fields():
    with pytest.raises(ValueError, match="malformed"):
        RemoteRun.from_dict({"vendor": "dataform"})


def test_a_request_body_that_may_hold_a_password_is_left_out_of_repr():
    from airflow_provider_pipelines.http import ApiRequest

    request = ApiRequest("POST", "auth/token", json={"username": "u", "password": "s3cr3t-pw"})
    assert "s3cr3t-pw" not in repr(request)


@pytest.mark.parametrize("name", ["wait_for_completion", "deferrable", "cancel_on_timeout"])
@pytest.mark.parametrize("value", ["false", "True", 0, "no"])
def test_boolean_parameters_refuse_strings_and_numbers_naming_the_parameter(name, value):
    from airflow_provider_pipelines.errors import ConfigurationError
    from airflow_provider_pipelines.operators.dataform import DataformRunOperator

    with pytest.raises(ConfigurationError, match=f"{name} must be True or False"):
        DataformRunOperator(task_id="t", project_id="1", **{name: value})
