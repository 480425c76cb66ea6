"""Triggerer density: N triggers polling in one event loop, ours against the dbt Cloud trigger and a floor.

A triggerer runs every deferred task's trigger as a coroutine in one asyncio
loop. This bench does the same in one process, against the sandbox (plus a
dbt-Cloud-shaped endpoint, ``bench/bench_server.py``) in a separate process on
127.0.0.1, with every run planned to last hours, so that only polling is measured.
Three pollers, each at N = 200, 1,000 and 3,000 by default:

* ``ours``: N ``RemoteRunTrigger`` s, the four vendors mixed evenly (remote Airflow with a
  login, so a token is fetched from ``/auth/token``), ``started_at`` a day ago so the adaptive
  schedule sits at its cap and every trigger polls every P seconds. Each reads its own run
  (``PIPELINES_POLLING=per-run``): this bench measures the cost of a poll; the coalesced
  poller, which lets waits on one service share a list, is measured by ``bench/coalesced.py``;
* ``dbt``: N of the official provider's ``DbtCloudRunJobTrigger`` (``poll_interval`` = P). Its
  hook always builds ``https://`` URLs; here they are turned into ``http://`` so that both
  pollers pay for the same plain-HTTP loopback (no TLS handshakes: that flatters it);
* ``bare``: the floor: N coroutines doing the same status GETs on one shared keep-alive
  ``aiohttp`` session, then ``asyncio.sleep(P)``.

Trigger starts are spread over one period (as in a triggerer that took them on over
time); after a warm-up, the bench measures D seconds and prints, per poller and N:
CPU µs per poll (process CPU time / status requests the server received in the
window), RSS per trigger (RSS growth from before the triggers were made to the end of
the window, / N), polls/s achieved against N/P asked, p50/p99 lateness (how long
after its due time each poll's sleep returned, measured by wrapping ``asyncio.sleep``
in the trigger's module), and connections opened per poll (client address:port pairs
the server first saw in the window / polls). Each measurement runs in a fresh
interpreter, so one does not inherit another's memory or connections. Prints
figures only; nothing is asserted. A measurement whose interpreter fails is reported
with the last lines of its stderr, and the bench then exits non-zero.

What each interpreter imports before its RSS baseline: the HTTP and retry libraries
every poller here uses (``aiohttp``, ``requests``, ``tenacity``) and Airflow's
``BaseTrigger``, whoever polls, so that no poller's figure carries another's first
imports; then its own poller's module only: our trigger module (with our hooks) for
``ours``, the dbt Cloud provider's trigger module for ``dbt`` (the provider is
imported in that measurement and no other, and ``dbt`` is left out, with a note, when
the provider is not installed), nothing more for ``bare``.

    python bench/triggerer.py [--n 200,1000,3000] [--period 2] [--duration 30] [--repeat 1]
    python bench/triggerer.py --smoke          # a few seconds, small N: for CI
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
POLLERS = ("ours", "dbt", "bare")
#: distinct runs per vendor that the triggers share (many triggers may poll the same run)
RUNS_PER_VENDOR = 25
DBT_ACCOUNT = 70
DBT_JOB = 5
#: seconds a measurement may take beyond its warm-up and window (start-up, tear-down)
PHASE_SLACK = 120
#: lines of a failed measurement's stderr shown
STDERR_TAIL = 25


# -- the driver: server, seeded runs, one child process per measurement -----------------------------


def start_server(lifetime: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "bench_server.py"), "--lifetime", str(lifetime)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"bench server did not start: {line!r}")
    return proc, line.split()[-1]


def connection_env(url: str) -> dict[str, str]:
    """Every vendor's default connection at the server (default retry settings), dbt Cloud's too."""
    from airflow_provider_pipelines.testing.connections import connection_env as sandbox_env
    from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow

    env = sandbox_env(url, extras={"timeout": 30, "backoff": 1.0, "backoff_max": 30})
    env["AIRFLOW_CONN_REMOTE_AIRFLOW_DEFAULT"] = json.dumps(
        {
            "conn_type": "remote_airflow",
            "host": f"{url}/remote_airflow",
            "login": FakeRemoteAirflow.login,
            "password": FakeRemoteAirflow.password,
        }
    )
    env["AIRFLOW_CONN_DBT_CLOUD_DEFAULT"] = json.dumps(
        {
            "conn_type": "dbt_cloud",
            "host": url.split("://", 1)[1] + "/dbt_cloud",
            "login": str(DBT_ACCOUNT),
            "password": "sandbox-dbt-cloud-token",
        }
    )
    return env


def seed_runs(url: str) -> dict[str, list[dict[str, Any]]]:
    """Start long runs on every fake (with our hooks, as operators would) and on the dbt fake."""
    from airflow_provider_pipelines.hooks.dataform import DataformHook
    from airflow_provider_pipelines.hooks.dataops import DataOpsHook
    from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook
    from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
    from airflow_provider_pipelines.testing import SandboxClient
    from airflow_provider_pipelines.testing.fakes.dataform import FakeDataform
    from airflow_provider_pipelines.testing.fakes.dataops import FakeDataOps
    from airflow_provider_pipelines.testing.fakes.profitbase import FakeProfitbase
    from airflow_provider_pipelines.testing.fakes.remote_airflow import FakeRemoteAirflow

    client = SandboxClient(url)
    for fake in (FakeDataform, FakeProfitbase, FakeDataOps, FakeRemoteAirflow):
        client.plan(fake.name, "*", phases=[(fake.running_word, 6 * 3600.0)], final=fake.success_word)
    client.plan("dbt_cloud", "*", phases=[("running", 6 * 3600.0)], final="success")
    # the bare baseline reads the same runs with static headers (remote Airflow: a pre-issued token)
    static = {
        "dataform": {"Authorization": f"Bearer {FakeDataform.token}"},
        "profitbase": {"x-api-key": FakeProfitbase.token},
        "dataops": {"PRIVATE-TOKEN": FakeDataOps.token},
        "remote_airflow": {"Authorization": f"Bearer {FakeRemoteAirflow.token}"},
    }
    hooks: dict[str, Any] = {
        "dataform": DataformHook(),
        "profitbase": ProfitbaseHook(),
        "dataops": DataOpsHook(),
        "remote_airflow": RemoteAirflowHook(),
    }
    starts = {
        "dataform": lambda h, i: h.start_run("1234"),
        "profitbase": lambda h, i: h.start_data_flow(FakeProfitbase.data_flows[0]),
        "dataops": lambda h, i: h.start_pipeline("4242", "main", marker=f"bench-{i}"),
        "remote_airflow": lambda h, i: h.trigger_dag_run("etl", dag_run_id=f"bench_{i}"),
    }
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "dbt": []}
    for i in range(RUNS_PER_VENDOR):
        for vendor, hook in hooks.items():
            run = starts[vendor](hook, i)
            endpoint = hook.get_endpoint()
            runs["ours"].append(
                {
                    "vendor": vendor,
                    "conn_id": hook.conn_id,
                    "ref": run.ref,
                    "run_id": run.run_id,
                    "url": run.url,
                    "read_url": endpoint.url(hook.api.read_request(run.ref)),
                    "headers": static[vendor],
                }
            )
        request = urllib.request.Request(
            f"{url}/dbt_cloud/api/v2/accounts/{DBT_ACCOUNT}/jobs/{DBT_JOB}/run/",
            data=b"{}",
            method="POST",
            headers={"Authorization": "Token sandbox-dbt-cloud-token", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            runs["dbt"].append({"run_id": json.loads(resp.read())["data"]["id"]})
    for hook in hooks.values():
        hook.close()
    return runs


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send this process's stdout to /dev/null for a while (Airflow's log lines go there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def measure(
    poller: str, n: int, args: argparse.Namespace, *, url: str, runs_file: str, env: dict[str, str]
) -> dict[str, Any] | None:
    """One measurement in a fresh interpreter; None when it overran its time limit."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--phase",
            poller,
            "--n",
            str(n),
            "--period",
            str(args.period),
            "--duration",
            str(args.duration),
            "--warmup",
            str(args.warmup),
            "--url",
            url,
            "--runs",
            runs_file,
            "--out",
            out.name,
        ]
        limit = args.period + args.warmup + args.duration + PHASE_SLACK
        # the child's own stdout carries the triggers' log lines, as a triggerer's log would; its
        # stderr is kept (in a file: no pipe to fill) and shown when it fails
        with tempfile.TemporaryFile("w+", errors="replace") as err:
            try:
                proc = subprocess.run(
                    cmd, check=False, stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=limit
                )
            except subprocess.TimeoutExpired:
                return None
            if proc.returncode != 0:
                err.seek(0)
                raise PhaseFailed(poller, n, proc.returncode, err.read())
        result: dict[str, Any] = json.load(out)
    return result


