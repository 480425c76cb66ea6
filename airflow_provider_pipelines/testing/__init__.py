"""A local sandbox of the vendor APIs, for tests, the demo, and your own DAG tests.

::

    from airflow_provider_pipelines.testing import Sandbox

    with Sandbox() as sandbox:                       # 127.0.0.1, a free port
        sandbox.client.plan("dataform", "nightly", duration=1, outcome="FAILED")
        os.environ.update(sandbox.connection_env())  # AIRFLOW_CONN_DATAFORM_DEFAULT=...
        ...                                          # dag.test(), hooks, triggers

Or from a shell: ``python -m airflow_provider_pipelines.testing`` (see ``--help``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_pipelines.testing.connections import connection_env
    from airflow_provider_pipelines.testing.sandbox import Plan, Sandbox, SandboxClient

__all__ = ["Plan", "Sandbox", "SandboxClient", "connection_env"]

# Imported on first use: pytest loads this package's pytest plugin (testing/pytest_plugin.py) in
# every test run, which should not cost the sandbox's aiohttp import when no test uses it.
_LAZY = {
    "Plan": "sandbox",
    "Sandbox": "sandbox",
    "SandboxClient": "sandbox",
    "connection_env": "connections",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup finds it without this function
    return value
