"""Event-driven DAGs for the end-to-end test: watchers that poll every 2 s, DAGs that return the payloads.

Three watchers on one DataOps.live project (refs main, develop, staging: one shared poll), one on
a remote DAG. The DAGs scheduled on them return the payloads of the events that started them.
They are paused at creation: a watcher runs only while a DAG scheduled on its asset is unpaused,
and ``tests/test_e2e_events.py`` unpauses them for as long as it runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_pipelines.triggers.events import DataOpsPipelineEventTrigger, RemoteDagRunEventTrigger

POLL = 2.0
ARGS: dict[str, Any] = {"start_date": datetime(2026, 1, 1), "catchup": False, "is_paused_upon_creation": True}
PROJECT = "acme/public-demo"


def pipeline_asset(ref: str) -> Asset:
    trigger = DataOpsPipelineEventTrigger(project=PROJECT, ref=ref, states=["success"], poll_interval=POLL)
    return Asset(f"e2e_dataops_{ref}", watchers=[AssetWatcher(name=f"e2e_dataops_{ref}", trigger=trigger)])


REMOTE_ETL = Asset(
    "e2e_remote_etl",
    watchers=[
        AssetWatcher(
            name="e2e_remote_etl",
            trigger=RemoteDagRunEventTrigger(dag_id="etl", states=["success"], poll_interval=POLL),
        )
    ],
)


def payloads(triggering_asset_events: Any) -> list[dict[str, Any]]:
    found = []
    for asset_events in (triggering_asset_events or {}).values():
        found += [(event.extra or {}).get("payload") for event in asset_events]
    print(f"payloads: {found}")
    return found


with DAG("e2e_on_dataops_main", schedule=[pipeline_asset("main")], **ARGS):

    @task
    def on_main(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        return payloads(triggering_asset_events)

    on_main()


with DAG(
    "e2e_on_dataops_other_refs", schedule=[pipeline_asset("develop"), pipeline_asset("staging")], **ARGS
):

    @task
    def on_other_refs(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        return payloads(triggering_asset_events)

    on_other_refs()


with DAG("e2e_on_remote_etl", schedule=[REMOTE_ETL], **ARGS):

    @task
    def on_remote(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        return payloads(triggering_asset_events)

    on_remote()
