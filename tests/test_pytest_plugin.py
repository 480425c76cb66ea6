"""The pytest plugin (``pipelines_sandbox``), each case in a pytest of its own in a subprocess.

The README's sandbox example is taken from README.md and run verbatim, so that it cannot rot.
The subprocesses get no ``AIRFLOW*`` setting of this session: they start as a user's pytest does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import airflow_provider_pipelines

PLUGIN = "airflow_provider_pipelines.testing.pytest_plugin"
README = Path(__file__).parent.parent / "README.md"
SECTION = "## The sandbox, for your own DAG tests"

#: the DAG the README example imports (``from my_dags.nightly import dag``)
NIGHTLY_DAG = """
from datetime import datetime

from airflow_provider_pipelines.operators.dataform import DataformRunOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

with DAG(dag_id="nightly", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    DataformRunOperator(
        task_id="nightly", project_id="1234", schedule_name="nightly", deferrable=True, timeout=300
    )
"""


def readme_example() -> str:
    """The first python block of the README's sandbox section."""
    text = README.read_text()
    section = text[text.index(SECTION) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under {SECTION!r} in README.md"
    return match.group(1)


def run_pytest(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """pytest in ``folder``, in a fresh process with none of this session's Airflow settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    # the package under test, whether installed (then this is site-packages) or a work tree
    source = str(Path(airflow_provider_pipelines.__file__).parent.parent)
    clean["PYTHONPATH"] = os.pathsep.join(p for p in (source, clean.get("PYTHONPATH", "")) if p)
    clean.update(env or {})
    # the plugin comes in through its pytest11 entry point once the package is installed; a work
    # tree on PYTHONPATH with an older install has none, and then names it itself
    registered = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    load = [] if registered else ["-p", PLUGIN]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *load, *args],
        cwd=folder,
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_readme_sandbox_example_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "my_dags").mkdir()
    (tmp_path / "my_dags" / "nightly.py").write_text(NIGHTLY_DAG)
    (tmp_path / "test_readme_example.py").write_text(readme_example())

    done = run_pytest(tmp_path, "test_readme_example.py")

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b1 passed\b", done.stdout), done.stdout


def test_fixture_sets_connections_for_the_test_only_and_honours_conftest_airflow_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "some_dag.py").write_text("# a DAG file\n")
    # a project's conftest.py sets AIRFLOW_HOME after the plugin is loaded: the plugin must honour it
    (tmp_path / "conftest.py").write_text(f"import os\nos.environ['AIRFLOW_HOME'] = {str(home)!r}\n")
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            import json, os, sys
            import pytest

            @pytest.mark.pipelines_dags("dags/some_dag.py")
            def test_a_with_sandbox(pipelines_sandbox, pipelines_airflow_home):
                conn = json.loads(os.environ["AIRFLOW_CONN_DATAFORM_DEFAULT"])
                assert conn["host"] == pipelines_sandbox.url + "/dataform"
                assert {{"AIRFLOW_CONN_PROFITBASE_DEFAULT", "AIRFLOW_CONN_DATAOPS_DEFAULT",
                         "AIRFLOW_CONN_REMOTE_AIRFLOW_DEFAULT"}} <= set(os.environ)
                assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == {str(dags)!r}
                assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
                assert str(pipelines_airflow_home) == {str(home)!r}
                assert "airflow" not in sys.modules

            def test_b_after_it():
                assert not [k for k in os.environ if k.startswith("AIRFLOW_CONN_")]
                assert "AIRFLOW__CORE__DAGS_FOLDER" not in os.environ
                assert "AIRFLOW__CORE__LOAD_EXAMPLES" not in os.environ

            @pytest.mark.pipelines_dags("no_such_folder")
            def test_c_names_a_missing_folder(pipelines_sandbox):
                pass
            """
        )
    )

    done = run_pytest(tmp_path, "test_inner.py")

    out = done.stdout
    assert "PASSED test_inner.py::test_a_with_sandbox" in out, out + done.stderr
    assert "PASSED test_inner.py::test_b_after_it" in out, out
    assert "ERROR test_inner.py::test_c_names_a_missing_folder" in out, out
    assert "@pytest.mark.pipelines_dags: no DAG file or folder 'no_such_folder'" in out, out


def test_ini_option_names_the_dags_folder_relative_to_the_ini_file(tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\npipelines_dags = dags\n")
    (tmp_path / "test_ini.py").write_text(
        "import os\n"
        "def test_folder(pipelines_sandbox):\n"
        f"    assert os.environ['AIRFLOW__CORE__DAGS_FOLDER'] == {str(tmp_path / 'dags')!r}\n"
    )

    done = run_pytest(tmp_path, "test_ini.py", env={"AIRFLOW_HOME": str(tmp_path / "home")})

    assert done.returncode == 0, done.stdout + done.stderr


def test_loading_the_plugin_imports_neither_airflow_nor_the_sandbox() -> None:
    # pytest loads plugins before conftest.py files set AIRFLOW_HOME: an Airflow import here would
    # fix Airflow's configuration too early
    code = (
        f"import sys, {PLUGIN}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'aiohttp')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
