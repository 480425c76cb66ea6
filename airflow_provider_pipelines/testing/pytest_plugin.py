"""The pytest plugin that comes with the package: a running sandbox for your own DAG tests.

pytest loads it through the ``pytest11`` entry point ``pipelines`` whenever the
package is installed::

    import pytest


    @pytest.mark.pipelines_dags("dags")  # the folder (or a file in it) of the DAG under test
    def test_nightly_fails_when_dataform_fails(pipelines_sandbox):
        pipelines_sandbox.client.plan("dataform", "nightly", duration=1, outcome="FAILED")
        from dags.nightly import dag

        assert dag.test().state == "failed"

``pipelines_sandbox`` is an :class:`~airflow_provider_pipelines.testing.Sandbox`,
started for the test and stopped after it. For the test it sets:

* an ``AIRFLOW_CONN_*`` variable per vendor (``dataform_default``,
  ``profitbase_default``, ``dataops_default``, ``remote_airflow_default``),
  each pointing at the sandbox; they are gone again after the test;
* ``AIRFLOW__CORE__LOAD_EXAMPLES=False``, so that Airflow's own example DAGs
  stay out of the DAG bag;
* the DAG folder, from the ``pipelines_dags`` marker (relative to the test
  file) or the ``pipelines_dags`` ini option (relative to the ini file).
  Airflow 3's ``dag.test()`` only runs a DAG that lies in the DAG folder.

With no ``AIRFLOW_HOME`` (and no ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``) in
the environment, the test session gets a temporary Airflow home with a migrated
SQLite DB, made once, the first time a test asks for the fixture.

``pytest -p no:pipelines`` leaves the plugin out.

This module imports neither Airflow nor the sandbox at import time: pytest loads
plugins before any ``conftest.py``, and Airflow fixes its configuration
(``AIRFLOW_HOME``, the DB) when it is first imported, so a project's
conftest.py must get the chance to set the environment first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_pipelines.testing.sandbox import Sandbox

#: the marker and the ini option that name the DAG folder (or a DAG file in it)
DAGS_OPTION = "pipelines_dags"
#: settings that count as an Airflow home the user configured: then the plugin leaves the DB alone
CONFIGURED = ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
#: the sandbox stops by itself after this many seconds, should a test run hang
LIFETIME = 3600.0
MIGRATE_TIMEOUT = 600


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        DAGS_OPTION,
        "the DAG folder (or a DAG file in it) that pipelines_sandbox tests run, relative to the ini file",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{DAGS_OPTION}(path): the DAG folder (or a DAG file in it) that the pipelines_sandbox fixture "
        "makes Airflow's DAG folder for the test; relative to the test file",
    )


@pytest.fixture(scope="session")
def pipelines_airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The Airflow home of the session: the configured one, else a temporary one with a migrated DB."""
    configured = os.environ.get("AIRFLOW_HOME")
    if any(os.environ.get(name) for name in CONFIGURED):
        yield Path(configured or Path.home() / "airflow")
        return
    if "airflow" in sys.modules:
        pytest.fail(_IMPORTED_TOO_EARLY, pytrace=False)
    home = tmp_path_factory.mktemp("airflow-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_HOME", str(home))
        patch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        _migrate(home)
        yield home


_IMPORTED_TOO_EARLY = (
    "pipelines_sandbox: Airflow was imported before the fixture could give it a temporary "
    "AIRFLOW_HOME, and no AIRFLOW_HOME is set, so Airflow already uses ~/airflow. Import your DAG "
    "inside the test (not at the top of the test module or in conftest.py), or set AIRFLOW_HOME "
    "before pytest starts and run `airflow db migrate` for it."
)


def _migrate(home: Path) -> None:
    """Create the Airflow DB in ``home`` (in a subprocess: this process has not imported Airflow yet)."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        pytest.fail(f"pipelines_sandbox: `airflow db migrate` in {home} failed:\n{tail}", pytrace=False)


@pytest.fixture
def pipelines_sandbox(
    request: pytest.FixtureRequest, pipelines_airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    """A running sandbox; the vendors' default connections point at it for this test.

    The DAG folder comes from ``@pytest.mark.pipelines_dags("path")`` or the
    ``pipelines_dags`` ini option; Airflow's example DAGs are off.
    """
    from airflow_provider_pipelines.testing.sandbox import Sandbox

    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    folder = _dags_folder(request)
    if folder is not None:
        _set_dags_folder(monkeypatch, folder)
    from airflow_provider_pipelines.budget import forget_budgets

    with Sandbox(lifetime=LIFETIME) as sandbox:
        for name, value in sandbox.connection_env().items():
            monkeypatch.setenv(name, value)
        forget_budgets()  # what an earlier test's sandbox said about rate limits does not hold here
        yield sandbox


def _dags_folder(request: pytest.FixtureRequest) -> Path | None:
    """The folder named by the test's marker (relative to the test file), else by the ini option."""
    marker = request.node.get_closest_marker(DAGS_OPTION)
    if marker is not None:
        if len(marker.args) != 1:
            pytest.fail(f"@pytest.mark.{DAGS_OPTION} takes one path, got {marker.args!r}", pytrace=False)
        base, given, source = request.path.parent, str(marker.args[0]), f"@pytest.mark.{DAGS_OPTION}"
    else:
        given = str(request.config.getini(DAGS_OPTION) or "")
        if not given:
            return None
        config = request.config
        base = config.inipath.parent if config.inipath else config.rootpath
        source = f"the {DAGS_OPTION} ini option"
    path = (base / given).resolve()
    if not path.exists():
        pytest.fail(
            f"{source}: no DAG file or folder {given!r} (looked for {path}, relative to {base})",
            pytrace=False,
        )
    return path if path.is_dir() else path.parent


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Add the likely fix to Airflow's bare "the dag is not serialized" in a sandbox test's report."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.when == "call"
        and report.failed
        and "pipelines_sandbox" in getattr(item, "fixturenames", ())
        and "is not serialized" in report.longreprtext
    ):
        report.sections.append(("pipelines_sandbox", _NOT_IN_DAGS_FOLDER))


_NOT_IN_DAGS_FOLDER = (
    "Airflow 3's dag.test() runs only a DAG that lies in the DAG folder. Name its folder (or file) "
    f'with @pytest.mark.{DAGS_OPTION}("path/relative/to/the/test/file") or the {DAGS_OPTION} ini '
    "option."
)


def _set_dags_folder(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    # Airflow copies the setting once, when airflow.settings is first imported; the DAG bundle that
    # dag.test() syncs reads that copy
    settings = sys.modules.get("airflow.settings")
    if settings is not None:
        monkeypatch.setattr(settings, "DAGS_FOLDER", str(folder))
