"""``python .ci/check_dist.py dist``: what `make dist` built holds what it should, and nothing else.

The wheel: only the package (with ``py.typed`` and the entry points) and its metadata, no
bytecode; its version is ``__version__`` of ``airflow_provider_pipelines/__init__.py``.
The sdist: what a source build and the test suite need; no venvs, caches or build output.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "airflow_provider_pipelines"
ROOT = Path(__file__).resolve().parent.parent
#: top-level entries of the sdist (below its ``<name>-<version>/`` folder)
SDIST_TOP = {PACKAGE, "tests", "example_dags", "README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml"}
#: always in an sdist: its metadata, and hatchling's copy of the VCS ignore file
SDIST_GENERATED = {"PKG-INFO", ".gitignore"}
#: paths that are never shipped: venvs, caches, build output, bytecode
NEVER = re.compile(
    r"(^|/)(\.venv[^/]*|__pycache__|\.mypy_cache|\.ruff_cache|\.pytest_cache|\.ci-logs|dist|build)(/|$)|\.pyc$"
)
ENTRY_POINTS = (
    "[apache_airflow_provider]\nprovider_info = airflow_provider_pipelines:get_provider_info",
    "[pytest11]\npipelines = airflow_provider_pipelines.testing.pytest_plugin",
)


def version() -> str:
    text = (ROOT / PACKAGE / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    assert match, "no __version__ in airflow_provider_pipelines/__init__.py"
    return match.group(1)


def check_wheel(path: Path, expected: str) -> list[str]:
    problems = []
    info = f"airflow_provider_pipelines-{expected}.dist-info/"
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        for name in names:
            if not name.startswith((f"{PACKAGE}/", info)):
                problems.append(f"wheel: {name} is not part of the package")
            if NEVER.search(name):
                problems.append(f"wheel: {name} should not be shipped")
        if f"{PACKAGE}/py.typed" not in names:
            problems.append("wheel: no py.typed")
        metadata = wheel.read(info + "METADATA").decode()
        entry_points = wheel.read(info + "entry_points.txt").decode()
    if f"\nVersion: {expected}\n" not in metadata:
        problems.append(f"wheel: METADATA does not say Version: {expected}")
    problems += [f"wheel: entry point missing: {ep!r}" for ep in ENTRY_POINTS if ep not in entry_points]
    return problems


def check_sdist(path: Path, expected: str) -> list[str]:
    problems = []
    root = f"airflow_provider_pipelines-{expected}/"
    with tarfile.open(path) as sdist:
        names = [m.name for m in sdist.getmembers() if m.isfile()]
    tops = set()
    for name in names:
        if not name.startswith(root):
            problems.append(f"sdist: {name} is outside {root}")
            continue
        inner = name[len(root) :]
        tops.add(inner.split("/")[0])
        if NEVER.search(inner):
            problems.append(f"sdist: {inner} should not be shipped")
    problems += [f"sdist: unexpected {top}" for top in sorted(tops - SDIST_TOP - SDIST_GENERATED)]
    problems += [f"sdist: missing {top}" for top in sorted(SDIST_TOP - tops)]
    if f"{root}{PACKAGE}/py.typed" not in names:
        problems.append("sdist: no py.typed")
    return problems


def main(folder: str) -> int:
    expected = version()
    wheels = sorted(Path(folder).glob("*.whl"))
    sdists = sorted(Path(folder).glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist in {folder}, found {wheels + sdists}")
        return 1
    problems = check_wheel(wheels[0], expected) + check_sdist(sdists[0], expected)
    for problem in problems:
        print(problem)
    if not problems:
        with zipfile.ZipFile(wheels[0]) as wheel:
            count = len(wheel.namelist())
        print(f"dist OK: version {expected}; {wheels[0].name} ({count} files), {sdists[0].name}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "dist"))
