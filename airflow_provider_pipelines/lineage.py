"""OpenLineage for the remote runs this provider starts and watches.

Two jobs, both optional (the ``[openlineage]`` extra, ``apache-airflow-providers-openlineage``):

* **Facets.** The operators' and sensors' ``get_openlineage_facets_on_start`` /
  ``_on_complete`` / ``_on_failure`` (defined once on the shared bases) call
  :func:`facets_on_start`, :func:`facets_on_complete` and :func:`facets_on_failure`,
  which describe the remote run: ``externalQuery`` (the standard
  ``ExternalQueryRunFacet``: the run id, and the vendor's API host as source),
  ``pipelines_remoteRun`` (this provider's one custom facet, :data:`REMOTE_RUN_FACET`:
  vendor, job type, run id, link, state) and, on failure, ``errorMessage`` (the
  vendor's reason: the failed DataOps.live jobs, the remote DAG's failed tasks).
* **Parent info.** :func:`parent_info` names this task's OpenLineage run (and its
  root), and :func:`parent_conf` / :func:`parent_variables` hand it to a remote run
  that reads it: a remote Airflow's DAG run conf (the keys the OpenLineage provider
  reads, as ``TriggerDagRunOperator`` writes them) and DataOps.live pipeline
  variables (the ones ``dbt-ol`` reads). A key the user set is never overwritten.

Nothing here is imported when a DAG file is parsed: the facet methods and the vendor
operators' ``start`` import it when a task runs, and OpenLineage itself is imported
inside the functions that need it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow_provider_pipelines.errors import RunError
    from airflow_provider_pipelines.hooks.base import PipelineHook
    from airflow_provider_pipelines.runs import RemoteRun

log = logging.getLogger(__name__)

#: the run facet that describes the remote run (the only custom facet this provider emits)
REMOTE_RUN_FACET = "pipelines_remoteRun"
REMOTE_RUN_FACET_SCHEMA = (
    "https://pypi.org/project/airflow-provider-pipelines/#openlineage/RemoteRunFacet.json"
    "#/$defs/RemoteRunFacet"
)

#: the ``conf["openlineage"]`` keys the OpenLineage provider reads on the remote side
CONF_SECTION = "openlineage"
CONF_KEYS = (
    "parentRunId",
    "parentJobName",
    "parentJobNamespace",
    "rootParentRunId",
    "rootParentJobName",
    "rootParentJobNamespace",
)
#: the environment variables dbt-ol reads for its parent run: the JSON form first, then the older pair
DBT_CONTEXT_VARIABLE = "OPENLINEAGE_CONTEXT"
DBT_PARENT_VARIABLE = "OPENLINEAGE_PARENT_ID"
DBT_ROOT_VARIABLE = "OPENLINEAGE_ROOT_PARENT_ID"
DBT_VARIABLES = (DBT_CONTEXT_VARIABLE, DBT_PARENT_VARIABLE, DBT_ROOT_VARIABLE)


class LineageTask(Protocol):
    """What the facet functions read of an operator or a sensor (both bases provide it)."""

    conn_id: str
    last_run: RemoteRun | None
    run_error: RunError | None

    def get_hook(self) -> PipelineHook: ...


# -- parent info -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParentInfo:
    """This task's OpenLineage run and the root run above it (the DAG run, or what started it)."""

    namespace: str
    job_name: str
    run_id: str
    root_namespace: str
    root_job_name: str
    root_run_id: str

    def conf_section(self) -> dict[str, str]:
        """The ``conf["openlineage"]`` keys, as ``TriggerDagRunOperator`` writes them."""
        values = (
            self.run_id,
            self.job_name,
            self.namespace,
            self.root_run_id,
            self.root_job_name,
            self.root_namespace,
        )
        return dict(zip(CONF_KEYS, values, strict=True))

    def dbt_variables(self) -> dict[str, str]:
        """``OPENLINEAGE_CONTEXT`` (JSON) and, where the names allow it, the older ``ns/job/run`` pair."""
        context = {
            "parent": {
                "run": {"runId": self.run_id},
                "job": {"namespace": self.namespace, "name": self.job_name},
                "root": {
                    "run": {"runId": self.root_run_id},
                    "job": {"namespace": self.root_namespace, "name": self.root_job_name},
                },
            }
        }
        out = {DBT_CONTEXT_VARIABLE: json.dumps(context, separators=(",", ":"))}
        parent = (self.namespace, self.job_name, self.run_id)
        root = (self.root_namespace, self.root_job_name, self.root_run_id)
        # dbt-ol splits these on "/" into exactly three parts: a name holding a "/" cannot go this way
        if not any("/" in part for part in parent + root):
            out[DBT_PARENT_VARIABLE] = "/".join(parent)
            out[DBT_ROOT_VARIABLE] = "/".join(root)
        return out


