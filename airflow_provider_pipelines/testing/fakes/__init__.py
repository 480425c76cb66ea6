"""The fake vendors the sandbox serves. A new vendor: a module here and a line in ``FAKES``."""

from __future__ import annotations

from airflow_provider_pipelines.testing.fakes.dataform import FakeDataform
from airflow_provider_pipelines.testing.fakes.dataops import FakeDataOps
from airflow_provider_pipelines.testing.fakes.profitbase import FakeProfitbase
from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow

FAKES = (FakeDataform, FakeProfitbase, FakeDataOps, FakeRemoteAirflow)

__all__ = ["FAKES"]
