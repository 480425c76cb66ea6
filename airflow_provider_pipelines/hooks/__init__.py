"""Hooks: one per connection type."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_pipelines.hooks.base import PipelineHook

#: vendor key -> hook class. The trigger rebuilds hooks from this allow-list only,
#: never from a class path found in serialised trigger kwargs.
HOOKS: dict[str, str] = {
    "dataform": "airflow_provider_pipelines.hooks.dataform.DataformHook",
    "profitbase": "airflow_provider_pipelines.hooks.profitbase.ProfitbaseHook",
    "dataops": "airflow_provider_pipelines.hooks.dataops.DataOpsHook",
    "remote_airflow": "airflow_provider_pipelines.hooks.remote_airflow.RemoteAirflowHook",
}


def hook_class(vendor: str) -> type[PipelineHook]:
    """The hook class of a vendor key; ``ValueError`` for a key that is not registered."""
    try:
        path = HOOKS[vendor]
    except KeyError:
        raise ValueError(f"unknown vendor {vendor!r}; known: {sorted(HOOKS)}") from None
    module, _, name = path.rpartition(".")
    cls: type[PipelineHook] = getattr(importlib.import_module(module), name)
    return cls


class VendorHook:
    """A class attribute that is a vendor's hook class, imported on first use.

    Operator and sensor modules name their hook this way (``hook_class =
    VendorHook("dataform")``), so that a DAG file importing them does not import
    the hook, the HTTP layer or the vendor's API module: Airflow parses DAG files
    constantly, and those imports are paid only when a task runs.
    """

    def __init__(self, vendor: str) -> None:
        if vendor not in HOOKS:
            raise ValueError(f"unknown vendor {vendor!r}; known: {sorted(HOOKS)}")
        self.vendor = vendor

    def __get__(self, instance: object, owner: type | None = None) -> type[PipelineHook]:
        return hook_class(self.vendor)
