"""Events/s and latency of the events APIs behind gunicorn, under a bounded local load.

    .venv/bin/python bench/events.py [--mode native-step,legacy-step] [--seconds S] [--runs N]
                                     [--connections C] [--pods P] [--workers W]
                                     [--baseline DIR] [--peer DIR [--peer-venv VENV]]
                                     [--json OUT]

Starts gunicorn (the production server of docker/compose.yaml, debug off) on a free loopback
port, on the bench's PostgreSQL database, with P pods each running a run; then ``wrk`` (Debian's
package, a C load generator that costs little CPU beside the server) sends step events
round-robin over the pods for S seconds on C connections, N times. Every request is a real
event: it locks the pod, ends the running step and opens a new one. Modes:

- ``native-step``: ``POST /api/v1/events/`` ``{"type": "step", ...}`` with a token;
- ``legacy-step``: ``POST /resources/recorders/environment/{pod}/step`` ``{"step": ...}`` with
  basic credentials, as Functest's client sends it.

Side by side in the same run, cells interleaved (each round loads every mode on every server in
turn, so the machine's drift reaches them all alike) under the same wrk load:

- ``--baseline DIR``: EnergyLab from another tree (``git archive COMMIT | tar -x -C DIR``), on
  its own database (``<bench database>_baseline``, migrated by its own code);
- ``--peer DIR``: the original OPNFV recorder exported into DIR, run with ``--peer-venv``
  (bench/_peer.py); legacy-step only, since it has no native API.

Figures are medians of the N loads, with each server's rate over EnergyLab's as a ratio. Goals:
p99 < 50 ms on native steps; the legacy step path at least twice the original recorder's rate.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# bench/ is sys.path[0]
from _common import (
    INFLUX_URL,
    ROOT,
    WRK_RESPONSE,
    Results,
    _ensure_pg_database,
    base_parser,
    bench_env,
    median,
)
from _peer import OriginalRecorder
from cryptography.fernet import Fernet

GOAL_P99_MS = 50.0
GOAL_PEER_RATIO = 2.0
MODES = ("native-step", "legacy-step")
SCENARIO = "bench scenario"

LUA = (
    r"""
-- Round-robin step events over the bench's pods, each with a unique step name.
local pods = {%(pods)s}
local counter = 0
request = function()
  counter = counter + 1
  local pod = pods[(counter %% #pods) + 1]
  local step = "step " .. counter
  %(request)s
end
"""
    + WRK_RESPONSE
)
REQUESTS = {
    "native-step": r"""
  local body = '{"type": "step", "pod": "' .. pod .. '", "step": "' .. step .. '"}'
  return wrk.format("POST", "/api/v1/events/", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Token %(token)s",
  }, body)""",
    "legacy-step": r"""
  local body = '{"step": "' .. step .. '"}'
  return wrk.format("POST", "/resources/recorders/environment/" .. pod .. "/step", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Basic %(basic)s",
  }, body)""",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One server under load: its name in the table, address, process, and what it answers."""

    label: str
    url: str
    process: subprocess.Popen[bytes]
    modes: tuple[str, ...]
    loads: dict[str, list[tuple[float, float, float, int]]] = field(default_factory=dict)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)


def post_json(url: str, body: dict[str, str], headers: dict[str, str]) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
        answer.read()


# Run in the tree's own manage.py shell: the bench's user, its password and its token.
SETUP_USER = """
import os
from django.contrib.auth.models import User
user, _ = User.objects.get_or_create(username="bench")
user.set_password(os.environ["BENCH_PASSWORD"])
user.save()
try:
    from access.tokens import issue_token
except ImportError:  # a tree from before hashed tokens
    from rest_framework.authtoken.models import Token
    print(Token.objects.get_or_create(user=user)[0].key)
else:
    print(issue_token(user)[1])
"""


