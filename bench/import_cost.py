"""What importing this provider's operator and sensor modules costs a DAG file, on top of airflow.sdk.

Each sample is a fresh interpreter that imports ``airflow.sdk`` first (every DAG
file does), then the module under test; the figure is the median of the
second import's wall time. One row per module, one for all of them together,
and one for the peer, the dbt Cloud provider's operator module (left out, with a
note, when the provider is not installed). Prints figures only; nothing here is
asserted.

    python bench/import_cost.py [--runs 9] [--json FILE]
    python bench/import_cost.py --smoke        # for CI: one sample, all modules together and the peer
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

VENDORS = ("dataform", "profitbase", "dataops", "remote_airflow")
MODULES = [
    f"airflow_provider_pipelines.{kind}.{vendor}" for vendor in VENDORS for kind in ("operators", "sensors")
]
ALL_LABEL = "all operator and sensor modules"
#: the peer: the official dbt Cloud provider's operator module (a bench-only dependency)
DBT_MODULE = "airflow.providers.dbt.cloud.operators.dbt"
DBT_DIST = "apache-airflow-providers-dbt-cloud"

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
heavy = sorted(new & {"requests", "aiohttp", "urllib3", "tenacity", "asgiref"})
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


def dbt_version() -> str | None:
    try:
        return importlib.metadata.version(DBT_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per row (median printed)")
    parser.add_argument("--smoke", action="store_true", help="for CI: one sample of all modules and the peer")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 1
    rows: list[tuple[str, list[str]]] = [(m, [m]) for m in MODULES] + [(ALL_LABEL, MODULES)]
    if args.smoke:  # every fresh interpreter pays ~3 s for Airflow: the per-module rows are left out
        rows = rows[-1:]
        print(
            f"smoke: one sample of the {len(MODULES)} modules together and of the peer (no per-module rows)"
        )
    peer = dbt_version()
    if peer is None:
        print(f"note: {DBT_DIST} is not installed (pip install -e '.[bench]'): no row for {DBT_MODULE}")
    else:
        rows.append((f"{DBT_MODULE} (peer, {peer})", [DBT_MODULE]))
    sample([m for _, modules in rows for m in modules])  # warm-up: writes the bytecode caches
    print(f"medians of {args.runs} fresh interpreter(s) per row, each after `import airflow.sdk`")
    print(f"{'module':<62} {'median ms':>10} {'min ms':>8}  HTTP/retry libraries it loaded")
    results: list[dict[str, Any]] = []
    for label, modules in rows:
        samples = [sample(modules) for _ in range(args.runs)]
        times = [t for t, _ in samples]
        median, low = statistics.median(times), min(times)
        print(f"{label:<62} {median:>10.1f} {low:>8.1f}  {samples[0][1]}", flush=True)
        results.append(
            {
                "label": label,
                "modules": modules,
                "median_ms": median,
                "min_ms": low,
                "runs": args.runs,
                "loaded": samples[0][1],
            }
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
