"""Driving RemoteRunTrigger in an event loop, as a triggerer would: shared by the trigger tests."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_pipelines.lifecycle import RunEvent
from airflow_provider_pipelines.runs import RemoteRun
from airflow_provider_pipelines.triggers.runs import RemoteRunTrigger


def make_trigger(
    run: RemoteRun,
    conn_id: str,
    *,
    seconds: float = 20.0,
    poll: float = 0.2,
    blocked_grace: float | None = None,
) -> RemoteRunTrigger:
    """A trigger for a run the test started, with a deadline ``seconds`` from now."""
    now = datetime.now(timezone.utc)
    return RemoteRunTrigger(
        vendor=run.vendor,
        conn_id=conn_id,
        ref=run.ref,
        run_id=run.run_id,
        deadline=now + timedelta(seconds=seconds),
        poll_interval=poll,
        started_at=now,
        run_url=run.url,
        blocked_grace=blocked_grace,
    )


def first_event(trigger: RemoteRunTrigger, limit: float = 30.0) -> RunEvent:
    """Run the trigger until its first event and parse it."""

    async def go() -> Any:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return RunEvent.parse(asyncio.run(asyncio.wait_for(go(), limit)))


def rebuilt(trigger: RemoteRunTrigger) -> RemoteRunTrigger:
    """The trigger as a restarted triggerer would rebuild it: from its JSON-serialised kwargs."""
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_pipelines.triggers.runs.RemoteRunTrigger"
    return RemoteRunTrigger(**json.loads(json.dumps(kwargs)))
