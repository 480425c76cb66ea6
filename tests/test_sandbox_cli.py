"""The sandbox's command line and the demo's output helpers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from airflow_provider_pipelines.testing.demo import _lines

ROOT = Path(__file__).parent.parent


def sandbox_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "airflow_provider_pipelines.testing", *args],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=60,
    )


def test_help_gives_the_default_lifetime():
    result = sandbox_cli("--help")
    assert result.returncode == 0
    assert "--lifetime" in result.stdout and "(default: 3600, one hour)" in result.stdout


def test_a_busy_port_gives_one_clear_line_not_a_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sandbox_cli("--port", str(port), "--lifetime", "5")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sandbox: port {port} on 127.0.0.1 is already in use: choose another (--port), or 0 for a free one"
    ]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_multi_line_reason_is_indented_under_its_first_line():
    assert _lines("    reason: ", "log tail:\n  line 1\nERROR: x\n") == [
        "    reason: log tail:",
        "              line 1",
        "            ERROR: x",
    ]


# run in a process of its own: under pytest, sys.stdout is pytest's and not file descriptor 1
_CHATTER = """
import logging, os, sys
from pathlib import Path
from airflow_provider_pipelines.testing.demo import _elsewhere

chatter = logging.getLogger("chatter")
chatter.addHandler(logging.StreamHandler(sys.stdout))  # made before, holding the process's stdout
print("summary before", flush=True)
with _elsewhere(Path(sys.argv[1])):
    chatter.warning("[DAG TEST] starting task_id=x")
    print("print inside")
    os.write(2, b"raw stderr inside\\n")
print("summary after", flush=True)
"""


def test_airflows_own_output_goes_to_its_file_and_the_summary_stays_clean(tmp_path):
    log_file = tmp_path / "airflow-output.log"
    result = subprocess.run(
        [sys.executable, "-c", _CHATTER, str(log_file)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=True,
    )
    assert result.stdout == "summary before\nsummary after\n" and result.stderr == ""
    kept = log_file.read_text()
    assert "[DAG TEST] starting task_id=x" in kept and "print inside" in kept and "raw stderr inside" in kept