class PhaseFailed(Exception):
    """A measurement's interpreter exited with an error; carries the end of its stderr."""

    def __init__(self, poller: str, n: int, returncode: int, stderr: str) -> None:
        super().__init__(f"{poller} at N={n} failed (exit {returncode})")
        self.poller, self.n, self.returncode = poller, n, returncode
        self.tail = stderr.strip().splitlines()[-STDERR_TAIL:]

    def report(self) -> None:
        print(
            f"{self.poller:<6} {self.n:>5}  FAILED: exit {self.returncode}; the end of its stderr:",
            flush=True,
        )
        for line in self.tail or ["(nothing on stderr)"]:
            print(f"    | {line}", file=sys.stderr, flush=True)


HEAD = (
    f"{'poller':<6} {'N':>5} {'CPU us/poll':>11} {'RSS KB/trig':>11} {'polls/s':>8} {'asked':>6} "
    f"{'late p50 ms':>11} {'late p99 ms':>11} {'conn/poll':>9} {'tokens':>6} {'ended':>5}"
)


def row(r: dict[str, Any]) -> str:
    return (
        f"{r['poller']:<6} {r['n']:>5} {r['cpu_us_per_poll']:>11.0f} {r['rss_kb_per_trigger']:>11.1f} "
        f"{r['polls_per_s']:>8.0f} {r['asked_per_s']:>6.0f} {r['late_p50_ms']:>11.1f} "
        f"{r['late_p99_ms']:>11.1f} {r['connections_per_poll']:>9.3f} {r['token_fetches']:>6} "
        f"{r['ended']:>5}"
    )


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over repeats (figures are independent: a row need not be one run)."""
    out = dict(rows[0])
    for key, value in rows[0].items():
        if isinstance(value, int | float) and key != "n":
            out[key] = statistics.median(r[key] for r in rows)
    return out


def dbt_provider_installed() -> bool:
    """Whether the dbt Cloud provider (the bench-only peer) is installed, without importing it."""
    import importlib.metadata

    try:
        importlib.metadata.version("apache-airflow-providers-dbt-cloud")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def drive(args: argparse.Namespace) -> int:
    """Run every measurement and print its row; returns how many measurements failed."""
    sizes = [int(x) for x in args.n.split(",")]
    pollers = [p.strip() for p in args.pollers.split(",")]
    if "dbt" in pollers and not dbt_provider_installed():
        print("note: the dbt Cloud provider is not installed (pip install -e '.[bench]'): no dbt rows")
        pollers.remove("dbt")
    failures = 0
    per_phase = args.period + args.warmup + args.duration + 15
    lifetime = 120 + per_phase * len(sizes) * len(pollers) * args.repeat
    server, url = start_server(lifetime)
    try:
        env = {**os.environ, **connection_env(url)}
        os.environ.update(env)
        with quiet():  # the hooks' "started" log lines
            runs = seed_runs(url)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(runs, f)
        print(
            f"one event loop; server in another process on {url}; P = {args.period:g} s, "
            f"window {args.duration:g} s after {args.warmup:g} s warm-up; medians of {args.repeat}",
            flush=True,
        )
        print(HEAD, flush=True)
        results = []
        for n in sizes:
            for poller in pollers:
                try:
                    measured = [
                        measure(poller, n, args, url=url, runs_file=f.name, env=env)
                        for _ in range(args.repeat)
                    ]
                except PhaseFailed as failed:
                    failed.report()
                    failures += 1
                    results.append({"poller": poller, "n": n, "failed": failed.returncode})
                    continue
                samples = [m for m in measured if m is not None]
                if not samples:
                    limit = args.period + args.warmup + args.duration + PHASE_SLACK
                    results.append({"poller": poller, "n": n, "overran_s": limit})
                    print(f"{poller:<6} {n:>5}  did not get through start-up and its window in {limit:g} s")
                    continue
                result = median_row(samples)
                results.append(result)
                print(row(result), flush=True)
        os.unlink(f.name)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    finally:
        server.terminate()
        server.wait(10)
    return failures


# -- one measurement, in a fresh interpreter ---------------------------------------------------------


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Lateness:
    """Stands in for the ``asyncio`` module of a trigger's module: its ``sleep`` records lateness."""

    def __init__(self) -> None:
        self.on = False
        self.samples: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        await asyncio.sleep(delay)
        if self.on:
            self.samples.append(loop.time() - due)
        return result