def start_energylab(
    label: str, root: Path, database: str, port: int, workers: int, password: str
) -> tuple[Server, str]:
    """EnergyLab of the tree ``root`` migrated on ``database`` and serving on ``port``; returns
    the server and its token for the user ``bench`` (whose password is ``password``)."""
    if database.startswith("postgres"):
        _ensure_pg_database(database)
    env = {
        **os.environ,
        **bench_env(),
        "PYTHONPATH": f"{root}{os.pathsep}{root / 'sdk'}",
        "ENERGYLAB_DATABASE_URL": database,
        # Production settings: debug off (Django then keeps no log of every query), with
        # throw-away keys; the bench's pods need neither.
        "ENERGYLAB_DEBUG": "false",
        "ENERGYLAB_SECRET_KEY": secrets.token_urlsafe(50),
        "ENERGYLAB_CREDENTIALS_KEY": Fernet.generate_key().decode(),
        # A limit no load reaches: trees before issue 16 limit authenticated clients by
        # default, today's do not; set alike, every tree pays the throttle's Redis call per
        # event, so their figures compare.
        "ENERGYLAB_EVENTS_RATE": "10000000/min",
        "ENERGYLAB_LOG_LEVEL": "WARNING",
        "BENCH_PASSWORD": password,
    }
    manage = [sys.executable, str(root / "manage.py")]
    for command in (["migrate", "--no-input", "-v0"], ["shell", "-c", SETUP_USER]):
        done = subprocess.run(
            [*manage, *command], cwd=root, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise SystemExit(f"{label}: manage.py {command[0]} failed:\n{done.stderr[-3000:]}")
    token = done.stdout.strip().splitlines()[-1]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [
            str(gunicorn),
            "energylab.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=root,
        env=env,
        start_new_session=True,
    )
    return Server(label, f"http://127.0.0.1:{port}", process, MODES), token


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    """Until ``url`` answers 200, or SystemExit after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer at {url} within {timeout:.0f} s")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the server's processes, PostgreSQL's, Redis's and InfluxDB's
    (the original recorder's store), from /proc.

    Read before and after a load, the differences say where the machine's CPU went per event:
    the figure to improve when the machine is saturated (the rate alone hides it).
    """
    used = {"server": 0.0, "postgresql": 0.0, "redis": 0.0, "influxdb": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        parent, group = int(fields[1]), int(fields[2])
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        if group == server_pid or parent == server_pid or int(entry.name) == server_pid:
            used["server"] += seconds
        elif name == "postgres":
            used["postgresql"] += seconds
        elif name.startswith("redis-server"):
            used["redis"] += seconds
        elif name == "influxd":
            used["influxdb"] += seconds
    return used


def parse_wrk(output: str) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx count) from ``wrk --latency`` output."""

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return rate, p50, p99, int(non2xx.group(1)) if non2xx else 0


def wrk_load(wrk: str, args: argparse.Namespace, url: str, script: str | None) -> str:
    """wrk's report of one load of ``args.seconds`` on ``args.connections`` connections."""
    command = [wrk, "--latency", "-t2", f"-c{args.connections}", f"-d{args.seconds}s"]
    command += ["--timeout", "5s", *(["-s", script] if script else []), url]
    run = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds + 60)
    if run.stderr.strip():
        print(run.stderr, file=sys.stderr)
    return run.stdout


def spread(values: list[float], form: str) -> str:
    """A table note such as ``median of 3 loads: 1,043-1,101``; empty for one load."""
    if len(values) < 2:
        return ""
    low, high = form.format(min(values)), form.format(max(values))
    return f"median of {len(values)} loads: {low}-{high}"


def parse_args() -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--mode",
        default="native-step",
        help=f"comma-separated modes among {', '.join(MODES)} (native-step)",
    )
    parser.add_argument("--seconds", type=int, default=10, help="load duration (10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--pods", type=int, default=50, help="pods events go to (50)")
    parser.add_argument(
        "--runs", type=int, default=3, help="loads in a row; goals read on the median (3)"
    )
    cores = os.cpu_count() or 2
    parser.add_argument(
        "--workers",
        type=int,
        default=cores,
        help=f"gunicorn workers of every server (one per core: {cores})",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        action="append",
        default=[],
        help="EnergyLab from another tree, side by side, named by its folder (repeatable)",
    )
    parser.add_argument(
        "--peer",
        type=Path,
        metavar="DIR",
        help="the original recorder's exported tree, side by side (legacy-step only)",
    )
    parser.add_argument(
        "--peer-venv",
        type=Path,
        metavar="VENV",
        help="the virtualenv the original recorder runs in (DIR/../venv)",
    )
    args = parser.parse_args()
    args.modes = tuple(m.strip() for m in args.mode.split(",") if m.strip())
    if not args.modes or any(m not in MODES for m in args.modes):
        parser.error(f"--mode takes {', '.join(MODES)}, comma-separated")
    if not 1 <= args.seconds <= 120:
        parser.error("--seconds must be 1 to 120")
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be 1 to 20")
    if args.peer is not None:
        if "legacy-step" not in args.modes:
            parser.error("--peer needs --mode legacy-step: the original has no native API")
        args.peer = args.peer.resolve()
        args.peer_venv = (args.peer_venv or args.peer.parent / "venv").resolve()
    return args


