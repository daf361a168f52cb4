"""Pushed measurements/s end to end (request → queryable in InfluxDB), beside the original.

    .venv/bin/python bench/push.py [--per 1,100] [--seconds S] [--runs N] [--connections C]
                                   [--servers K] [--workers W] [--delay D]
                                   [--peer DIR [--peer-venv VENV]] [--json OUT]

Starts EnergyLab as bench/events.py does (gunicorn, debug off, W workers, the bench's
PostgreSQL database) and its writer as production runs it (``events.tasks.flush_samples`` once a
second, in a process of its own, with a correlation delay of D seconds); then ``wrk`` sends, for
S seconds on C connections, legacy pushes ``POST /resources/equipments/{id}/measurements`` of
``--per`` measurements each, round-robin over K servers of one pod per cell, every measurement
at a distinct time (10 µs apart: the original adds up to 9,999 ns of jitter). A cell ends when
every acknowledged measurement is queryable in InfluxDB: its end-to-end rate is the acknowledged
measurements over the time from the first request until then, less the correlation delay (a
fixed wait for late events, not a cost of throughput). p50/p99 are wrk's request latencies.

``--peer DIR``: the original OPNFV recorder (bench/_peer.py) in the same run, under the same
load, cells interleaved; it writes to InfluxDB before it answers, so its end to end is its HTTP
rate (checked the same way). Goal (issue 16): EnergyLab at least 3 times the original's end-to-end
measurements/s at 1 and at 100 per request, with a p99 no higher.

Its own resources: a Redis key prefix ``bench-push-<pid>`` on the bench's Redis database (its
keys deleted at the end, nothing else touched), an InfluxDB database ``bench_<pid>`` (dropped),
pods ``bench-push-<pid>-*`` in the bench's PostgreSQL database (deleted).
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from _common import (
    INFLUX_DATABASE,
    INFLUX_URL,
    ROOT,
    WRK_RESPONSE,
    Results,
    base_parser,
    bench_env,
    median,
    redis_client,
)
from _peer import DATABASE as PEER_DATABASE
from _peer import OriginalRecorder

# bench/events.py runs EnergyLab's server for the events bench; its helpers are reused, loaded
# by path (the name ``events`` is EnergyLab's app).
_spec = importlib.util.spec_from_file_location(
    "bench_events", Path(__file__).with_name("events.py")
)
assert _spec is not None
assert _spec.loader is not None
bench_events: Any = importlib.util.module_from_spec(_spec)
sys.modules["bench_events"] = bench_events  # its dataclasses look their module up there
_spec.loader.exec_module(bench_events)

GOAL_PEER_RATIO = 3.0
PREFIX = f"bench-push-{os.getpid()}"
SCENARIO = "bench scenario"
MEASUREMENT_SPACING_NS = 10_000  # above the original's 0-9,999 ns jitter: no two collide
DRAIN_TIMEOUT_S = 120.0
STALL_S = 10.0  # a cell stops waiting when no point arrived for this long
CELL_WINDOW_S = 600  # a cell's measurements span far less (10 µs each)
BASE_S = int(time.time()) - 86_400  # the first cell's window starts a day ago

LUA = (
    r"""
-- Legacy pushes of %(per)d measurement(s), round-robin over the cell's servers; every
-- measurement at its own time: the thread's id and a counter make a unique sequence number.
local servers = {%(servers)s}
local base_s = %(base_s)d
local per = %(per)d
local counter = 0
thread_id = 0  -- each thread's own, set by setup() in the main state
setup = function(thread)
  thread:set("thread_id", (threads_made or 0))
  threads_made = (threads_made or 0) + 1
end
local function stamp(seq)
  local offset = seq * %(spacing)d
  local s = math.floor(offset / 1e9)
  return string.format("%%d%%09d", base_s + s, offset - s * 1e9)