def _ours(args: argparse.Namespace, runs: list[dict[str, Any]], clock: Lateness) -> Any:
    from datetime import datetime, timedelta, timezone

    import airflow_provider_pipelines.triggers.poller as reads
    import airflow_provider_pipelines.triggers.runs as module
    from airflow_provider_pipelines.hooks import HOOKS, hook_class

    for vendor in HOOKS:
        hook_class(vendor)  # imported before the RSS baseline, as a busy triggerer has them
    os.environ[reads.POLLING_ENV] = "per-run"
    reads.asyncio = clock  # type: ignore[assignment]  # where a per-run wait sleeps between polls
    now = datetime.now(timezone.utc)

    def make(i: int) -> Any:
        run = runs[i % len(runs)]
        return module.RemoteRunTrigger(
            vendor=run["vendor"],
            conn_id=run["conn_id"],
            ref=run["ref"],
            run_id=run["run_id"],
            deadline=now + timedelta(days=1),
            poll_interval=args.period,
            started_at=now - timedelta(days=1),
            run_url=run["url"],
        )

    return make


def _dbt(args: argparse.Namespace, runs: list[dict[str, Any]], clock: Lateness) -> Any:
    import airflow.providers.dbt.cloud.triggers.dbt as module
    from airflow.providers.dbt.cloud.hooks.dbt import DbtCloudHook

    module.asyncio = clock  # type: ignore[assignment]
    https_url = DbtCloudHook.get_request_url_params

    def plain_http(*a: Any, **kw: Any) -> tuple[str, dict[str, Any]]:
        url, params = https_url(*a, **kw)
        return "http://" + url.removeprefix("https://"), params

    DbtCloudHook.get_request_url_params = staticmethod(plain_http)  # type: ignore[method-assign]
    end = time.time() + 86400

    def make(i: int) -> Any:
        return module.DbtCloudRunJobTrigger(
            conn_id="dbt_cloud_default",
            run_id=runs[i % len(runs)]["run_id"],
            end_time=end,
            poll_interval=args.period,
            account_id=DBT_ACCOUNT,
        )

    return make


