"""Running the test DAGs with dag.test() and reading back what happened."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DAGS = Path(__file__).parent / "dags"


@cache
def _bag() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.11
        from airflow.models.dagbag import DagBag
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag


@dataclass
class Outcome:
    dag_id: str
    run_id: str
    state: str
    tasks: dict[str, str]
    xcom: dict[tuple[str, str], Any]

    def link(self, task_id: str, link: Any) -> str:
        """What an operator extra link shows for a task of this run, as the UI would get it."""
        from airflow_provider_pipelines._compat import AIRFLOW_3

        if AIRFLOW_3:  # the worker resolved the link when the task ended and stored it in XCom
            return str(self.xcom.get((task_id, link.xcom_key), ""))
        from airflow.models.taskinstancekey import TaskInstanceKey

        key = TaskInstanceKey(self.dag_id, task_id, self.run_id, try_number=1)
        return str(link.get_link(_bag().get_dag(self.dag_id).get_task(task_id), ti_key=key))


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> Outcome:
    """Run one DAG with dag.test() in this process; return task states and XComs."""
    dag = _bag().get_dag(dag_id)
    assert dag is not None, f"no test DAG {dag_id}"
    dr = dag.test(run_conf=conf or {})
    tasks = {
        ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        for ti in dr.get_task_instances()
    }
    return Outcome(
        dag_id=dag_id,
        run_id=dr.run_id,
        state=str(getattr(dr.state, "value", dr.state)),
        tasks=tasks,
        xcom=_xcoms(dag_id, dr.run_id),
    )


def _xcoms(dag_id: str, run_id: str) -> dict[tuple[str, str], Any]:
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as Model
    except ImportError:  # Airflow 2.11
        from airflow.models.xcom import XCom as Model
    out: dict[tuple[str, str], Any] = {}
    with create_session() as session:
        rows = session.query(Model).filter(Model.dag_id == dag_id, Model.run_id == run_id).all()
        for row in rows:
            value = row.value
            if isinstance(value, bytes):  # Airflow 2.11 stores serialised bytes
                value = Model.deserialize_value(row)
            out[(row.task_id, row.key)] = value
    return out


class BareTaskInstance:
    """What an operator's execute() reads of a task instance when a test calls it directly (to kill
    it from another thread, say): its ids, its try number, and a place to push XComs."""

    dag_id, run_id, task_id, map_index, try_number = "d", "r", "kill_me", -1, 1

    def __init__(self) -> None:
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value


def _has_task_state_store() -> bool:
    try:
        from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401
    except ImportError:
        return False
    return True


#: Airflow 3.3+: a task runs with a ``task_state_store``, through which a retry finds its run again
HAS_TASK_STATE_STORE = _has_task_state_store()
