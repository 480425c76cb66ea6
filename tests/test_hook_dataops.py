"""DataOpsHook against the sandbox over real HTTP: both start endpoints, re-attach, faults, diagnostics."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest
import requests

from airflow_provider_pipelines.errors import (
    AuthError,
    ClientError,
    ConfigurationError,
    NotFoundError,
    RunFailedError,
    StartUncertainError,
)
from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.operators.dataops import DataOpsPipelineOperator
from airflow_provider_pipelines.params.dataops import ATTEMPT_VARIABLE, MARKER_VARIABLE
from airflow_provider_pipelines.runs import RunState
from airflow_provider_pipelines.testing.fakes.dataops import FakeDataOps
from tests.dagrun import BareTaskInstance

TOKEN = FakeDataOps.token
TRIGGER_TOKEN = FakeDataOps.trigger_token
PATH = "acme/analytics/snowflake-pipelines"
ENCODED = "acme%2Fanalytics%2Fsnowflake-pipelines"
PUBLIC = "acme/public-demo"
VENDOR = "dataops"


@pytest.fixture
def conn(sandbox, monkeypatch):
    """Define connection ``dataops_test`` with the given fields (sandbox defaults: an access token)."""

    def define(**fields):
        conn = {
            "conn_type": "dataops_live",
            "host": sandbox.vendor_url(VENDOR),
            "password": TOKEN,
            "extra": {"timeout": 2, "backoff": 0.05, "backoff_max": 0.2},
        }
        conn.update(fields)
        monkeypatch.setenv("AIRFLOW_CONN_DATAOPS_TEST", json.dumps(conn))
        hook = DataOpsHook("dataops_test")
        hook.recheck_pause = 0.1
        return hook

    return define


@pytest.fixture
def trigger_only(conn):
    """A connection holding only a pipeline trigger token."""
    return lambda **extra: conn(
        password="", extra={"timeout": 2, "backoff": 0.05, "trigger_token": TRIGGER_TOKEN, **extra}
    )


def reqs(client, method=None, fragment=""):
    return [
        r
        for r in client.requests(VENDOR)
        if (method is None or r["method"] == method) and fragment in r["path"]
    ]


def start(hook, marker="af-test", project=PATH, look_first=False, **variables):
    return hook.start_pipeline(project, "main", variables, marker=marker, look_first=look_first)


# -- starting --------------------------------------------------------------------------------


def test_access_token_start_sends_json_variables_and_the_header_token_only(client, conn):
    run = start(conn(), FORCE_INGESTION="1", _PIPELINE_FILE_NAME="full-ci.yml")
    [pipeline] = client.runs(VENDOR)
    assert run.run_id == pipeline["run_id"] and run.state is RunState.RUNNING
    assert run.url and run.url.endswith(f"/{PATH}/-/pipelines/{run.run_id}")
    assert run.ref == {"project": PATH, "pipeline_id": run.run_id}
    assert pipeline["data"]["source"] == "api"
    sent = dict(pipeline["data"]["variables"])
    # each start request carries a value of its own too: a lost answer finds its pipeline by it
    assert len(sent.pop(ATTEMPT_VARIABLE)) == 16
    assert sent == {"FORCE_INGESTION": "1", "_PIPELINE_FILE_NAME": "full-ci.yml", MARKER_VARIABLE: "af-test"}
    # one request: the start's answer is the pipeline, so no read is needed for the link
    assert [r["path"] for r in client.requests(VENDOR)] == [f"/dataops/api/v4/projects/{ENCODED}/pipeline"]


def test_trigger_token_start_sends_form_fields_and_never_puts_the_token_in_a_url(client, trigger_only):
    hook = trigger_only()
    run = start(hook, project=PUBLIC, DATAOPS_DEBUG="1")
    [pipeline] = client.runs(VENDOR)
    assert pipeline["data"]["source"] == "trigger" and run.run_id == pipeline["run_id"]
    sent = dict(pipeline["data"]["variables"])
    assert sent.pop(ATTEMPT_VARIABLE) and sent == {"DATAOPS_DEBUG": "1", MARKER_VARIABLE: "af-test"}
    assert reqs(client, "POST")[0]["path"] == "/dataops/api/v4/projects/acme%2Fpublic-demo/trigger/pipeline"
    # a public project's pipeline can be read without credentials
    assert hook.get_run(run.ref).run_id == run.run_id
    assert all(TRIGGER_TOKEN not in r["path"] for r in client.requests())
    assert TRIGGER_TOKEN not in repr(hook.api.trigger_request(PATH, "main", {}, TRIGGER_TOKEN))


def test_trigger_token_alone_cannot_read_a_private_pipeline_and_the_error_says_which_connection(
    client, trigger_only
):
    hook = trigger_only()
    run = start(hook)
    with pytest.raises(AuthError, match=r"HTTP 401 .*401 Unauthorized.*connection 'dataops_test'"):
        hook.get_run(run.ref)


@pytest.mark.parametrize("which", ["access", "trigger"])
def test_a_wrong_token_fails_at_once_and_never_shows_the_token(client, conn, which):
    hook = (
        conn(password="glpat-wrong")
        if which == "access"
        else conn(password="", extra={"trigger_token": "t0k"})
    )
    with pytest.raises(AuthError) as info:
        start(hook)
    assert info.value.status == 401 and "401 Unauthorized" in str(info.value)
    assert "glpat-wrong" not in str(info.value) and "t0k" not in str(info.value)
    assert len(client.requests(VENDOR)) == 1 and client.runs(VENDOR) == []


def test_a_connection_without_any_token_is_refused_before_any_request(client, conn):
    with pytest.raises(ConfigurationError, match="no access token: put a personal, project or group"):
        start(conn(password=""))
    assert client.requests(VENDOR) == []


@pytest.mark.parametrize(
    "case",
    [
        ("acme/nope", "main", NotFoundError, "404 Project Not Found.*check project"),
        (PATH, "no-such-branch", ClientError, "Reference not found.*check that ref 'no-such-branch'"),
    ],
)
def test_unknown_project_or_ref_fails_with_the_answer_and_a_hint(client, conn, case):
    project, ref, error, fragment = case
    with pytest.raises(error, match=fragment):
        conn().start_pipeline(project, ref, {}, marker="af-x")
    assert client.runs(VENDOR) == []


def test_host_already_ending_in_api_v4_is_not_doubled(client, conn, sandbox):
    hook = conn(host=sandbox.vendor_url(VENDOR) + "/api/v4/")
    start(hook)
    assert hook.get_endpoint().base_url.endswith("/dataops/api/v4")
    assert len(client.runs(VENDOR)) == 1


# -- no duplicate pipelines -----------------------------------------------------------------


def test_a_start_whose_connection_dropped_after_the_vendor_acted_reattaches(client, conn, capfd):
    client.fault("accept_then_drop", r"/pipeline$", method="POST")
    run = start(conn())
    [pipeline] = client.runs(VENDOR)
    assert run.run_id == pipeline["run_id"] and run.extra.get("reattached") is True
    assert len(reqs(client, "POST")) == 1
    assert reqs(client, "GET", "/variables")  # it read the candidate's variables to match the marker
    assert "re-attaching to it" in "".join(capfd.readouterr())


@pytest.mark.parametrize("kind", ["status", "html"])
def test_a_gateway_error_before_the_vendor_acted_leads_to_one_more_start(client, conn, kind, capfd):
    client.fault(kind, r"/pipeline$", method="POST", status=504)
    run = start(conn())
    assert [r["status"] for r in reqs(client, "POST")] == [504, 201]
    assert [p["run_id"] for p in client.runs(VENDOR)] == [run.run_id]
    assert "DataOps.live did not create one; starting again" in "".join(capfd.readouterr())
    # it looked twice (a second look after a pause), among recent pipelines in any state
    assert len(reqs(client, "GET", "updated_after=")) == 2


@pytest.mark.parametrize("status", [500, 503])
def test_a_plain_server_error_on_start_is_looked_after_before_one_more_start(client, conn, status, capfd):
    client.fault("status", r"/pipeline$", method="POST", status=status)
    run = start(conn())
    assert [r["status"] for r in reqs(client, "POST")] == [status, 201]
    assert [p["run_id"] for p in client.runs(VENDOR)] == [run.run_id]
    assert "DataOps.live did not create one; starting again" in "".join(capfd.readouterr())


def test_an_unreadable_start_answer_finds_the_pipeline_it_created(client, conn, capfd):
    # the API created the pipeline, but a proxy turned its answer into an HTML page
    client.fault("accept_then_html", r"/pipeline$", method="POST", status=200, body="<html>proxy</html>")
    run = start(conn())
    assert [p["run_id"] for p in client.runs(VENDOR)] == [run.run_id]
    assert len(reqs(client, "POST")) == 1
    assert "did start" in "".join(capfd.readouterr())


def test_a_lost_answer_finds_the_pipeline_even_when_it_failed_at_once(client, conn, capfd):
    # a pipeline file that does not parse: the pipeline is created already failed
    client.plan(VENDOR, "main", phases=[], final="failed")
    client.fault("accept_then_drop", r"/pipeline$", method="POST")
    run = start(conn())
    [pipeline] = client.runs(VENDOR)
    assert run.run_id == pipeline["run_id"] and run.state.value == "failed"
    assert len(reqs(client, "POST")) == 1, "a second pipeline was started"
    assert "re-attaching to it" in "".join(capfd.readouterr())


def test_a_lost_answer_is_not_taken_for_an_earlier_tries_pipeline(client, conn):
    # an earlier try's pipeline, finished, carries the same marker; this try's start never arrived
    client.plan(VENDOR, "main", phases=[], final="failed")
    earlier = start(conn())
    client.fault("status", r"/pipeline$", method="POST", status=504)
    run = start(conn())
    assert run.run_id != earlier.run_id and len(client.runs(VENDOR)) == 2


def test_two_ambiguous_starts_without_a_pipeline_fail_saying_one_may_appear(client, conn):
    client.fault("status", r"/pipeline$", method="POST", status=502, times=2)
    with pytest.raises(StartUncertainError, match=f"no pipeline with marker {MARKER_VARIABLE}=af-test"):
        start(conn())
    assert client.runs(VENDOR) == [] and len(reqs(client, "POST")) == 2


def test_an_ambiguous_start_with_only_a_trigger_token_fails_clearly(client, trigger_only):
    client.fault("accept_then_drop", r"/trigger/pipeline$", method="POST")
    with pytest.raises(StartUncertainError) as info:
        start(trigger_only())
    message = str(info.value)
    assert "only a pipeline trigger token, which cannot list pipelines" in message
    assert f"{MARKER_VARIABLE}=af-test" in message and TRIGGER_TOKEN not in message
    assert not reqs(client, "GET")  # it could not look, and did not pretend to
    assert len(client.runs(VENDOR)) == 1  # the pipeline that may have started did start


def test_look_first_follows_pagination_to_find_the_marked_pipeline(client, conn):
    hook = conn()
    client.plan(VENDOR, "main", duration=600)
    oldest = start(hook, marker="af-first-try")
    for n in range(104):
        start(hook, marker=f"af-other-{n}")
    before = len(client.requests(VENDOR))
    run = start(hook, marker="af-first-try", look_first=True)
    lookups = client.requests(VENDOR)[before:]
    assert run.run_id == oldest.run_id and run.extra.get("reattached") is True
    assert len(client.runs(VENDOR)) == 105  # nothing new started
    listed = [r["path"] for r in lookups if "/pipelines?" in r["path"]]
    assert any("status=running" in p and "page=2" in p for p in listed)
    assert not [r for r in lookups if r["method"] == "POST"]


def test_look_first_ignores_finished_pipelines_and_other_markers(client, conn, capfd):
    hook = conn()
    client.plan(VENDOR, "main", duration=0.2, outcome="failed")
    start(hook, marker="af-mine")  # an earlier try's pipeline, finished: a retry starts afresh
    time.sleep(0.3)
    client.plan(VENDOR, "main", duration=600)
    start(hook, marker="af-someone-else")
    run = start(hook, marker="af-mine", look_first=True)
    assert len(client.runs(VENDOR)) == 3 and run.extra.get("reattached") is None
    assert "No running or pending pipeline on 'main' carries this task's marker" in "".join(
        capfd.readouterr()
    )
    # every not-finished status was asked about, in the order a pipeline passes through them
    statuses = [r["path"].split("status=")[1].split("&")[0] for r in reqs(client, "GET", "/pipelines?")]
    assert statuses == [
        "created",
        "waiting_for_resource",
        "preparing",
        "pending",
        "running",
        "waiting_for_callback",
        "scheduled",
        "manual",
    ]


def test_a_lookup_that_fails_starts_nothing_and_says_why(client, conn, capfd):
    hook = conn()
    client.plan(VENDOR, "main", duration=600)
    start(hook, marker="af-earlier")
    client.fault("status", "/variables$", method="GET", status=403, body='{"message": "403 Forbidden"}')
    with pytest.raises(AuthError, match="HTTP 403"):
        start(hook, marker="af-mine", look_first=True)
    assert len(client.runs(VENDOR)) == 1
    assert "not starting one, which could duplicate a pipeline" in "".join(capfd.readouterr())


def test_look_first_with_only_a_trigger_token_says_it_cannot_and_starts(client, trigger_only, capfd):
    start(trigger_only(), look_first=True)
    assert "cannot look for a pipeline an earlier try started" in "".join(capfd.readouterr())
    assert len(client.runs(VENDOR)) == 1 and not reqs(client, "GET")


# -- faults on reads ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_on_reads_are_retried(client, conn, status):
    hook = conn()
    run = start(hook)
    client.fault("status", r"/pipelines/\d+$", method="GET", status=status, times=2)
    assert hook.get_run(run.ref).run_id == run.run_id
    assert [r["status"] for r in reqs(client, "GET")] == [status, status, 200]


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "1"}, {"RateLimit-Reset": "soon", "RateLimit-Limit": "600", "RateLimit-Remaining": "0"}],
)
def test_429_waits_as_long_as_the_server_asks(client, conn, headers):
    hook = conn()
    run = start(hook)
    if headers.get("RateLimit-Reset") == "soon":  # GitLab sends a unix time, in whole seconds
        headers = {**headers, "RateLimit-Reset": str(int(time.time()) + 3)}
    client.fault("status", r"/pipelines/\d+$", method="GET", status=429, headers=headers, body="Retry later")
    hook.get_run(run.ref)
    reads = reqs(client, "GET")
    assert [r["status"] for r in reads] == [429, 200]
    assert reads[1]["t"] - reads[0]["t"] >= 1.0


def test_a_start_refused_with_429_is_retried_after_the_pause(client, conn):
    client.fault("status", r"/pipeline$", method="POST", status=429, headers={"Retry-After": "1"})
    run = start(conn())
    posted = reqs(client, "POST")
    assert [r["status"] for r in posted] == [429, 201] and posted[1]["t"] - posted[0]["t"] >= 1.0
    assert [p["run_id"] for p in client.runs(VENDOR)] == [run.run_id]


# -- cancel, explain, test_connection -------------------------------------------------------------


def test_cancel_stops_the_pipeline_and_is_harmless_on_a_finished_one(client, conn):
    hook = conn()
    client.plan(VENDOR, "main", duration=600)
    run = start(hook)
    hook.cancel_run(run)
    assert hook.get_run(run.ref).state is RunState.CANCELLED
    hook.cancel_run(run)
    [pipeline] = client.runs(VENDOR)
    assert pipeline["status"] == "canceled" and pipeline["data"]["cancels"] == 2


def test_explain_names_the_first_failed_job_and_reads_a_capped_number_of_logs(client, conn):
    hook = conn()
    hook.max_logs_read, hook.max_jobs_listed = 2, 3
    client.plan(VENDOR, "main", duration=0.1, outcome="failed")
    run = start(hook, SANDBOX_TRANSFORM_JOBS="5")
    time.sleep(0.2)
    lines = hook.explain_failure(hook.get_run(run.ref))
    assert lines[0].startswith(
        "job 'Build all Models' in stage 'Data Transformation' failed (script_failure): http"
    )
    assert [line.split(" in stage")[0] for line in lines[1:3]] == [
        "job 'Build models, group 2'",
        "job 'Build models, group 3'",
    ]
    assert lines[3].startswith("... and more failed jobs")
    tails = lines[4:]
    assert len(tails) == 2 and all(t.startswith("last 20 lines of the log of job") for t in tails)
    assert tails[0].endswith("    ERROR: Job failed: exit code 1") and "\x1b" not in tails[0]
    assert "section_" not in tails[0]
    assert len(reqs(client, "GET", "/trace")) == 2 and len(reqs(client, "GET", "/jobs?")) == 1


def test_explain_says_when_a_log_cannot_be_read_instead_of_raising(client, conn):
    hook = conn()
    client.plan(VENDOR, "main", duration=0.1, outcome="failed")
    run = start(hook)
    time.sleep(0.2)
    client.fault("status", "/trace$", method="GET", status=403, body='{"message": "403 Forbidden"}')
    lines = hook.explain_failure(hook.get_run(run.ref))
    assert lines[0].startswith("job 'Build all Models'")
    assert lines[1].startswith("could not read the log of job 'Build all Models'") and "HTTP 403" in lines[1]


def test_explain_of_a_blocked_pipeline_names_the_manual_job(client, conn):
    hook = conn()
    client.plan(VENDOR, "main", phases=[], final="manual")
    run = start(hook)
    assert run.state is RunState.BLOCKED
    [line] = hook.explain_failure(run)
    assert line.startswith("job 'Approve deployment' in stage 'Deploy' waits for someone to run it: http")


@pytest.mark.parametrize(
    ("fields", "ok", "fragment"),
    [
        ({}, True, "as sandbox-bot"),
        ({"password": "glpat-expired"}, False, "HTTP 401"),
        ({"password": "", "extra": {"trigger_token": TRIGGER_TOKEN}}, True, "only a pipeline trigger token"),
        ({"host": "http://127.0.0.1:9", "extra": {"max_attempts": 1}}, False, "could not connect"),
        ({"password": ""}, False, "no access token"),
    ],
)
def test_connection_test_answers_with_a_precise_reason(client, conn, fields, ok, fragment):
    result = conn(**fields).test_connection()
    assert result[0] is ok and fragment in result[1]
    assert "glpat-expired" not in result[1]


def test_fake_lists_paginate_like_gitlab(client, conn, sandbox):
    hook = conn()
    for n in range(25):
        start(hook, marker=f"af-{n}")
    url = f"{sandbox.vendor_url(VENDOR)}/api/v4/projects/4242/pipelines"
    first = requests.get(url, headers={"PRIVATE-TOKEN": TOKEN}, timeout=5)
    last = requests.get(url, params={"page": 2}, headers={"PRIVATE-TOKEN": TOKEN}, timeout=5)
    huge = requests.get(url, params={"per_page": 500}, headers={"PRIVATE-TOKEN": TOKEN}, timeout=5)
    assert (
        len(first.json()) == 20 and first.headers["x-next-page"] == "2" and first.headers["x-total"] == "25"
    )
    assert 'rel="next"' in first.headers["Link"] and first.headers["x-total-pages"] == "2"
    assert (
        len(last.json()) == 5 and last.headers["x-next-page"] == "" and 'rel="prev"' in last.headers["Link"]
    )
    assert len(huge.json()) == 25 and huge.headers["x-per-page"] == "100"
    assert requests.get(url, timeout=5).json() == {"message": "401 Unauthorized"}


# -- the operator's on_kill --------------------------------------------------------------------


@pytest.mark.airflow3_only  # execute() runs in a thread here, which Airflow 2's ExecutorSafeguard refuses
def test_killing_a_polling_task_cancels_its_pipeline(client, sandbox, capfd):
    client.plan(VENDOR, "main", duration=600)
    op = DataOpsPipelineOperator(task_id="kill_me", project=PATH, deferrable=False, poll_interval=0.2)
    ti = BareTaskInstance()
    failure = []

    def work():
        try:
            op.execute({"ti": ti})
        except RunFailedError as exc:
            failure.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    deadline = datetime.now(timezone.utc).timestamp() + 10
    while "run_id" not in ti.xcom and datetime.now(timezone.utc).timestamp() < deadline:
        time.sleep(0.05)
    op.on_kill()
    worker.join(10)
    [pipeline] = client.runs(VENDOR)
    assert pipeline["status"] == "canceled" and pipeline["data"]["cancels"] == 1
    assert f"Task killed; cancelled DataOps.live run {pipeline['run_id']}" in "".join(capfd.readouterr())
    assert failure and "it ended cancelled" in str(failure[0])