class _BarePoller:
    """The floor: one status GET on a shared keep-alive session, then sleep; forever."""

    session: Any = None

    def __init__(self, run: dict[str, Any], period: float, clock: Lateness) -> None:
        self.run, self.period, self.clock = run, period, clock

    async def run_forever(self) -> Any:
        while True:
            async with self.session.get(self.run["read_url"], headers=self.run["headers"]) as resp:
                resp.raise_for_status()
                await resp.json()
            await self.clock.sleep(self.period)
        yield  # an async generator, like a trigger's run()


def _bare(args: argparse.Namespace, runs: list[dict[str, Any]], clock: Lateness) -> Any:
    def make(i: int) -> Any:
        return _BarePoller(runs[i % len(runs)], args.period, clock)

    return make


async def _measure(args: argparse.Namespace, make: Any, clock: Lateness) -> dict[str, Any]:
    import aiohttp

    n, period = args.n, args.period
    if args.phase == "bare":
        _BarePoller.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    ended: list[Any] = []

    async def one(i: int) -> None:
        await asyncio.sleep(i * period / n)
        trigger = make(i)
        gen = trigger.run_forever() if args.phase == "bare" else trigger.run()
        async for event in gen:
            ended.append(getattr(event, "payload", event))
            return

    rss0 = rss_kb()
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.sleep(period + args.warmup)
    t0, cpu0 = time.time(), time.process_time()
    clock.on = True
    await asyncio.sleep(args.duration)
    clock.on = False
    t1, cpu1 = time.time(), time.process_time()
    rss1 = rss_kb()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if _BarePoller.session is not None:
        await _BarePoller.session.close()
    with urllib.request.urlopen(f"{args.url}/_sandbox/bench/window?since={t0}&until={t1}", timeout=30) as r:
        window = json.loads(r.read())
    reads = max(1, window["reads"])
    late = sorted(clock.samples) or [0.0]
    return {
        "poller": args.phase,
        "n": n,
        "cpu_us_per_poll": (cpu1 - cpu0) / reads * 1e6,
        "rss_kb_per_trigger": (rss1 - rss0) / n,
        "polls_per_s": window["reads"] / (t1 - t0),
        "asked_per_s": n / period,
        "late_p50_ms": late[len(late) // 2] * 1000,
        "late_p99_ms": late[min(len(late) - 1, int(len(late) * 0.99))] * 1000,
        "connections_per_poll": window["new_connections"] / reads,
        "token_fetches": window["token_fetches"],
        "ended": len(ended),
        "ended_examples": [str(e)[:300] for e in ended[:3]],
    }


def phase(args: argparse.Namespace) -> None:
    # loaded before the RSS baseline whoever polls: the libraries all three pollers use, and
    # Airflow's trigger base class. Each poller's own module is imported by its factory below (also
    # before the baseline): ours for "ours", the dbt Cloud provider's (only) for "dbt".
    import aiohttp  # noqa: F401
    import requests  # noqa: F401
    import tenacity  # noqa: F401
    from airflow.triggers import base  # noqa: F401

    runs = json.loads(Path(args.runs).read_text())
    clock = Lateness()
    factory = {"ours": _ours, "dbt": _dbt, "bare": _bare}[args.phase]
    make = factory(args, runs["dbt" if args.phase == "dbt" else "ours"], clock)
    result = asyncio.run(_measure(args, make, clock))
    Path(args.out).write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="200,1000,3000", help="trigger counts, comma-separated")
    parser.add_argument("--period", type=float, default=2.0, help="seconds between two polls of a trigger")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds after the last start")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per row (medians printed)")
    parser.add_argument("--pollers", default=",".join(POLLERS), help="any of ours,dbt,bare")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--smoke", action="store_true", help="a few seconds at N=20: for CI")
    parser.add_argument("--phase", choices=POLLERS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--runs", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        args.n = int(args.n)
        phase(args)
        return
    if args.smoke:
        args.n, args.period, args.duration, args.warmup, args.repeat = "20", 0.5, 2.0, 0.5, 1
    if drive(args):
        sys.exit(1)


if __name__ == "__main__":
    main()
