"""Pure unit tests for DataOps.live: state table, request builders, parsers, checks, marker,
and the lifecycle's vendor-neutral blocked grace and 'blocked' event."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_pipelines import get_provider_info
from airflow_provider_pipelines.apis.dataops import STATUSES, DataOpsApi, api_base_url, tail_of_trace
from airflow_provider_pipelines.errors import ConfigurationError, PipelinesError, ResponseFormatError
from airflow_provider_pipelines.hooks import hook_class
from airflow_provider_pipelines.hooks.dataops import DataOpsHook, may_have_started
from airflow_provider_pipelines.http import ApiRequest, ApiResponse
from airflow_provider_pipelines.lifecycle import PollSchedule, RunEvent, Waiter
from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator
from airflow_provider_pipelines.params.dataops import (
    MARKER_VARIABLE,
    check_project,
    check_variables,
    marker_for,
)
from airflow_provider_pipelines.runs import RemoteRun, RunState
from airflow_provider_pipelines.sensors.dataops import DataOpsPipelineSensor

API = DataOpsApi()
REF = {"project": "group/sub/project", "pipeline_id": "77"}
ENC = "projects/group%2Fsub%2Fproject"


def response(body: object, headers: dict[str, str] | None = None, request: ApiRequest | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ApiResponse(200, headers or {}, raw, request or ApiRequest("GET", "x", what="read"), "http://h/x")


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("created", RunState.QUEUED),
        ("waiting_for_resource", RunState.QUEUED),
        ("preparing", RunState.QUEUED),
        ("waiting_for_callback", RunState.QUEUED),
        ("pending", RunState.QUEUED),
        ("scheduled", RunState.QUEUED),
        ("running", RunState.RUNNING),
        ("canceling", RunState.RUNNING),
        ("success", RunState.SUCCESS),
        ("failed", RunState.FAILED),
        ("canceled", RunState.CANCELLED),
        ("skipped", RunState.SKIPPED),
        ("manual", RunState.BLOCKED),
        ("SUCCESS", RunState.UNKNOWN),  # GitLab's words are lower case; no guessing
        ("passed", RunState.UNKNOWN),  # a detailed_status label, not a status
        ("", RunState.UNKNOWN),
        (None, RunState.UNKNOWN),
    ],
)
def test_dataops_status_table(word, state):
    assert STATUSES.classify(word) is state


def test_access_token_start_is_json_with_env_var_variables_on_the_encoded_path():
    request = API.start_request("group/sub/project", "main", {"A": "1", "_PIPELINE_FILE_NAME": "full-ci.yml"})
    assert (request.method, request.path, request.form) == ("POST", f"{ENC}/pipeline", None)
    assert request.json == {
        "ref": "main",
        "variables": [
            {"key": "A", "value": "1", "variable_type": "env_var"},
            {"key": "_PIPELINE_FILE_NAME", "value": "full-ci.yml", "variable_type": "env_var"},
        ],
    }
    assert request.idempotent is False


def test_trigger_token_start_is_a_form_with_the_token_in_the_body_only():
    request = API.trigger_request("4242", "develop", {"A": "1"}, "glptt-secret")
    assert (request.method, request.path, request.json) == ("POST", "projects/4242/trigger/pipeline", None)
    assert request.form == {"token": "glptt-secret", "ref": "develop", "variables[A]": "1"}
    assert request.idempotent is False and "glptt-secret" not in repr(request)


@pytest.mark.parametrize(
    ("request_", "method", "path"),
    [
        (API.read_request(REF), "GET", f"{ENC}/pipelines/77"),
        (API.cancel_request(REF), "POST", f"{ENC}/pipelines/77/cancel"),
        (API.variables_request(REF), "GET", f"{ENC}/pipelines/77/variables"),
        (API.jobs_request(REF, "failed"), "GET", f"{ENC}/pipelines/77/jobs"),
        (API.trace_request("group/sub/project", "9"), "GET", f"{ENC}/jobs/9/trace"),
        (API.list_request("group/sub/project", "main", "running", 3), "GET", f"{ENC}/pipelines"),
    ],
)
def test_every_request_encodes_the_project_path_as_one_segment(request_, method, path):
    assert (request_.method, request_.path) == (method, path)
    assert request_.idempotent is True  # reads, and a cancel (200 whatever the state)


def test_list_and_jobs_requests_ask_for_full_pages_with_filters():
    listing = API.list_request("4242", "main", "pending", 2)
    assert listing.params == {
        "ref": "main",
        "status": "pending",
        "order_by": "id",
        "sort": "desc",
        "per_page": "100",
        "page": "2",
    }
    assert API.jobs_request(REF, "manual").params == {"scope[]": "manual", "per_page": "100"}


def test_parse_run_keeps_word_state_link_and_label():
    body = {
        "id": 77,
        "status": "manual",
        "web_url": "https://app.dataops.live/group/sub/project/-/pipelines/77",
        "detailed_status": {"label": "waiting for manual action"},
        "source": "api",
    }
    run = API.parse_run(response(body), REF)
    assert (run.run_id, run.state, run.vendor_status) == ("77", RunState.BLOCKED, "manual")
    assert run.url == body["web_url"] and run.detail == "waiting for manual action"
    assert run.ref == REF and run.extra["source"] == "api"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"<html>Sign in</html>", "not JSON"), ([], "not an object"), ({"id": 1}, "without the field 'status'")],
)
def test_parse_run_refuses_bodies_it_cannot_read(body, fragment):
    with pytest.raises(ResponseFormatError, match=fragment):
        API.parse_run(response(body), REF)


@pytest.mark.parametrize(("header", "next_page"), [("3", 3), ("", None), (None, None)])
def test_parse_page_follows_x_next_page(header, next_page):
    headers = {"x-next-page": header} if header is not None else {}
    page = API.parse_page(response([{"id": 5, "status": "running"}], headers), "4242")
    assert [r.run_id for r in page.runs] == ["5"] and page.next_page == next_page
    with pytest.raises(ResponseFormatError, match="not a list of pipelines"):
        API.parse_page(response({"message": "x"}), "4242")


def test_parse_jobs_puts_the_first_failure_first_and_says_when_more_pages_follow():
    body = [
        {"id": 12, "name": "b", "stage": "s", "status": "failed"},
        {"id": 3, "name": "a", "stage": "s", "status": "failed", "failure_reason": "script_failure"},
    ]
    jobs, more = API.parse_jobs(response(body, {"x-next-page": "2"}))
    assert [j.name for j in jobs] == ["a", "b"] and more is True
    assert jobs[0].failure_reason == "script_failure"
    assert API.parse_jobs(response(body, {"x-next-page": ""}))[1] is False


def test_parse_variables_reads_key_value_pairs():
    body = [{"key": MARKER_VARIABLE, "value": "af-1", "variable_type": "env_var"}, {"nokey": 1}]
    assert API.parse_variables(response(body)) == {MARKER_VARIABLE: "af-1"}


def test_trace_tail_drops_colour_codes_section_markers_and_redrawn_lines():
    trace = (
        b"section_start:1700000000:step_script\r\x1b[0K\x1b[36;1mExecuting\x1b[0;m\n"
        b"progress 10%\rprogress 100%\n\n"
        + b"".join(b"line %d\n" % i for i in range(30))
        + b"\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m\n"
        b"section_end:1700000060:step_script\r\x1b[0K\n"
    )
    tail = tail_of_trace(trace, 3)
    assert tail == ["line 28", "line 29", "ERROR: Job failed: exit code 1"]
    assert tail_of_trace(trace, 40)[:2] == ["Executing", "progress 100%"]
    assert tail_of_trace(b"x" * 1000, 1)[0].endswith("…") and tail_of_trace(b"", 5) == []


@pytest.mark.parametrize(
    ("base", "api"),
    [
        ("https://app.dataops.live", "https://app.dataops.live/api/v4"),
        ("https://app.dataops.live/", "https://app.dataops.live/api/v4"),
        ("https://app.dataops.live/api/v4", "https://app.dataops.live/api/v4"),
        ("http://127.0.0.1:8080/dataops", "http://127.0.0.1:8080/dataops/api/v4"),
    ],
)
def test_api_base_url_adds_api_v4_once(base, api):
    assert api_base_url(base) == api


def test_marker_is_stable_short_and_names_one_task_instance():
    marker = marker_for("dag", "manual__2026", "task")
    assert marker == marker_for("dag", "manual__2026", "task") and marker.startswith("af-")
    assert len(marker) <= 24 and marker.replace("-", "").isalnum()
    others = {
        marker_for("dag2", "manual__2026", "task"),
        marker_for("dag", "manual__2027", "task"),
        marker_for("dag", "manual__2026", "task2"),
        marker_for("dag", "manual__2026", "task", 0),
        marker_for("da", "gmanual__2026", "task"),  # no ambiguity from joining the parts
    }
    assert marker not in others and len(others) == 5


@pytest.mark.parametrize("value", [4242, "4242", "group/project", "group/sub/project"])
def test_check_project_accepts_ids_and_plain_paths(value):
    assert check_project(value) == str(value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("group%2Fproject", "looks URL-encoded"),
        ("", "numeric project id"),
        (None, "numeric project id"),
        ("/group/project", "without leading"),
        ("group//project", "doubled"),
        (" group/project", "spaces"),
    ],
)
def test_check_project_refuses_what_would_404_later(value, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        check_project(value)


def test_check_variables_adds_the_pipeline_file():
    assert check_variables({"A": "1"}, "full-ci.yml") == {"A": "1", "_PIPELINE_FILE_NAME": "full-ci.yml"}
    assert check_variables(None) == {}


@pytest.mark.parametrize(
    ("variables", "pipeline_file", "fragment"),
    [
        ({"A": 1}, None, "values of \\['A'\\] are not strings"),
        ({"A-B": "1"}, None, "not valid variable names"),
        ({"": "1"}, None, "not valid variable names"),
        ({MARKER_VARIABLE: "x"}, None, "this provider sets it"),
        ({"_PIPELINE_FILE_NAME": "a.yml"}, "b.yml", "disagree"),
        (["A"], None, "must be a dict"),
    ],
)
def test_check_variables_refuses_with_a_reason(variables, pipeline_file, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        check_variables(variables, pipeline_file)


def test_operator_checks_its_parameters_at_parse_time_except_templates():
    with pytest.raises(ConfigurationError, match="not valid variable names"):
        DataOpsPipelineOperator(task_id="t", project="g/p", variables={"bad key": "1"})
    with pytest.raises(ConfigurationError, match="manual_grace"):
        DataOpsPipelineOperator(task_id="t", project="g/p", manual_grace=0)
    op = DataOpsPipelineOperator(task_id="t", project="{{ params.p }}", variables={"A": "{{ ds }}"})
    assert op.blocked_grace == 3600 and op.success_states == frozenset({RunState.SUCCESS})
    lenient = DataOpsPipelineOperator(task_id="t", project=4242, skipped_is_success=True, manual_grace=None)
    assert lenient.project == "4242" and lenient.blocked_grace is None
    assert lenient.success_states == frozenset({RunState.SUCCESS, RunState.SKIPPED})


def test_sensor_wants_a_pipeline_number():
    assert DataOpsPipelineSensor(task_id="s", project="g/p", pipeline_id=7).ref() == {
        "project": "g/p",
        "pipeline_id": "7",
    }
    with pytest.raises(ConfigurationError, match="pipeline_id must be a pipeline's number"):
        DataOpsPipelineSensor(task_id="s", project="g/p", pipeline_id="latest")


def test_lost_answers_server_errors_and_unreadable_answers_may_have_started_a_pipeline():
    from airflow_provider_pipelines.errors import (
        AmbiguousError,
        AuthError,
        ClientError,
        NotSentError,
        ServerError,
        StartUncertainError,
    )

    assert may_have_started(AmbiguousError("x")) and may_have_started(StartUncertainError("x"))
    assert all(may_have_started(ServerError("x", status=s)) for s in (500, 502, 503, 504))
    assert not may_have_started(NotSentError("x")) and not may_have_started(AuthError("x", status=401))
    assert not may_have_started(ClientError("x", status=400))


def test_dataops_is_registered_for_the_trigger_and_the_connection_form():
    assert hook_class("dataops") is DataOpsHook
    info = get_provider_info()
    [conn] = [c for c in info["connection-types"] if c["connection-type"] == "dataops_live"]
    assert conn["hook-class-name"].endswith("hooks.dataops.DataOpsHook")
    assert conn["ui-field-behaviour"]["relabeling"]["password"] == "Access token"
    assert conn["conn-fields"]["trigger_token"]["schema"]["format"] == "password"
    assert "airflow_provider_pipelines.links.DataOpsPipelineLink" in info["extra-links"]


# -- the lifecycle's vendor-neutral support for blocked runs ---------------------------------


def blocked(state=RunState.BLOCKED):
    return RemoteRun("dataops", REF, "77", state, "manual" if state is RunState.BLOCKED else "running")


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg, *args):
        self.lines.append(msg % args)

    warning = info


def waiter(grace, deadline_s=60.0):
    now = datetime.now(timezone.utc)
    return Waiter(
        "DataOps.live",
        PollSchedule(30),
        now + timedelta(seconds=deadline_s),
        now,
        _Log(),
        blocked_grace=grace,
    )


def test_waiter_ends_a_blocked_wait_only_after_the_grace_and_restarts_it_when_the_run_moves_on():
    w = waiter(grace=0.0)
    w.observe(blocked(RunState.RUNNING))
    assert not w.blocked_expired()
    w.observe(blocked())
    assert w.blocked_expired()
    w.observe(blocked(RunState.RUNNING))
    assert not w.blocked_expired()
    patient = waiter(grace=3600)
    patient.observe(blocked())
    assert not patient.blocked_expired()
    assert "fails if it still waits 1h00m from now" in patient.log.lines[-1]
    assert not waiter(grace=None).blocked_expired()


def test_waiter_wakes_up_when_the_grace_ends_not_a_whole_poll_interval_later():
    w = waiter(grace=2.0)
    w.observe(blocked())
    pause = w.next_sleep()
    assert pause is not None and pause <= 2.0
    w.observe(blocked(RunState.RUNNING))
    assert w.next_sleep() == 5.0  # back on the normal schedule


def test_blocked_events_are_allow_listed_and_need_a_blocked_run():
    event = RunEvent.parse(RunEvent("blocked", blocked()).to_payload())
    assert event.status == "blocked" and event.run is not None and event.run.state is RunState.BLOCKED
    with pytest.raises(PipelinesError, match="'blocked' for a run that is running"):
        RunEvent.parse(RunEvent("blocked", blocked(RunState.RUNNING)).to_payload())
    with pytest.raises(PipelinesError, match="without a run"):
        RunEvent.parse({"status": "blocked", "run": None})
