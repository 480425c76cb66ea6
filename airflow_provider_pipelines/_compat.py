"""The only module that knows where Airflow 2.11 and Airflow 3.x keep things.

Everything else imports Airflow's base classes from here. Airflow 3 (the Task
SDK, ``airflow.sdk``) is the main target; the fallbacks keep 2.11 working.
"""

from __future__ import annotations

from typing import Any

try:  # Airflow 3.x
    from airflow.sdk import (
        BaseHook,
        BaseOperator,
        BaseOperatorLink,
        BaseSensorOperator,
    )
    from airflow.sdk.exceptions import AirflowException

    AIRFLOW_3 = True
except ImportError:  # Airflow 2.11
    from airflow.exceptions import AirflowException  # type: ignore[no-redef]
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
    from airflow.models import BaseOperator  # type: ignore[no-redef]
    from airflow.models.baseoperatorlink import BaseOperatorLink  # type: ignore[no-redef]
    from airflow.sensors.base import BaseSensorOperator  # type: ignore[no-redef]

    AIRFLOW_3 = False

__all__ = [
    "AIRFLOW_3",
    "AirflowException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "TaskStateUnknown",
    "atask_instance_state",
    "base_event_trigger",
    "default_deferrable",
    "get_xcom_value",
    "mask_secret",
    "sensor_timeout",
]


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from the Airflow configuration (False when unset)."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 2.11
        from airflow.configuration import conf
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


def sensor_timeout(message: str, soft_fail: bool) -> Exception:
    """What a sensor raises when its ``timeout`` passes: a skip with ``soft_fail``, else a timeout."""
    try:
        from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException
    except ImportError:  # Airflow 2.11
        from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
            AirflowSensorTimeout,
            AirflowSkipException,
        )
    return AirflowSkipException(message) if soft_fail else AirflowSensorTimeout(message)


def mask_secret(secret: str) -> None:
    """Register a secret with Airflow's log masker so it is redacted wherever it is logged."""
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret as _mask
    except ImportError:  # Airflow 2.11
        from airflow.utils.log.secrets_masker import mask_secret as _mask
    _mask(secret)


def get_xcom_value(ti_key: Any, key: str) -> Any:
    """Read one XCom value of a task instance, for operator extra links."""
    try:
        from airflow.sdk.execution_time.xcom import XCom
    except ImportError:  # Airflow 2.11
        from airflow.models.xcom import XCom
    return XCom.get_value(ti_key=ti_key, key=key)


async def aget_connection(hook_cls: Any, conn_id: str) -> Any:
    """Fetch a connection from inside a trigger without blocking the triggerer's event loop."""
    getter = getattr(hook_cls, "aget_connection", None)
    if getter is not None:  # Airflow >= 3.1
        return await getter(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(hook_cls.get_connection)(conn_id)


class TaskStateUnknown(Exception):
    """The state of a task instance could not be read from where the caller runs."""


async def atask_instance_state(ti: Any) -> str | None:
    """The current state of a task instance (``"deferred"``, ``"failed"``, None when cleared, ...).

    Read from inside a trigger through the Task SDK, as the standard provider's workflow
    triggers do (Airflow 3). Raises :class:`TaskStateUnknown` when it cannot be read: no
    task instance attached to the trigger, Airflow 2, or the triggerer's supervisor did not
    answer.
    """
    ids = [getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id")]
    if not all(isinstance(i, str) and i for i in ids):
        raise TaskStateUnknown("the trigger has no task instance attached")
    dag_id, run_id, task_id = ids
    map_index = getattr(ti, "map_index", -1)
    map_index = -1 if map_index is None else int(map_index)
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async
    except ImportError as exc:  # Airflow 2.11: no Task SDK
        raise TaskStateUnknown(f"this Airflow has no Task SDK ({exc})") from None
    try:
        # not thread-sensitive: a triggerer that drops many triggers at once asks for them side by side
        states = await sync_to_async(RuntimeTaskInstance.get_task_states, thread_sensitive=False)(
            dag_id=dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index
        )
    except Exception as exc:
        raise TaskStateUnknown(f"{type(exc).__name__}: {exc}") from None
    key = task_id if map_index < 0 else f"{task_id}_{map_index}"
    by_task = states.get(run_id) or {}
    if key not in by_task:
        raise TaskStateUnknown(f"Airflow lists no task instance {dag_id}/{run_id}/{key}")
    state = by_task[key]
    return None if state is None else str(getattr(state, "value", state))


def base_event_trigger() -> tuple[type, bool]:
    """Airflow's ``BaseEventTrigger`` (asset watchers, Airflow 3.0+) and True; on Airflow 2.11, which has
    no event-driven scheduling, ``BaseTrigger`` and False (the event triggers then refuse to be built).

    A function, not a module-level import: only the event trigger module needs it, and operator
    modules importing this one should not pay for Airflow's trigger module at DAG parse time.
    """
    try:
        from airflow.triggers.base import BaseEventTrigger

        return BaseEventTrigger, True
    except ImportError:  # Airflow 2.11
        from airflow.triggers.base import BaseTrigger

        return BaseTrigger, False
