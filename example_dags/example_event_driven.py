"""Event-driven scheduling (Airflow 3): run a DAG when a DataOps.live pipeline or a remote DAG run ends.

Two assets, each with a watcher that the triggerer runs:

* ``dataops_snowflake_main``: a DataOps.live pipeline of the project on ``main`` succeeded;
* ``remote_etl_finished``: a run of DAG ``etl`` on another Airflow deployment succeeded.

Each schedules a DAG that runs once per event and logs the event's payload, read from
``triggering_asset_events``. Connections: ``dataops_default`` (type ``dataops_live``, an access
token) and ``remote_airflow_default`` (type ``remote_airflow``).

Both DAGs are paused at creation: Airflow runs an asset's watchers only while a DAG scheduled
on the asset is unpaused, so nothing is polled until you unpause them. On Airflow 2.11, which
has no asset watchers, this file defines no DAG.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

try:
    from airflow.sdk import DAG, Asset, AssetWatcher, task
except ImportError:  # Airflow 2.11: no event-driven scheduling
    AssetWatcher = None

if AssetWatcher is not None:
    from airflow_provider_pipelines.triggers.events import (
        DataOpsPipelineEventTrigger,
        RemoteDagRunEventTrigger,
    )

    SNOWFLAKE_MAIN = Asset(
        "dataops_snowflake_main",
        watchers=[
            AssetWatcher(
                name="dataops_snowflake_main_success",
                trigger=DataOpsPipelineEventTrigger(
                    project="acme/analytics/snowflake-pipelines",
                    ref="main",
                    states=["success"],
                    poll_interval=60,  # one list request a minute, whatever the number of watchers on it
                ),
            )
        ],
    )
    REMOTE_ETL = Asset(
        "remote_etl_finished",
        watchers=[
            AssetWatcher(
                name="remote_etl_success",
                trigger=RemoteDagRunEventTrigger(dag_id="etl", states=["success"], poll_interval=60),
            )
        ],
    )

    def _log_payloads(triggering_asset_events: Any) -> list[dict[str, Any]]:
        """Every event that started this run (events close together may start one run together)."""
        payloads = []
        for asset, asset_events in (triggering_asset_events or {}).items():
            for event in asset_events:
                payload = (event.extra or {}).get("payload", {})
                what = f"{payload.get('vendor')} run {payload.get('run_id')} ended {payload.get('state')}"
                print(f"{asset.name}: {what} at {payload.get('finished_at')}: {payload}")
                payloads.append(payload)
        if not payloads:
            print("No triggering asset event: this run was started by hand")
        return payloads

    with DAG(
        dag_id="example_event_driven_dataops",
        schedule=[SNOWFLAKE_MAIN],
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["example", "dataops", "event-driven"],
        is_paused_upon_creation=True,  # its watcher polls DataOps.live only once it is unpaused
    ):

        @task
        def report_on_pipeline(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
            return _log_payloads(triggering_asset_events)

        report_on_pipeline()

    with DAG(
        dag_id="example_event_driven_remote_airflow",
        schedule=[REMOTE_ETL],
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["example", "remote_airflow", "event-driven"],
        is_paused_upon_creation=True,  # its watcher polls the remote Airflow only once it is unpaused
    ):

        @task
        def report_on_remote_run(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
            return _log_payloads(triggering_asset_events)

        report_on_remote_run()
