"""Many waits on one service: coalesced status reads against per-run reads and the dbt Cloud trigger.

One event loop, as in a triggerer, waits on N DataOps.live pipelines spread over 10 projects on
one connection (one token), plus N/10 remote Airflow runs (Airflow 3, one connection), served
by the sandbox in another process on 127.0.0.1. Three ways to wait, each at N = 100, 1,000 and
3,000 by default:

* ``coalesced``: ``RemoteRunTrigger`` as shipped (``triggers/poller.py``: one list per project
  and per remote API, a read of a run's own only where the rules say);
* ``per-run``: ``RemoteRunTrigger`` with ``PIPELINES_POLLING=per-run`` (one status request per
  wait and poll, the behaviour before the poller);
* ``dbt``: the official dbt Cloud provider's ``DbtCloudRunJobTrigger`` on as many dbt Cloud runs
  (N * 1.1), its URLs turned to plain http as in ``bench/triggerer.py``. Left out, with a
  note, when the provider is not installed (``make install-bench`` installs it).

**The load, the same for the three.** Every wait polls with ``poll_interval`` P = 30 s (ours:
the adaptive schedule, 5 s at first, a tenth of the elapsed time, at most P; dbt's: every P).
Each run lasts D seconds, D uniform in [60, 1800], and is found at a uniform point of its life
when the measurement begins (``started_at`` in the past), so the mix of young and old waits is
that of a triggerer in steady state. A run that ends is replaced, a second later, by a new wait on
a new run (the next task defers), so N stays constant and young waits keep arriving. Runs end
when the driver says so (the sandbox's ``finish``): 9 in 10 succeed. A pipeline's ``updated_at``
is when its status last changed (the fake's ``updated_at="on_change"``), as GitLab's moves with
status changes rather than while a job runs; a remote Airflow run's likewise.

**What is measured**, after a warm-up W, over a window of D_w seconds (then a tail of P + 5 s in
which late ends are still noticed, not measured):

* vendor requests per minute, every request to the fakes in the window (lists, reads, tokens),
  and of those the lists of changed runs and the reads of one run;
* CPU µs per waiting run per minute: the event loop process's CPU time in the window / N /
  minutes;
* RSS KB per waiting run: RSS growth from before the first trigger was made to the end of the
  window / the waits alive then;
* detection delay: from a run's end (the sandbox's clock) to its event (the same machine's
  clock), p50 / p99 / max, and how many ends were noticed within max(5 s, 10 % of the run's
  elapsed time); an end never noticed counts as a miss;
* failed tasks: events that are not the run's true outcome (an error, a timeout, a wrong
  state), plus misses;
* with ``--rate-limit`` (at the largest N by default): the sandbox's rate-limit mode, 2,000
  requests a minute per token with ``429`` + ``Retry-After``: the 429s served over the whole run.

Each measurement runs in a fresh interpreter. Prints figures only; nothing is asserted.

    python bench/coalesced.py [--n 100,1000,3000] [--window 60] [--json out.json]
    python bench/coalesced.py --smoke          # a few seconds, N=20: for CI
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from triggerer import (  # noqa: E402  (a sibling script)
    DBT_ACCOUNT,
    DBT_JOB,
    connection_env,
    dbt_provider_installed,
    quiet,
    rss_kb,
)

MODES = ("coalesced", "per-run", "dbt")
PROJECTS = [str(5000 + i) for i in range(10)]
REMOTE_DAGS = ("etl", "report")
#: seconds between two polls at most (every wait, ours and dbt's)
POLL = 30.0
DURATION = (60.0, 1800.0)
LIMIT_PER_MINUTE = 2000
RUN_HOURS = 6 * 3600.0


# -- the driver ----------------------------------------------------------------------------------------


def start_server(lifetime: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, str(HERE / "bench_server.py"), "--lifetime", str(lifetime)]
    proc = subprocess.Popen([*cmd, "--projects", str(len(PROJECTS))], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"bench server did not start: {line!r}")
    return proc, line.split()[-1]


def plan_waits(n: int, mode: str, span: float, rng: random.Random) -> list[dict[str, Any]]:
    """The waits of one measurement: the initial N, then one more for each run that ends in ``span``.

    Offsets are seconds from the start (t0); ``born`` is when the run began (before t0 for the
    initial ones).
    """
    kinds = ["dbt"] * (n + n // 10) if mode == "dbt" else ["dataops"] * n + ["remote_airflow"] * (n // 10)
    waits: list[dict[str, Any]] = []
    for i, kind in enumerate(kinds):
        life = rng.uniform(*DURATION)
        waits.append({"kind": kind, "slot": i, "start": i * 5.0 / len(kinds), "born": -rng.uniform(0, life)})
        waits[-1]["end"] = waits[-1]["born"] + life
    queue = list(waits)
    while queue:
        wait = queue.pop()
        if wait["end"] > span:
            wait["end"] = None
            continue
        wait["outcome"] = "failed" if rng.random() < 0.1 else "success"
        nxt = {
            "kind": wait["kind"],
            "slot": wait["slot"],
            "start": wait["end"] + 1.0,
            "born": wait["end"] + 1.0,
        }
        nxt["end"] = nxt["born"] + rng.uniform(*DURATION)
        waits.append(nxt)
        queue.append(nxt)
    for i, wait in enumerate(waits):
        wait["id"] = i
    return waits


def seed(url: str, waits: list[dict[str, Any]]) -> None:
    """Start a long run for each wait (ends are forced by the driver), as the operators would."""
    from airflow_provider_pipelines.hooks.dataops import DataOpsHook
    from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
    from airflow_provider_pipelines.testing import SandboxClient

    client = SandboxClient(url)
    for vendor in ("dataops", "remote_airflow", "dbt_cloud"):
        # GitLab touches a pipeline when its status (or a job's) changes, not while a job runs on
        client.plan(vendor, "*", duration=RUN_HOURS, options={"updated_at": "on_change"})
    dataops, remote = DataOpsHook(), RemoteAirflowHook()
    for wait in waits:
        if wait["kind"] == "dataops":
            project = PROJECTS[wait["id"] % len(PROJECTS)]
            run = dataops.start_pipeline(project, "main", marker=f"bench-{wait['id']}")
            wait.update(ref=dict(run.ref), run_id=run.run_id, url=run.url, fake_id=run.run_id)
        elif wait["kind"] == "remote_airflow":
            dag = REMOTE_DAGS[wait["id"] % len(REMOTE_DAGS)]
            run = remote.trigger_dag_run(dag, dag_run_id=f"bench_{wait['id']}")
            wait.update(ref=dict(run.ref), run_id=run.run_id, url=run.url)
        else:
            request = urllib.request.Request(
                f"{url}/dbt_cloud/api/v2/accounts/{DBT_ACCOUNT}/jobs/{DBT_JOB}/run/",
                data=b"{}",
                method="POST",
                headers={
                    "Authorization": "Token sandbox-dbt-cloud-token",
                    "Content-Type": "application/json",
                },
            )
            with urllib.request.urlopen(request, timeout=10) as resp:
                run_id = str(json.loads(resp.read())["data"]["id"])
            wait.update(run_id=run_id, fake_id=run_id)
    fake_ids = {row["data"]["dag_run_id"]: row["run_id"] for row in client.runs("remote_airflow")}
    for wait in waits:
        if wait["kind"] == "remote_airflow":
            wait["fake_id"] = fake_ids[wait["run_id"]]
    dataops.close()
    remote.close()


def backdate(url: str, waits: list[dict[str, Any]], t0: float) -> None:
    """Seeded runs begin when the plan says (``t0 + born``), not when they were seeded: a run found in
    the middle of its life has not changed for a while (it is not in every list's overlap), and a
    run waited on later shows in the lists as new when its wait begins."""
    vendor = {"dataops": "dataops", "remote_airflow": "remote_airflow", "dbt": "dbt_cloud"}
    began: dict[str, dict[str, float]] = {}
    for wait in waits:
        began.setdefault(vendor[wait["kind"]], {})[wait["fake_id"]] = t0 + wait["born"]
    request = urllib.request.Request(
        f"{url}/_sandbox/bench/backdate",
        data=json.dumps(began).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        resp.read()


def finish_on_time(url: str, waits: list[dict[str, Any]], t0: float, stop: threading.Event) -> None:
    """End each run at its planned time (a thread of the driver); records when each ended."""
    from airflow_provider_pipelines.testing import SandboxClient

    client = SandboxClient(url)
    vendor = {"dataops": "dataops", "remote_airflow": "remote_airflow", "dbt": "dbt_cloud"}
    words = {"dbt": {"success": "success", "failed": "error"}}
    for wait in sorted((w for w in waits if w["end"] is not None), key=lambda w: w["end"]):
        delay = t0 + wait["end"] - time.time()
        if delay > 0 and stop.wait(delay):
            return
        outcome = words.get(wait["kind"], {}).get(wait["outcome"], wait["outcome"])
        wait["ended_at"] = client.finish(vendor[wait["kind"]], wait["fake_id"], outcome)


def measure(n: int, mode: str, limited: bool, args: argparse.Namespace, url: str) -> dict[str, Any]:
    from airflow_provider_pipelines.testing import SandboxClient

    client = SandboxClient(url)
    client.reset()
    rng = random.Random(f"{n}-{mode}-{limited}")
    span = args.warmup + args.window
    waits = plan_waits(n, mode, span, rng)
    with quiet():
        seed(url, waits)
    t0 = time.time() + 3.0  # the child's imports and baseline come first
    backdate(url, waits, t0)
    if limited:
        client.rate_limit(LIMIT_PER_MINUTE)
    stop = threading.Event()
    finisher = threading.Thread(target=finish_on_time, args=(url, waits, t0, stop), daemon=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as plan:
        json.dump({"waits": waits, "t0": t0}, plan)
    out = plan.name + ".out"
    env = {**os.environ, "PIPELINES_POLLING": "per-run" if mode == "per-run" else "coalesced"}
    cmd = [sys.executable, __file__, "--phase", mode, "--plan", plan.name, "--out", out]
    cmd += ["--warmup", str(args.warmup), "--window", str(args.window), "--tail", str(args.tail)]
    finisher.start()
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, timeout=span + args.tail + 300)
    finally:
        stop.set()
        finisher.join(10)
    child = json.loads(Path(out).read_text())
    os.unlink(plan.name)
    os.unlink(out)
    win_from, win_to = t0 + args.warmup, t0 + span
    with urllib.request.urlopen(
        f"{url}/_sandbox/bench/window?since={win_from}&until={win_to}", timeout=60
    ) as r:
        window = json.loads(r.read())
    with urllib.request.urlopen(
        f"{url}/_sandbox/bench/window?since={t0 - 1}&until={time.time()}", timeout=60
    ) as r:
        whole = json.loads(r.read())
    if limited:
        client.rate_limit(None)
    return summarise(n, mode, limited, waits=waits, child=child, window=window, whole=whole, args=args)


def summarise(
    n: int,
    mode: str,
    limited: bool,
    *,
    waits: list[dict[str, Any]],
    child: dict[str, Any],
    window: dict[str, Any],
    whole: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    t0 = child["t0"]
    events = {int(k): v for k, v in child["events"].items()}
    delays, within, misses, failed = [], 0, 0, 0
    for wait in waits:
        event = events.get(wait["id"])
        if wait.get("ended_at") is None:
            if event is not None:
                failed += 1  # an event for a run that had not ended: a timeout or an error
            continue
        if event is None:
            misses += 1
            continue
        if not event["ok"] or event["state"] != wait["outcome"]:
            failed += 1
        delay = event["t"] - wait["ended_at"]
        delays.append(delay)
        elapsed = wait["ended_at"] - (t0 + wait["born"])
        within += delay <= max(5.0, 0.1 * elapsed) + 0.5  # half a second for the request itself
    delays.sort()
    minutes = args.window / 60.0
    requests = sum(v for k, v in window["requests"].items() if not k.startswith("_"))
    return {
        "n": n,
        "mode": mode,
        "rate_limited": limited,
        "waits": child["alive"],
        "requests_per_min": requests / minutes,
        "requests_by_vendor": window["requests"],
        "requests_by_kind": window.get("requests_by_kind", {}),
        "window_s": args.window,
        "cpu_us_per_wait_min": child["cpu_s"] * 1e6 / max(1, child["alive"]) / minutes,
        "rss_kb_per_wait": child["rss_kb"] / max(1, child["alive"]),
        "ends": len(delays) + misses,
        "delay_p50_s": delays[len(delays) // 2] if delays else float("nan"),
        "delay_p99_s": delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else float("nan"),
        "delay_max_s": delays[-1] if delays else float("nan"),
        "within_bound": within,
        "missed": misses,
        "failed_tasks": failed + misses,
        "status_429": sum(whole["status_429"].values()),
    }


HEAD = (
    f"{'mode':<9} {'N':>5} {'429 mode':>8} {'req/min':>8} {'lists':>6} {'reads':>6} "
    f"{'CPU us/wait/min':>15} {'RSS KB/wait':>11} "
    f"{'ends':>5} {'delay p50 s':>11} {'p99 s':>6} {'max s':>6} {'in bound':>8} {'failed':>6} {'429s':>5}"
)


def row(r: dict[str, Any]) -> str:
    minutes, kinds = r["window_s"] / 60.0, r["requests_by_kind"]
    return (
        f"{r['mode']:<9} {r['n']:>5} {'on' if r['rate_limited'] else '-':>8} {r['requests_per_min']:>8.0f} "
        f"{kinds.get('list', 0) / minutes:>6.0f} {kinds.get('read', 0) / minutes:>6.0f} "
        f"{r['cpu_us_per_wait_min']:>15.0f} {r['rss_kb_per_wait']:>11.1f} {r['ends']:>5} "
        f"{r['delay_p50_s']:>11.1f} {r['delay_p99_s']:>6.1f} {r['delay_max_s']:>6.1f} "
        f"{r['within_bound']:>3}/{r['ends'] - r['missed']:<4} {r['failed_tasks']:>6} {r['status_429']:>5}"
    )


def drive(args: argparse.Namespace) -> int:
    sizes = [int(x) for x in args.n.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    if "dbt" in modes and not dbt_provider_installed():
        print("note: the dbt Cloud provider is not installed (make install-bench): no dbt rows")
        modes.remove("dbt")
    limited_n = [int(x) for x in args.rate_limit.split(",") if x] if args.rate_limit else []
    runs = [(n, m, False) for n in sizes for m in modes] + [(n, m, True) for n in limited_n for m in modes]
    server, url = start_server(300 + len(runs) * (args.warmup + args.window + args.tail + 240))
    results = []
    try:
        os.environ.update(connection_env(url))
        print(
            f"one event loop; server in another process on {url}; poll_interval {POLL:g} s; runs of "
            f"{DURATION[0]:g}-{DURATION[1]:g} s, replaced as they end; window {args.window:g} s after "
            f"{args.warmup:g} s; rate limit {LIMIT_PER_MINUTE}/min per token where on",
            flush=True,
        )
        print(HEAD, flush=True)
        for n, mode, limited in runs:
            result = measure(n, mode, limited, args, url)
            results.append(result)
            print(row(result), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    finally:
        server.terminate()
        server.wait(10)
    return 0


# -- one measurement, in a fresh interpreter ------------------------------------------------------------


def _maker(mode: str, t0: float) -> Any:
    from datetime import datetime, timedelta, timezone

    if mode == "dbt":
        import airflow.providers.dbt.cloud.triggers.dbt as module
        from airflow.providers.dbt.cloud.hooks.dbt import DbtCloudHook

        https_url = DbtCloudHook.get_request_url_params

        def plain_http(*a: Any, **kw: Any) -> tuple[str, dict[str, Any]]:
            url, params = https_url(*a, **kw)
            return "http://" + url.removeprefix("https://"), params

        DbtCloudHook.get_request_url_params = staticmethod(plain_http)  # type: ignore[method-assign]

        def make_dbt(wait: dict[str, Any]) -> Any:
            return module.DbtCloudRunJobTrigger(
                conn_id="dbt_cloud_default",
                run_id=int(wait["run_id"]),
                end_time=time.time() + 86400,
                poll_interval=POLL,
                account_id=DBT_ACCOUNT,
            )

        return make_dbt
    from airflow_provider_pipelines.hooks import HOOKS, hook_class
    from airflow_provider_pipelines.triggers.runs import RemoteRunTrigger

    for vendor in HOOKS:
        hook_class(vendor)
    conns = {"dataops": "dataops_default", "remote_airflow": "remote_airflow_default"}
    base = datetime.fromtimestamp(t0, timezone.utc)

    def make_ours(wait: dict[str, Any]) -> Any:
        return RemoteRunTrigger(
            vendor=wait["kind"],
            conn_id=conns[wait["kind"]],
            ref=wait["ref"],
            run_id=wait["run_id"],
            deadline=base + timedelta(days=1),
            poll_interval=POLL,
            started_at=base + timedelta(seconds=wait["born"]),
            run_url=wait["url"],
        )

    return make_ours


def _outcome(mode: str, payload: Any) -> tuple[bool, str]:
    if mode == "dbt":
        status = payload.get("status")
        return status in ("success", "error"), {"success": "success", "error": "failed"}.get(
            status, str(status)
        )
    from airflow_provider_pipelines.lifecycle import RunEvent

    event = RunEvent.parse(payload)
    state = event.run.state.value if event.run is not None else "none"
    return event.status == "finished", state


async def _measure(mode: str, plan: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    t0, waits = plan["t0"], plan["waits"]
    make = _maker(mode, t0)
    events: dict[int, dict[str, Any]] = {}
    alive = 0

    async def one(wait: dict[str, Any]) -> None:
        nonlocal alive
        await asyncio.sleep(max(0.0, t0 + wait["start"] - time.time()))
        trigger = make(wait)
        alive += 1
        try:
            async for event in trigger.run():
                ok, state = _outcome(mode, event.payload)
                events[wait["id"]] = {"t": time.time(), "ok": ok, "state": state}
                return
        finally:
            alive -= 1

    rss0 = rss_kb()
    tasks = [asyncio.ensure_future(one(wait)) for wait in waits]
    await asyncio.sleep(max(0.0, t0 + args.warmup - time.time()))
    cpu0 = time.process_time()
    await asyncio.sleep(max(0.0, t0 + args.warmup + args.window - time.time()))
    cpu1, rss1, alive_then = time.process_time(), rss_kb(), alive
    await asyncio.sleep(args.tail)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"t0": t0, "events": events, "cpu_s": cpu1 - cpu0, "rss_kb": rss1 - rss0, "alive": alive_then}


def phase(args: argparse.Namespace) -> None:
    import logging

    import aiohttp  # noqa: F401  (loaded before the baseline, whoever polls)
    import requests  # noqa: F401
    import tenacity  # noqa: F401
    from airflow.triggers import base  # noqa: F401

    logging.disable(logging.INFO)  # a triggerer's log lines go to files; here they would only cost
    plan = json.loads(Path(args.plan).read_text())
    result = asyncio.run(_measure(args.phase, plan, args))
    Path(args.out).write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="100,1000,3000", help="DataOps.live waits, comma-separated")
    parser.add_argument("--modes", default=",".join(MODES), help="any of coalesced,per-run,dbt")
    parser.add_argument("--rate-limit", default="3000", help="N values also run in the rate-limit mode")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--tail", type=float, default=POLL + 5.0, help="seconds after, for late ends")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--smoke", action="store_true", help="a few seconds at N=20: for CI")
    parser.add_argument("--phase", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(args)
        return
    if args.smoke:
        args.n, args.rate_limit, args.warmup, args.window, args.tail = "20", "20", 1.0, 3.0, 1.0
    sys.exit(drive(args))


if __name__ == "__main__":
    main()