def parent_info(ti: Any, logger: logging.Logger | Any = log) -> ParentInfo | None:
    """This task instance's OpenLineage run, or None when the OpenLineage provider is not installed,
    is disabled (no transport configured, or ``[openlineage] disabled``), or too old to say.

    The ids come from the provider's own macros (``lineage_run_id`` and friends), so they are
    the ones its listener puts in this task's events.
    """
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:
        return None
    if is_disabled():
        return None
    try:
        from airflow.providers.openlineage.plugins.macros import (
            lineage_job_name,
            lineage_job_namespace,
            lineage_root_job_name,
            lineage_root_job_namespace,
            lineage_root_run_id,
            lineage_run_id,
        )
    except ImportError:
        logger.info(
            "The installed OpenLineage provider cannot name this task's root run; no parent information "
            "is passed to the remote run (apache-airflow-providers-openlineage>=2.8 can)"
        )
        return None
    return ParentInfo(
        namespace=str(lineage_job_namespace()),
        job_name=str(lineage_job_name(ti)),
        run_id=str(lineage_run_id(ti)),
        root_namespace=str(lineage_root_job_namespace(ti)),
        root_job_name=str(lineage_root_job_name(ti)),
        root_run_id=str(lineage_root_run_id(ti)),
    )


def parent_conf(
    conf: Mapping[str, Any] | None, parent: ParentInfo, logger: logging.Logger | Any = log
) -> dict[str, Any]:
    """A remote DAG run's conf with ``conf["openlineage"]`` naming ``parent``.

    Left as it is when the user's conf already has any parent or root key there, or an
    ``openlineage`` value that is not an object: what the user set wins, whole.
    """
    conf = dict(conf or {})
    section = conf.get(CONF_SECTION, {})
    if not isinstance(section, Mapping):
        logger.warning(
            "conf[%r] is not an object; no OpenLineage parent information is added to it", CONF_SECTION
        )
        return conf
    taken = [key for key in CONF_KEYS if key in section]
    if taken:
        logger.info(
            "conf[%r] already sets %s; this task's OpenLineage parent information is not added",
            CONF_SECTION,
            ", ".join(taken),
        )
        return conf
    conf[CONF_SECTION] = {**parent.conf_section(), **section}
    logger.info(
        "The remote DAG run's OpenLineage parent is this task's run %s (conf[%r])",
        parent.run_id,
        CONF_SECTION,
    )
    return conf


def parent_variables(
    variables: Mapping[str, str], parent: ParentInfo, logger: logging.Logger | Any = log
) -> dict[str, str]:
    """Pipeline variables with the ones dbt-ol reads for its parent run added.

    None is added when the user set any of them: dbt-ol reads ``OPENLINEAGE_CONTEXT``
    before the older pair, so adding ours beside a user's would override it.
    """
    taken = [key for key in DBT_VARIABLES if key in variables]
    if taken:
        logger.info(
            "variables already set %s; this task's OpenLineage parent information is not added",
            ", ".join(taken),
        )
        return dict(variables)
    logger.info(
        "dbt-ol jobs of the pipeline will name this task's OpenLineage run %s as their parent (%s)",
        parent.run_id,
        ", ".join(parent.dbt_variables()),
    )
    return {**variables, **parent.dbt_variables()}


# -- facets ------------------------------------------------------------------------------------


def facets_on_start(task: LineageTask, ref: Mapping[str, str] | None = None) -> Any:
    """The START event's facets: the vendor and job type, and the run id where it is known already
    (a sensor's ``ref``); an operator's run does not exist yet."""
    return _lineage(task, task.last_run, ref=ref)