def pod_names(count: int) -> list[str]:
    # No character a path would need to escape: every server gets the same requests.
    return [f"bench-pod-{i}" for i in range(count)]


def start_runs(server: Server, pods: list[str], token: str) -> None:
    """A running run on every pod, through the server's own API."""
    for pod in pods:
        if "native-step" in server.modes:
            body = {"type": "start", "pod": pod, "scenario": SCENARIO, "step": "first"}
            post_json(f"{server.url}/api/v1/events/", body, {"Authorization": f"Token {token}"})
        else:
            path = f"/resources/recorders/environment/{pod}"
            post_json(f"{server.url}{path}", {"scenario": SCENARIO, "step": "first"}, {})


def lua_script(mode: str, pods: list[str], token: str, basic: str) -> str:
    request = REQUESTS[mode] % {"token": token, "basic": basic}
    return LUA % {"pods": ", ".join(json.dumps(p) for p in pods), "request": request}


def main() -> int:
    args = parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (apt-get install wrk): no figures", file=sys.stderr)
        return 0
    database = bench_env()["ENERGYLAB_DATABASE_URL"]
    password = secrets.token_urlsafe(16)
    basic = base64.b64encode(f"bench:{password}".encode()).decode()
    pods = pod_names(args.pods)
    results = Results(
        "events",
        {
            "modes": ",".join(args.modes),
            "seconds": args.seconds,
            "connections": args.connections,
            "pods": args.pods,
            "gunicorn workers": args.workers,
            "loads": args.runs,
            **({"baselines": ",".join(map(str, args.baseline))} if args.baseline else {}),
            **({"peer": str(args.peer)} if args.peer else {}),
        },
    )
    servers: list[Server] = []
    tokens: dict[str, str] = {}
    peer: OriginalRecorder | None = None
    scripts: list[str] = []
    try:
        trees = [("EnergyLab", ROOT, database)]
        for tree in args.baseline:
            if not database.startswith("postgres"):
                raise SystemExit("--baseline needs the bench's PostgreSQL database")
            label = tree.resolve().name
            # Its own database: its migrations may differ from this tree's.
            suffix = re.sub(r"\W", "_", label).lower()
            trees.append((label, tree.resolve(), f"{database}_{suffix}"))
        for label, root, url in trees:
            server, tokens[label] = start_energylab(
                label, root, url, free_port(), args.workers, password
            )
            servers.append(server)
            wait_until_up(f"{server.url}/api/v1/time/")
        if args.peer is not None:
            peer = OriginalRecorder(
                args.peer, args.peer_venv, free_port(), args.workers, INFLUX_URL
            ).__enter__()
            assert peer.process is not None
            servers.append(Server("original", peer.url, peer.process, ("legacy-step",)))
            wait_until_up(f"{peer.url}/resources/monitoring/ping")
        for server in servers:
            start_runs(server, pods, tokens.get(server.label, ""))
        script_of: dict[tuple[str, str], str] = {}
        for server in servers:
            for mode in args.modes:
                with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
                    script.write(lua_script(mode, pods, tokens.get(server.label, ""), basic))
                scripts.append(script.name)
                script_of[server.label, mode] = script.name
        # Unrecorded: the first requests of a worker import and build what the next ones reuse.
        warm_up = argparse.Namespace(**{**vars(args), "seconds": 2})
        for server in servers:
            for mode in args.modes:
                if mode in server.modes:
                    wrk_load(wrk, warm_up, server.url, script_of[server.label, mode])
        for round_ in range(args.runs):
            for mode in args.modes:
                for server in servers:
                    if mode not in server.modes:
                        continue
                    before = cpu_seconds(server.process.pid)
                    output = wrk_load(wrk, args, server.url, script_of[server.label, mode])
                    after = cpu_seconds(server.process.pid)
                    load = parse_wrk(output)
                    print(f"round {round_ + 1}, {mode}, {server.label}: {load[0]:,.0f} req/s")
                    server.loads.setdefault(mode, []).append(load)
                    spent = server.cpu.setdefault(mode, dict.fromkeys(after, 0.0))
                    for part in after:
                        spent[part] += (after[part] - before[part]) / (load[0] * args.seconds)
        # The first server answering its cheapest view (the clock: no database, no auth) under
        # the same load: the ceiling of this server on this machine, to read the rate against.
        ceiling_rate, _c50, ceiling_p99, _bad = parse_wrk(
            wrk_load(wrk, args, f"{servers[0].url}/api/v1/time/", None)
        )
        report(results, servers, args, ceiling_rate, ceiling_p99)
    finally:
        for script_name in scripts:
            os.unlink(script_name)
        for server in servers:
            if server.label != "original":
                os.killpg(server.process.pid, signal.SIGTERM)
                server.process.wait(timeout=30)
        if peer is not None:
            peer.__exit__(None, None, None)
    results.print_table()
    results.write_json(args.json)
    return 0


