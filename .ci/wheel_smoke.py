"""``python -I .ci/wheel_smoke.py SOURCE_TREE``: the built wheel, installed in a venv, works on its own.

Run by `make test-wheel` with the wheel venv's Python, in isolated mode (``-I``: no PYTHONPATH,
no user site, no script or working folder on ``sys.path``) and from a scratch folder, so that
nothing can come from the source tree. It:

1. proves where the package was imported from: the venv's site-packages, installed from a wheel
   file (not editable), not the source tree;
2. checks the installed entry points (provider, pytest plugin, console script);
3. runs the demo (every example DAG through dag.test() against the sandbox, then the failure
   pass) on a copy of ``example_dags/``;
4. asks the Airflow CLI whether it sees the provider;
5. runs the pytest plugin's tests, the README's sandbox example among them, on copies of
   ``tests/test_pytest_plugin.py`` and ``README.md``: the plugin comes from the wheel's
   ``pytest11`` entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from importlib.metadata import distribution, entry_points
from pathlib import Path

DIST = "airflow-provider-pipelines"
PACKAGE = "airflow_provider_pipelines"


def step(text: str) -> None:
    print(f"== wheel: {text}", flush=True)


def check_origin(source: Path) -> None:
    import airflow_provider_pipelines as pkg

    imported = Path(pkg.__file__).resolve()
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    direct_url = json.loads(distribution(DIST).read_text("direct_url.json") or "{}")
    print(f"imported {imported} (version {pkg.__version__})")
    print(f"installed from {direct_url.get('url')}")
    assert imported.is_relative_to(site), f"{imported} is not in this venv's site-packages {site}"
    assert not imported.is_relative_to(source / PACKAGE), f"{imported} is the source tree's"
    assert "archive_info" in direct_url, f"not installed from a wheel file: {direct_url}"
    assert not direct_url.get("dir_info", {}).get("editable"), "an editable install"
    assert direct_url["url"].endswith(".whl"), direct_url
    assert (imported.parent / "py.typed").is_file(), "no py.typed installed"


def check_entry_points() -> None:
    wanted = {
        "apache_airflow_provider": "airflow_provider_pipelines:get_provider_info",
        "pytest11": "airflow_provider_pipelines.testing.pytest_plugin",
        "console_scripts": "airflow_provider_pipelines.testing.__main__:main",
    }
    for group, value in wanted.items():
        found = [ep.value for ep in entry_points(group=group) if ep.value == value]
        assert found, f"entry point {group} -> {value} is not installed"
        print(f"entry point {group}: {value}")


def run_demo(scratch: Path, source: Path) -> None:
    from airflow_provider_pipelines.testing import demo

    dags = scratch / "example_dags"
    shutil.copytree(source / "example_dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    status = demo.main([str(dags)])
    assert status == 0, f"the demo failed ({status})"
    assert Path(demo.__file__).resolve().is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())


def check_provider_listed() -> None:
    # the demo set AIRFLOW_HOME (a throw-away one) in this process's environment; the CLI inherits it
    done = subprocess.run(
        [sys.executable, "-I", "-m", "airflow", "providers", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    listed = {row["package_name"]: row["version"] for row in json.loads(done.stdout)}
    assert DIST in listed, f"airflow providers list does not show {DIST}: {sorted(listed)}"
    print(f"airflow providers list: {DIST} {listed[DIST]}")


def run_plugin_tests(scratch: Path, source: Path) -> None:
    tree = scratch / "plugin"
    (tree / "tests").mkdir(parents=True)
    shutil.copy(source / "README.md", tree / "README.md")
    shutil.copy(source / "tests" / "test_pytest_plugin.py", tree / "tests" / "test_pytest_plugin.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    done = subprocess.run(
        [sys.executable, "-I", "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "tests"],
        cwd=tree,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, "the pytest plugin's tests failed against the wheel"


def main(source: str) -> int:
    tree = Path(source).resolve()
    with tempfile.TemporaryDirectory(prefix="pipelines-wheel-") as folder:
        scratch = Path(folder)
        os.chdir(scratch)
        step("where the package comes from")
        check_origin(tree)
        check_entry_points()
        step("the demo, from the installed wheel")
        run_demo(scratch, tree)
        step("Airflow's view of the provider")
        check_provider_listed()
        step("the pytest plugin and the README's sandbox example, from the installed wheel")
        run_plugin_tests(scratch, tree)
    step("OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
