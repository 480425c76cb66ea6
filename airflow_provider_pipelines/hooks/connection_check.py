"""Name the user's connection in the answer of Airflow's connection test, not a made-up id.

Airflow's REST endpoint for a connection test (``POST /api/v2/connections/test``,
``/api/v1/connections/test`` on Airflow 2), which the UI's Test button calls,
does not test the connection under its own id: it copies it to an environment
variable under a random id (``'spjWUzIp'``) and builds the hook with that one.
Every message the hook writes would then name an id the user never saw. The
endpoint keeps both ids in its own frame, so the hook, called on the same
thread's stack, can find the user's id there. Only a frame holding the hook's
id as ``transient_conn_id`` counts; anywhere else (``airflow connections test``,
a task) nothing is changed.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

#: how far up the stack the endpoint's frame is looked for (the endpoint -> Connection.test_connection
#: -> the hook's test_connection: a handful of frames; the bound keeps a miss cheap)
_MAX_DEPTH = 40

#: said instead of the made-up id when the endpoint's frame names no id of the user's
UNNAMED = "the connection under test"


def users_connection_id(conn_id: str) -> str | None:
    """The id the user tests, when ``conn_id`` is the made-up one of Airflow's test endpoint; else None.

    Returns :data:`UNNAMED` when the frame shows that ``conn_id`` is made up but
    carries no id of the user's (a test of a connection that was never named).
    """
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_MAX_DEPTH):
        if frame is None:
            return None
        local = frame.f_locals
        if local.get("transient_conn_id") == conn_id:
            return _requested_id(local) or UNNAMED
        frame = frame.f_back
    return None


def _requested_id(local: dict[str, Any]) -> str | None:
    body = local.get("test_body")  # Airflow 3: the request's ConnectionBody
    requested = getattr(body, "connection_id", None)
    if requested is None and isinstance(local.get("body"), dict):  # Airflow 2: the request's JSON
        requested = local["body"].get("connection_id")
    if isinstance(requested, str) and requested.strip():
        return requested
    return None


def name_users_connection(message: str, conn_id: str) -> str:
    """``message`` with the made-up id of Airflow's test endpoint replaced by the user's (see module doc)."""
    users = users_connection_id(conn_id)
    if users is None or users == conn_id:
        return message
    if users == UNNAMED:
        message = message.replace(f"Airflow connection {conn_id!r}", UNNAMED)
        message = message.replace(f"connection {conn_id!r}", UNNAMED)
        return message.replace(repr(conn_id), UNNAMED).replace(conn_id, UNNAMED)
    return message.replace(conn_id, users)
