"""Operator that starts a Profitbase InVision data flow and waits for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_pipelines.hooks import VendorHook
from airflow_provider_pipelines.operators.base import RemoteRunOperator
from airflow_provider_pipelines.params.profitbase import GUID
from airflow_provider_pipelines.validation import require_bool, require_str

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks.base import PipelineHook
    from airflow_provider_pipelines.runs import RemoteRun


class ProfitbaseDataFlowOperator(RemoteRunOperator):
    """Start a Profitbase InVision data flow and wait until it ends.

    The run id is the task's return value and is pushed to XCom (``run_id``)
    before any waiting. Success only on ``Succeeded``; ``Failed`` fails the task
    with the run id; any other word is logged and waited on. InVision has no
    cancel: at ``timeout`` (or when the task is killed) the log says the data flow
    goes on running in InVision.

    :param data_flow_id: the data flow's id, a GUID in practice (templated).
    :param profitbase_conn_id: connection of type ``profitbase_invision`` (default ``profitbase_default``).
    :param use_await: in the worker, hold one request open until the flow ends
        (InVision's ``await=true``, read timeout = ``timeout``) instead of polling.
        If InVision answers before the flow ended, the task polls on from that
        answer. If the held request is cut off without an answer, the run id is
        unknown (InVision sends it only in that answer and cannot list runs): the
        task fails saying so and does not start the flow again. Ignored when
        ``deferrable`` (a deferred wait starts without ``await`` and polls from the
        triggerer) or when not waiting.
    :param wait_for_completion: wait for the data flow to end (default True).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: the longest pause between status reads, in seconds (default 300; polling
        starts every 5 s and grows with about a tenth of the time elapsed).
    :param timeout: how long to wait, seconds or a timedelta (default 24 hours).
    """

    template_fields: Sequence[str] = ("data_flow_id",)
    hook_class = VendorHook("profitbase")

    def __init__(
        self,
        *,
        data_flow_id: str,
        profitbase_conn_id: str = "profitbase_default",
        use_await: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=profitbase_conn_id, **kwargs)
        self.data_flow_id = data_flow_id
        self.profitbase_conn_id = profitbase_conn_id
        self.use_await = require_bool("use_await", use_await)
        self.validate(rendered=False)

    def validate(self, rendered: bool) -> None:
        if self.check(rendered, self.data_flow_id):
            require_str("data_flow_id", self.data_flow_id)
            # warned once, in the task's log: at parse time it would repeat on every parse of the file
            if rendered and not GUID.match(self.data_flow_id.strip()):
                self.log.warning(
                    "data_flow_id %r is not a GUID; InVision data flow ids usually are "
                    "(e.g. 2b081248-4963-43b3-ba06-5b7403d58b4d)",
                    self.data_flow_id,
                )

    def start(self, hook: PipelineHook, context: Any) -> RemoteRun:
        from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook

        assert isinstance(hook, ProfitbaseHook)
        hold = None
        if self.use_await and self.wait_for_completion:
            if self.deferrable:
                self.log.info("use_await is ignored for a deferred wait: the triggerer polls instead")
            else:
                hold = self.timeout
                self.log.info(
                    "Starting InVision data flow %s with await=true: one request held open for up to %ds",
                    self.data_flow_id,
                    hold,
                )
        self._holding = hold is not None
        try:
            return hook.start_data_flow(self.data_flow_id, hold_seconds=hold)
        finally:
            self._holding = False

    def on_kill(self) -> None:
        if getattr(self, "_holding", False):
            # killed while the held (await=true) start is open: the run id is in the reply to come
            self.log.warning(
                "Task killed during the held start of InVision data flow %s (await=true): the data flow "
                "goes on running in InVision; its run id is unknown, as InVision sends it only in the "
                "held reply",
                self.data_flow_id,
            )
            return
        super().on_kill()