def report(
    results: Results,
    servers: list[Server],
    args: argparse.Namespace,
    ceiling_rate: float,
    ceiling_p99: float,
) -> None:
    """The table: each mode's rate and latency on each server, the ratios, CPU per event."""
    # This machine's speed drifts by 15 % from minute to minute (docs/benchmarks.md): figures
    # are read on the median of the loads, and the spread is printed beside it.
    energylab = servers[0]
    for mode in args.modes:
        for server in servers:
            loads = server.loads.get(mode)
            if not loads:
                continue
            # EnergyLab's native steps keep the rows' old names, to compare with older runs.
            name = "" if (server is energylab and mode == "native-step") else f"{mode}, "
            name += "" if server is energylab else f"{server.label}, "
            rates, p99s = [load[0] for load in loads], [load[2] for load in loads]
            results.add(f"{name}events/s", median(rates), "req/s", note=spread(rates, "{:,.0f}"))
            if server is energylab and mode == "native-step":
                results.add("latency p50", median([load[1] for load in loads]), "ms")
                p99 = median(p99s)
                results.add(
                    "latency p99",
                    p99,
                    "ms",
                    f"< {GOAL_P99_MS:g}",
                    p99 < GOAL_P99_MS,
                    spread(p99s, "{:.0f}"),
                )
            else:
                results.add(f"{name}latency p99", median(p99s), "ms", note=spread(p99s, "{:.0f}"))
            non2xx = sum(load[3] for load in loads)
            results.add(f"{name}non-2xx answers", float(non2xx), "count", "0", non2xx == 0)
            for part, spent in server.cpu[mode].items():
                if spent > 0:
                    results.add(f"{name}CPU per event: {part}", spent / len(loads) * 1000, "ms")
        ours = median([load[0] for load in energylab.loads.get(mode, [])])
        for other in servers[1:]:
            if mode not in other.loads:
                continue
            theirs = median([load[0] for load in other.loads[mode]])
            # Per round too: both cells of a round ran within seconds of each other.
            per_round = [
                a[0] / b[0] for a, b in zip(energylab.loads[mode], other.loads[mode], strict=True)
            ]
            note = spread(per_round, "{:.2f}").replace("loads", "rounds")
            if other.label == "original":
                results.add(
                    f"{mode}: EnergyLab / original",
                    ours / theirs,
                    "ratio",
                    f">= {GOAL_PEER_RATIO:g}",
                    ours / theirs >= GOAL_PEER_RATIO,
                    note,
                )
            else:
                results.add(f"{mode}: EnergyLab / {other.label}", ours / theirs, "ratio", note=note)
    results.add("ceiling: GET /time/", ceiling_rate, "req/s", note="same server, no DB, no auth")
    results.add("ceiling p99", ceiling_p99, "ms")
    if "native-step" in args.modes:
        native = median([load[0] for load in energylab.loads["native-step"]])
        results.add("events / ceiling", native / ceiling_rate, "ratio")


if __name__ == "__main__":
    sys.exit(main())
