"""Operator extra links: "open this run in <vendor>", from the URL the operator pushed to XCom."""

from __future__ import annotations

from typing import Any

from airflow_provider_pipelines._compat import AIRFLOW_3, BaseOperatorLink, get_xcom_value

#: XCom key under which operators push the run's web URL, before they wait
RUN_URL_KEY = "run_url"
#: XCom key under which operators push the run's id, before they wait
RUN_ID_KEY = "run_id"


class RemoteRunLink(BaseOperatorLink):
    """Opens the run the task started; empty until the run's URL is known."""

    name = "Remote run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Airflow 3 asks once, in the worker as the task ends, of the operator that ran (the UI shows
        # what was stored then): that operator knows its run's link, and reading XCom instead would log
        # an error ("XCom not found") for every task that failed before a run started. Airflow 2's
        # webserver asks with a task from the DAG file: there the link is in XCom.
        value = getattr(operator, "_run_url", None) if AIRFLOW_3 else get_xcom_value(ti_key, RUN_URL_KEY)
        return value if isinstance(value, str) and value.startswith(("https://", "http://")) else ""


class DataformRunLink(RemoteRunLink):
    """Opens the run in Dataform."""

    name = "Dataform run"


class DataOpsPipelineLink(RemoteRunLink):
    """Opens the pipeline in DataOps.live (its ``web_url``)."""

    name = "DataOps.live pipeline"


class RemoteDagRunLink(RemoteRunLink):
    """Opens the DAG run in the remote Airflow's UI (none for the experimental API)."""

    name = "Remote Airflow DAG run"
