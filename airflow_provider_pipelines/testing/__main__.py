"""``python -m airflow_provider_pipelines.testing``: run the sandbox in the foreground."""

from __future__ import annotations

import argparse
import sys

from airflow_provider_pipelines.testing.sandbox import PortInUseError, Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_pipelines.testing",
        description=(
            "Serve fakes of the Dataform Web, Profitbase InVision, DataOps.live and remote Airflow APIs "
            "on 127.0.0.1 for DAG tests. Stops by itself after --lifetime seconds."
        ),
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: 0, a free one)")
    parser.add_argument(
        "--lifetime",
        type=float,
        default=3600.0,
        help="stop after this many seconds (default: %(default)g, one hour)",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=2_000_000,
        help="stop after this many requests (default: %(default)d)",
    )
    args = parser.parse_args(argv)
    try:
        sandbox = Sandbox(port=args.port, lifetime=args.lifetime, max_requests=args.max_requests).start()
    except PortInUseError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    print(f"sandbox listening on {sandbox.url} (admin plane: {sandbox.url}/_sandbox/health)")
    print("connections for your DAG tests:")
    for name, value in sandbox.connection_env().items():
        print(f"  export {name}='{value}'")
    sys.stdout.flush()
    try:
        sandbox.wait()
    except KeyboardInterrupt:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
