"""The OpenLineage provider's listener in this test process, writing its events to a file.

What a deployment gets from ``AIRFLOW__OPENLINEAGE__TRANSPORT``: the provider's
plugin registers its listener, which calls the task's facet methods and emits
each event through the configured transport (here the file transport, one JSON
event per line). The plugin decides at import time, and other tests in the
same process run with OpenLineage off, so :func:`openlineage_on` turns it on for
a while: it sets the transport, registers the provider's own listener with
Airflow's listener manager, and takes both back afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the provider's default namespace: it reads some settings once, at import, before a test can set them
NAMESPACE = "default"


def _listener_manager() -> Any:
    """The manager the task runner calls (Airflow 3: the Task SDK's; Airflow 2.11: the only one)."""
    try:
        from airflow.sdk.listener import get_listener_manager
    except ImportError:  # Airflow 2.11
        from airflow.listeners.listener import get_listener_manager
    return get_listener_manager()


@contextlib.contextmanager
def openlineage_on(path: Path) -> Iterator[Events]:
    """OpenLineage on, with the file transport writing to ``path``, for the duration of the block."""
    manager = _listener_manager()  # plugins load now, while OpenLineage is still off
    settings = {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(path), "append": True}
        ),
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener

    listener = get_openlineage_listener()
    registered = not manager.pm.is_registered(listener)
    if registered:
        manager.add_listener(listener)
    try:
        yield Events(path)
    finally:
        if registered:
            manager.pm.unregister(listener)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Events:
    """The events in one file transport's file (one JSON event per line)."""

    path: Path

    def mark(self) -> int:
        """Where the file ends now: :meth:`since` reads what came after."""
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int = 0) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(mark)
            return [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]

    def of_job(self, name: str, mark: int = 0) -> list[dict[str, Any]]:
        """The events of one job (``<dag_id>.<task_id>`` for a task), in the order they came."""
        return [e for e in self.since(mark) if e.get("job", {}).get("name") == name]

    def wait_for(
        self, found: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], limit: float = 60.0
    ) -> list[dict[str, Any]]:
        """Read until ``found`` picks something out of the events (another process writes them)."""
        deadline = time.monotonic() + limit
        while True:
            picked = found(self.since())
            if picked or time.monotonic() > deadline:
                return picked
            time.sleep(0.5)


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("eventType") == event_type]


def run_facets(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event.get("run", {}).get("facets", {}))
