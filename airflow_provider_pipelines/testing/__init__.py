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

from airflow_provider_pipelines.testing.connections import connection_env
from airflow_provider_pipelines.testing.sandbox import Plan, Sandbox, SandboxClient

__all__ = ["Plan", "Sandbox", "SandboxClient", "connection_env"]