end
request = function()
  local n = counter * %(threads)d + thread_id
  counter = counter + 1
  local server = servers[(n %% #servers) + 1]
  local parts = {}
  for j = 0, per - 1 do
    local seq = n * per + j
    parts[#parts + 1] = '{"sensor": "power", "unit": "W", "value": ' .. (100 + (seq %% 200))
      .. ', "time": ' .. stamp(seq) .. '}'
  end
  local body = '{"environment": "%(pod)s", "measurements": [' .. table.concat(parts, ", ") .. ']}'
  return wrk.format("POST", "/resources/equipments/" .. server .. "/measurements", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "%(authorization)s",
  }, body)
end
"""
    + WRK_RESPONSE
)
WRK_THREADS = 2

# The writer as beat and a worker run it: one pass a second (energylab.settings WRITER_INTERVAL).
WRITER_LOOP = """
import time
from events.tasks import flush_samples
while True:
    started = time.monotonic()
    flush_samples()
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
"""

CLEANUP = """
import os
from collectors.models import Pod
from events.models import Run
prefix = os.environ["BENCH_PREFIX"]
Run.objects.filter(pod__name__startswith=prefix).delete()
Pod.objects.filter(name__startswith=prefix).delete()
"""


@dataclass
class Cell:
    rate_http: float  # requests/s, wrk's
    p50_ms: float
    p99_ms: float
    non2xx: int
    acknowledged: int  # measurements
    e2e: float  # measurements/s end to end
    complete: bool  # every acknowledged measurement was found


@dataclass
class Target:
    label: str
    url: str
    database: str  # its InfluxDB database
    measurement: str  # where its points of a pod are, and the tag naming the pod
    value_field: str
    pod_tag: str
    delay: float  # correlation delay to subtract
    cells: dict[int, list[Cell]] = field(default_factory=dict)


def parse_args() -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--per", default="1,100", help="measurements per request (1,100)")
    parser.add_argument("--seconds", type=int, default=10, help="load per cell (10)")
    parser.add_argument("--runs", type=int, default=3, help="rounds; figures are medians (3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--servers", type=int, default=20, help="servers pushed to (20)")
    cores = os.cpu_count() or 2
    parser.add_argument("--workers", type=int, default=cores, help=f"gunicorn workers ({cores})")
    parser.add_argument(
        "--delay", type=float, default=2.0, help="EnergyLab's correlation delay, seconds (2)"
    )
    parser.add_argument(
        "--auth",
        choices=("token", "basic"),
        default="token",
        help="EnergyLab's credential (token); basic runs Django's password hasher again "
        "whenever a process's ENERGYLAB_AUTH_CACHE_SECONDS lapse",
    )
    parser.add_argument("--peer", type=Path, metavar="DIR", help="the original's exported tree")
    parser.add_argument("--peer-venv", type=Path, metavar="VENV", help="its venv (DIR/../venv)")
    args = parser.parse_args()
    try:
        args.pers = [int(p) for p in args.per.split(",") if p.strip()]
    except ValueError:
        parser.error("--per takes integers, comma-separated")
    if not args.pers or any(not 1 <= p <= 10_000 for p in args.pers):
        parser.error("--per: 1 to 10,000 measurements per request")
    if not 1 <= args.seconds <= 120 or not 1 <= args.runs <= 20:
        parser.error("--seconds must be 1 to 120 and --runs 1 to 20")
    if args.peer is not None:
        args.peer = args.peer.resolve()
        args.peer_venv = (args.peer_venv or args.peer.parent / "venv").resolve()
    return args


def energylab_env(args: argparse.Namespace) -> dict[str, str]:
    """What EnergyLab's server and writer run with here (bench/events.py's, plus ours)."""
    return {
        "ENERGYLAB_REDIS_KEY_PREFIX": PREFIX,
        "ENERGYLAB_CORRELATION_DELAY": str(args.delay),
    }


def start_writer(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", WRITER_LOOP],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def server_env(password: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        **bench_env(),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'sdk'}",
        "ENERGYLAB_DEBUG": "false",
        "ENERGYLAB_SECRET_KEY": secrets.token_urlsafe(50),
        "ENERGYLAB_CREDENTIALS_KEY": Fernet.generate_key().decode(),
        "ENERGYLAB_LOG_LEVEL": "WARNING",
        "BENCH_PASSWORD": password,
        "BENCH_PREFIX": PREFIX,
    }


def count_points(target: Target, pod: str, base_s: int) -> int:
    """Points of the pod in the cell's window of time."""
    answer = requests.get(
        f"{INFLUX_URL}/query",
        params={
            "db": target.database,
            # Identifiers are the bench's own constants; the pod and times are bound.
            "q": f'SELECT count("{target.value_field}") FROM "{target.measurement}" '  # noqa: S608
            f'WHERE "{target.pod_tag}" = $pod AND time >= $since AND time < $until',
            "params": json.dumps(
                {"pod": pod, "since": base_s * 10**9, "until": (base_s + CELL_WINDOW_S) * 10**9}
            ),
        },
        timeout=30,
    )
    answer.raise_for_status()
    series = answer.json()["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def start_scenario(target: Target, pod: str, authorization: str) -> None:
    bench_events.post_json(
        f"{target.url}/resources/recorders/environment/{pod}",
        {"scenario": SCENARIO, "step": "push"},
        {"Authorization": authorization},
    )


def run_cell(
    wrk: str, args: argparse.Namespace, target: Target, per: int, cell: int, authorization: str
) -> Cell:
    # One pod and its servers for all cells (a server belongs to one pod); each cell's
    # measurements in a window of time of their own.
    pod = f"{PREFIX}-pod"
    servers = [f"{PREFIX}-srv-{i}" for i in range(args.servers)]
    base_s = BASE_S + cell * CELL_WINDOW_S
    script_text = LUA % {
        "servers": ", ".join(json.dumps(s) for s in servers),
        "base_s": base_s,
        "per": per,
        "spacing": MEASUREMENT_SPACING_NS,
        "threads": WRK_THREADS,
        "pod": pod,
        "authorization": authorization,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(script_text)
    try:
        started = time.monotonic()
        output = bench_events.wrk_load(wrk, args, target.url, script.name)
    finally:
        os.unlink(script.name)
    rate, p50, p99, non2xx = bench_events.parse_wrk(output)
    total = int(_requests_done(output))
    acknowledged = (total - non2xx) * per
    deadline = time.monotonic() + DRAIN_TIMEOUT_S + target.delay
    found = count_points(target, pod, base_s)
    progress_at, last = time.monotonic(), found
    while found < acknowledged and time.monotonic() < deadline:
        if time.monotonic() - progress_at > STALL_S + target.delay:
            break  # nothing more arrives (e.g. the buffer was flushed under the bench)
        time.sleep(0.05)
        found = count_points(target, pod, base_s)
        if found > last:
            progress_at, last = time.monotonic(), found
    elapsed = time.monotonic() - started - target.delay
    return Cell(rate, p50, p99, non2xx, acknowledged, found / elapsed, found >= acknowledged)


def _requests_done(output: str) -> int:
    import re

    match = re.search(r"(\d+) requests in", output)
    return int(match.group(1)) if match else 0


def main() -> int:
    args = parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (apt-get install wrk): no figures", file=sys.stderr)
        return 0
    password = secrets.token_urlsafe(16)
    basic = base64.b64encode(f"bench:{password}".encode()).decode()
    results = Results(
        "push",
        {
            "per request": args.per,
            "seconds": args.seconds,
            "connections": args.connections,
            "servers": args.servers,
            "gunicorn workers": args.workers,
            "loads": args.runs,
            "correlation delay": args.delay,
            "auth": args.auth,
            **({"peer": str(args.peer)} if args.peer else {}),
        },
    )
    env = {**server_env(password), **energylab_env(args)}
    os.environ.update(energylab_env(args))  # start_energylab reads os.environ
    requests.post(
        f"{INFLUX_URL}/query", params={"q": f'CREATE DATABASE "{INFLUX_DATABASE}"'}, timeout=10
    ).raise_for_status()
    processes: list[subprocess.Popen[bytes]] = []
    peer: OriginalRecorder | None = None
    targets: list[Target] = []
    try:
        server, token = bench_events.start_energylab(
            "EnergyLab",
            ROOT,
            env["ENERGYLAB_DATABASE_URL"],
            bench_events.free_port(),
            args.workers,
            password,
        )
        processes.append(server.process)
        # The original has no authentication and ignores the header.
        authorization = f"Token {token}" if args.auth == "token" else f"Basic {basic}"
        processes.append(start_writer(env))
        bench_events.wait_until_up(f"{server.url}/api/v1/time/")
        targets.append(
            Target("energylab", server.url, INFLUX_DATABASE, "power", "watts", "pod", args.delay)
        )
        if args.peer is not None:
            peer = OriginalRecorder(
                args.peer, args.peer_venv, bench_events.free_port(), args.workers, INFLUX_URL
            ).__enter__()
            bench_events.wait_until_up(f"{peer.url}/resources/monitoring/ping")
            targets.append(
                Target(
                    "original",
                    peer.url,
                    PEER_DATABASE,
                    "SensorMeasurement",
                    "value",
                    "environment",
                    0.0,
                )
            )
        # Unrecorded: the first requests of a worker import and build what the next ones reuse
        # (and EnergyLab's create the servers, as a lab's first pushes do).
        warm_up = argparse.Namespace(**{**vars(args), "seconds": 2})
        for target in targets:
            start_scenario(target, f"{PREFIX}-pod", authorization)
            run_cell(wrk, warm_up, target, 1, 0, authorization)
        cell = 0
        for round_ in range(args.runs):
            for per in args.pers:
                for target in targets:
                    cell += 1
                    result = run_cell(wrk, args, target, per, cell, authorization)
                    target.cells.setdefault(per, []).append(result)
                    print(
                        f"round {round_ + 1}, {per}/request, {target.label}: "
                        f"{result.rate_http * per:,.0f} measurements/s HTTP, "
                        f"{result.e2e:,.0f} end to end, p99 {result.p99_ms:.0f} ms"
                        + ("" if result.complete else " (INCOMPLETE)"),
                        flush=True,
                    )
        report(results, targets, args)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        if peer is not None:
            peer.__exit__(None, None, None)
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", CLEANUP],
            cwd=ROOT,
            env=env,
            timeout=120,
            check=False,
        )
        requests.post(
            f"{INFLUX_URL}/query", params={"q": f'DROP DATABASE "{INFLUX_DATABASE}"'}, timeout=30
        )
        client = redis_client()
        for key in client.scan_iter(match=f"{PREFIX}:*", count=1000):
            client.delete(key)
    results.print_table()
    results.write_json(args.json)
    return 0


def report(results: Results, targets: list[Target], args: argparse.Namespace) -> None:
    ours = targets[0]
    for per in args.pers:
        for target in targets:
            cells = target.cells[per]
            name = f"{per}/request, {target.label}"
            e2e = [c.e2e for c in cells]
            results.add(
                f"{name}: end to end",
                median(e2e),
                "meas/s",
                note=bench_events.spread(e2e, "{:,.0f}"),
            )
            results.add(f"{name}: HTTP", median([c.rate_http * per for c in cells]), "meas/s")
            results.add(f"{name}: latency p50", median([c.p50_ms for c in cells]), "ms")
            results.add(f"{name}: latency p99", median([c.p99_ms for c in cells]), "ms")
            bad = sum(c.non2xx for c in cells)
            results.add(f"{name}: non-2xx answers", float(bad), "count", "0", bad == 0)
            incomplete = sum(not c.complete for c in cells)
            results.add(
                f"{name}: cells not drained", float(incomplete), "count", "0", incomplete == 0
            )
        for other in targets[1:]:
            mine = median([c.e2e for c in ours.cells[per]])
            theirs = median([c.e2e for c in other.cells[per]])
            per_round = [
                a.e2e / b.e2e
                for a, b in zip(ours.cells[per], other.cells[per], strict=True)
                if b.e2e
            ]
            ratio = mine / theirs if theirs else float("nan")
            results.add(
                f"{per}/request: end to end, EnergyLab / original",
                ratio,
                "ratio",
                f">= {GOAL_PEER_RATIO:g}",
                ratio >= GOAL_PEER_RATIO,
                bench_events.spread(per_round, "{:.2f}").replace("loads", "rounds"),
            )
            my_p99 = median([c.p99_ms for c in ours.cells[per]])
            their_p99 = median([c.p99_ms for c in other.cells[per]])
            results.add(
                f"{per}/request: p99, EnergyLab / original",
                my_p99 / their_p99,
                "ratio",
                "<= 1",
                my_p99 <= their_p99,
            )


if __name__ == "__main__":
    sys.exit(main())
