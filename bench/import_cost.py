"""What importing this provider's operator and sensor modules costs a DAG file, on top of airflow.sdk.

Each sample is a fresh interpreter that imports ``airflow.sdk`` first (every DAG
file does), then the module under test; the figure is the median of the
second import's wall time. Prints figures only; nothing here is asserted.

    python bench/import_cost.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

MODULES = [
    "airflow_provider_pipelines.operators.dataform",
    "airflow_provider_pipelines.sensors.dataform",
    "airflow_provider_pipelines.operators.profitbase",
    "airflow_provider_pipelines.sensors.profitbase",
]

PROBE = """
import sys, time
import airflow.sdk  # noqa: F401  what a DAG file imports anyway
from airflow.sdk import BaseOperator  # noqa: F401  resolve the lazy attribute once
before = set(sys.modules)
t = time.perf_counter()
for name in sys.argv[1:]:
    __import__(name)
elapsed = time.perf_counter() - t
new = {m.split(".")[0] for m in set(sys.modules) - before}
heavy = sorted(new & {"requests", "aiohttp", "urllib3", "tenacity"})
print(f"{elapsed * 1000:.3f} {','.join(heavy) or '-'}")
"""


#: as in a real deployment, modules load from compiled bytecode (pip compiles wheels at install);
#: a PYTHONDONTWRITEBYTECODE in the environment would make every sample pay for compiling sources
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def sample(modules: list[str]) -> tuple[float, str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], check=True, capture_output=True, text=True, env=ENV
    ).stdout.split()
    return float(out[0]), out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    rows = [(m, [m]) for m in MODULES] + [("all operator and sensor modules", MODULES)]
    sample(MODULES)  # warm-up: writes the bytecode caches
    print(f"{'module':<52} {'median ms':>10} {'min ms':>8}  HTTP/retry libraries it loaded")
    for label, modules in rows:
        samples = [sample(modules) for _ in range(args.runs)]
        times = [t for t, _ in samples]
        print(f"{label:<52} {statistics.median(times):>10.1f} {min(times):>8.1f}  {samples[0][1]}")


if __name__ == "__main__":
    main()
