"""RemoteRunTrigger on DataOps.live pipelines, driven in an event loop against the sandbox."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.testing.fakes.dataops import FakeDataOps
from airflow_provider_pipelines.triggers.runs import RemoteRunTrigger
from tests.triggering import first_event
from tests.triggering import make_trigger as _make

VENDOR = "dataops"
PATH = "acme/analytics/snowflake-pipelines"


def started(marker="af-trigger"):
    return DataOpsHook().start_pipeline(PATH, "main", {}, marker=marker)


def make_trigger(run, *, seconds=20.0, poll=0.2, blocked_grace=None):
    return _make(run, "dataops_default", seconds=seconds, poll=poll, blocked_grace=blocked_grace)


def test_round_trip_keeps_the_path_ref_and_grace_and_holds_no_token(client):
    trigger = make_trigger(started(), blocked_grace=90)
    path, kwargs = trigger.serialize()
    rebuilt = RemoteRunTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs["ref"]["project"] == PATH and kwargs["blocked_grace"] == 90.0
    text = json.dumps(kwargs)
    assert FakeDataOps.token not in text and FakeDataOps.trigger_token not in text


@pytest.mark.parametrize(
    ("outcome", "state"),
    [("success", "success"), ("failed", "failed"), ("canceled", "cancelled"), ("skipped", "skipped")],
)
def test_trigger_fires_once_with_the_final_state(client, outcome, state):
    client.plan(VENDOR, "main", phases=[("pending", 0.2), ("running", 0.3)], final=outcome)
    event = first_event(make_trigger(started()))
    assert (
        event.status == "finished" and event.run.state.value == state and event.run.vendor_status == outcome
    )
    # every read (the pipeline's own, and the coalesced list's) went to the URL-encoded project path
    reads = [r["path"] for r in client.requests(VENDOR) if r["method"] == "GET"]
    assert reads and all("/projects/acme%2Fanalytics%2Fsnowflake-pipelines/pipelines" in p for p in reads)
    # the end was seen by a read of the pipeline itself (a listed end is confirmed so before firing)
    assert reads[-1].split("?")[0].endswith("/pipelines/" + event.run.run_id)


def test_a_pipeline_waiting_on_a_manual_job_ends_the_wait_after_the_grace(client):
    client.plan(VENDOR, "main", phases=[("running", 0.2)], final="manual")
    event = first_event(make_trigger(started(), blocked_grace=0.6))
    assert event.status == "blocked" and event.run.state.value == "blocked"
    assert event.run.vendor_status == "manual"
    post, *reads = client.requests(VENDOR)
    # "manual" began 0.2 s after the start, and the last read (which still saw it) came only
    # after the 0.6 s grace had passed since the trigger first saw it
    assert reads[-1]["t"] - post["t"] >= 0.2 + 0.6


def test_a_pipeline_that_moves_on_within_the_grace_is_waited_for(client):
    client.plan(VENDOR, "main", phases=[("manual", 0.5), ("running", 0.3)], final="success")
    event = first_event(make_trigger(started(), blocked_grace=5))
    assert event.status == "finished" and event.run.state.value == "success"


def test_without_a_grace_a_blocked_pipeline_is_waited_on_until_the_deadline(client):
    client.plan(VENDOR, "main", phases=[], final="manual")
    event = first_event(make_trigger(started(), seconds=1.0))
    assert event.status == "timeout" and event.run.state.value == "blocked"


def test_trigger_honours_ratelimit_reset_and_rides_out_5xx(client):
    client.plan(VENDOR, "main", duration=1.5, outcome="success")
    run = started()
    reset = str(int(time.time()) + 3)  # GitLab: a unix time in whole seconds
    client.fault("status", r"/pipelines/\d+$", method="GET", status=502, times=2)
    client.fault(
        "status",
        r"/pipelines/\d+$",
        method="GET",
        status=429,
        headers={"RateLimit-Reset": reset, "RateLimit-Remaining": "0"},
        body='{"message": "Retry later"}',
    )
    event = first_event(make_trigger(run))
    assert event.status == "finished" and event.run.state.value == "success"
    reads = [r for r in client.requests(VENDOR) if r["method"] == "GET"]
    assert [r["status"] for r in reads[:4]] == [502, 502, 429, 200]
    assert reads[3]["t"] - reads[2]["t"] >= 1.0