def facets_on_complete(task: LineageTask) -> Any:
    """The COMPLETE event's facets: the run as the task last saw it (final when the task waited)."""
    return _lineage(task, task.last_run)


def facets_on_failure(task: LineageTask) -> Any:
    """The FAIL event's facets: the run, and the vendor's reason in ``errorMessage``."""
    error = task.run_error
    run = (error.run if error is not None else None) or task.last_run
    return _lineage(task, run, error=error)


def _lineage(
    task: LineageTask,
    run: RemoteRun | None,
    *,
    ref: Mapping[str, str] | None = None,
    error: RunError | None = None,
) -> Any:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.facet_v2 import error_message_run, external_query_run

    hook = task.get_hook()
    api = hook.api
    run_id = run.run_id if run is not None else _run_id_of(ref, api.ref_keys)
    facets: dict[str, Any] = {
        REMOTE_RUN_FACET: remote_run_facet_class()(
            vendor=api.vendor,
            jobType=api.lineage_job_type,
            runId=run_id,
            url=run.url if run is not None else None,
            state=run.state.value if run is not None else None,
            vendorStatus=run.vendor_status if run is not None else None,
        )
    }
    if run_id is not None:
        facets["externalQuery"] = external_query_run.ExternalQueryRunFacet(
            externalQueryId=run_id, source=source_of(hook, run)
        )
    if error is not None:
        # The provider's listener puts its own errorMessage (the task's exception, whose message names
        # the vendor's first reason) over this one whenever it has the exception, which it has for a
        # task that failed (provider 2.20); this one stands where it has none.
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=str(error),
            programmingLanguage="python",
            # the vendor's own account: each failed job or task, and the tail of its log
            stackTrace="\n".join(error.reasons) or None,
        )
    return OperatorLineage(run_facets=facets)


def _run_id_of(ref: Mapping[str, str] | None, keys: Sequence[str]) -> str | None:
    """The run id in a sensor's ref (its last key, as the trigger reads it)."""
    if not ref or not keys:
        return None
    value = ref.get(keys[-1])
    return str(value) if value else None


def source_of(hook: PipelineHook, run: RemoteRun | None) -> str:
    """The vendor's API host (``api.dataform.co``, ``app.dataops.live``, ...), from the connection.

    The host of the run's link stands in when the connection cannot be read here, and
    the vendor's key when there is neither.
    """
    try:
        return urlsplit(hook.get_endpoint().base_url).netloc
    except Exception:  # lineage never fails a task: a missing connection already failed it
        log.debug("OpenLineage: could not read connection %r for the source host", hook.conn_id)
    if run is not None and run.url:
        return urlsplit(run.url).netloc
    return hook.api.vendor


@cache
def remote_run_facet_class() -> type:
    """The ``pipelines_remoteRun`` facet class (made on first use: it needs the OpenLineage client)."""
    import attr
    from openlineage.client.generated.base import RunFacet

    @attr.define
    class RemoteRunFacet(RunFacet):
        """A run on a remote service that an Airflow task started or watched.

        :param vendor: ``dataform``, ``profitbase``, ``dataops`` or ``remote_airflow``.
        :param jobType: what kind of remote run it is (``DATAFORM_RUN``, ``INVISION_DATA_FLOW``,
            ``DATAOPS_PIPELINE``, ``AIRFLOW_DAG_RUN``).
        :param runId: the vendor's id of the run (None before the run exists).
        :param url: the run's page in the vendor's UI, where it has one.
        :param state: the run's normalised state when the task ended (``success``, ``failed``,
            ``cancelled``, ``skipped``, ``blocked``, ``running``, ...): its final state when the
            task waited for it.
        :param vendorStatus: the vendor's own word for that state.
        """

        vendor: str
        jobType: str
        runId: str | None = attr.field(default=None)
        url: str | None = attr.field(default=None)
        state: str | None = attr.field(default=None)
        vendorStatus: str | None = attr.field(default=None)

        @staticmethod
        def _get_schema() -> str:
            return REMOTE_RUN_FACET_SCHEMA

    return RemoteRunFacet
