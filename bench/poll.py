"""Polling N simulated BMCs: a bare driver loop beside the real pipeline (Celery worker + beat).

    .venv/bin/python bench/poll.py [--size 100,500,2000 | --quick] [--seconds 30]
                                   [--pool threads] [--concurrency 4] [--interval 5]
                                   [--json OUT]

For each size N (half IPMI in one IPMISimulatorGroup, half Redfish, all in a simulator
*subprocess*, ``manage.py simulate_lab``, so they do not share the GIL of what is measured):
(a) bare loop: the drivers read every BMC round-robin on a plain ThreadPoolExecutor of
    ``POLL_THREADS`` threads, as fast as they can, for ``--bare-seconds`` (reads/s): the most
    the drivers and simulators give on this machine;
(b) pipeline: a pod of the N servers at a 5 s interval on a queue of its own, a real Celery
    worker process and a beat process (as tests/e2e/conftest.py starts them) for ``--seconds``;
    the samples are then read back from the Redis buffer (DB 15).
Lateness (see docs/benchmarks.md): beat's log gives when each shard's task was sent; the
schedule of a shard is the grid d0 + k*5 s that its sends keep to (d0 fitted to all its sends:
the first one can be beat joining the grid late). Each sample belongs to the last tick at or
before its ``measured_at`` and is late by ``measured_at - tick``. Every (server, tick) in the
measuring window is one expected poll; it is on time when a sample came within 1 s of the tick
(a missing sample counts as late). The first ``--warmup`` seconds are left out: the pipeline's
first contact with each BMC (in each worker process: logins, Redfish discovery), as the bare
loop's untimed first pass is; at 2,000 BMCs that takes 20-25 s here, hence 30 s.
CPU: the worker's processes' CPU seconds in the window per poll, beside the bare loop's per read.
Goals: pipeline polls/s / bare reads/s >= 0.5; >= 99 % on time at 2,000 BMCs every 5 s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import (
    BENCH_REDIS_URL,
    ROOT,
    Results,
    base_parser,
    bench_env,
    bench_resources,
    drop_pod,
    median,
    percentile,
    setup_django,
)

INTERVAL = 5  # seconds between two polls of a server; --interval changes it
ON_TIME_S = 1.0
GOAL_RATIO = 0.5
GOAL_ON_TIME = 99.0
BEAT_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/MainProcess\] "
    r"Scheduler: Sending due task (poll pod \d+ shard \d+/\d+)"
)


class Procs:
    """Child processes, each in its own session; stopped by pid, never by name."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.items: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.items.append((name, proc))
        return proc

    def pid(self, name: str) -> int:
        return dict(self.items)[name].pid

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_log(self, name: str, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log(name):
                return
            proc = dict(self.items)[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log(name)[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"{name}: no {needle!r} within {timeout:.0f} s")

    def stop(self, name: str | None = None) -> None:
        for proc_name, proc in reversed(self.items):
            if name is not None and proc_name != name:
                continue
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYLAB_")}
    env.update(bench_env())
    env["ENERGYLAB_DATABASE_URL"] = os.environ["ENERGYLAB_DATABASE_URL"]
    env["ENERGYLAB_LOG_LEVEL"] = "INFO"
    env.update(extra)
    return env


def bare_loop(
    lab: list[dict[str, Any]], seconds: float, threads: int, close: bool = True
) -> dict[str, float]:
    """Every BMC read round-robin by ``threads`` threads for ``seconds``: reads/s.

    Every BMC is read once first (not timed), so sessions are logged in as in a running worker.
    """
    from collectors.drivers import get_driver
    from collectors.drivers.base import BMCEndpoint, DriverError

    endpoints = [
        (
            bmc["type"],
            BMCEndpoint(
                host="127.0.0.1",
                port=bmc["port"],
                username="admin",
                password="password",
                scheme="http" if bmc["type"] != "ipmi" else None,
                timeout=4.0,
            ),
        )
        for bmc in lab
    ]
    # Warm-up, not timed: one read of every BMC (logins, discovery), as a running worker has.
    warm_deadline = time.monotonic() + 120.0

    def warm(kind: str, endpoint: BMCEndpoint) -> None:
        if time.monotonic() < warm_deadline:
            with contextlib.suppress(DriverError):
                get_driver(kind).read_power(endpoint)

    with ThreadPoolExecutor(threads) as pool:
        for kind, endpoint in endpoints:
            pool.submit(warm, kind, endpoint)

    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "failed": 0}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                index = state["next"]
                state["next"] = (index + 1) % len(endpoints)
            kind, endpoint = endpoints[index]
            t0 = time.perf_counter()
            try:
                get_driver(kind).read_power(endpoint)
                key = "ok"
            except DriverError:
                key = "failed"
            took = time.perf_counter() - t0
            with lock:
                state[key] += 1
                if len(latencies) < 200_000:
                    latencies.append(took)

    started, cpu_started = time.monotonic(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
    if close:
        for kind in ("ipmi", "redfish"):
            get_driver(kind).close()
    return {
        "reads_per_s": state["ok"] / elapsed,
        "cpu_ms_per_read": cpu * 1e3 / max(1, state["ok"] + state["failed"]),
        "failed": state["failed"],
        "p50_ms": median(latencies) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = defaultdict(list)
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children[int(fields[1])].append(int(entry.name))
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


def beat_sends(text: str) -> dict[str, list[float]]:
    sends: dict[str, list[float]] = defaultdict(list)
    for line in text.splitlines():
        m = BEAT_LINE.match(line)
        if m:
            moment = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
            sends[m.group(2)].append(moment.timestamp())  # beat logs local time
    return sends


def grid_origin(sends: list[float]) -> float:
    """The origin d0 of the grid d0 + k * INTERVAL that beat's sends of one shard keep to.

    The median of each send's offset from the grid through the first send: a first send that
    came late (beat joining a shard's grid when it starts) does not shift the whole grid.
    """
    first = min(sends)
    offsets = [(t - first) - round((t - first) / INTERVAL) * INTERVAL for t in sends]
    return first + median(offsets)


def run_size(n: int, args: Any, results: Results, tmp: Path) -> None:
    from django.conf import settings

    from collectors import schedule
    from collectors.models import Pod, Server
    from events.ingest.buffer import SampleBuffer

    n_ipmi, n_redfish = n // 2, n - n // 2
    pod_name = f"bench-poll-{os.getpid()}-{n}"
    queue = f"bench-poll-{os.getpid()}-{n}"
    procs = Procs(tmp)
    lab_file = tmp / f"lab-{n}.json"
    buffer = SampleBuffer.from_settings()
    prefix = f"N={n}: "
    try:
        procs.start(
            "sim",
            [
                sys.executable,
                "manage.py",
                "simulate_lab",
                "--pod",
                pod_name,
                "--ipmi",
                str(n_ipmi),
                "--redfish",
                str(n_redfish),
                "--json-out",
                str(lab_file),
            ],
            child_env(),
        )
        procs.wait_log("sim", "ready:", timeout=120)
        lab = json.loads(lab_file.read_text())["bmcs"]

        # (a) bare driver loop
        bare = bare_loop(lab, args.bare_seconds, settings.POLL_THREADS)
        results.add(
            prefix + "bare loop",
            bare["reads_per_s"],
            "reads/s",
            note=f"{settings.POLL_THREADS} threads; p50 {bare['p50_ms']:.1f} ms, "
            f"p99 {bare['p99_ms']:.1f} ms, {bare['failed']:.0f} failed",
        )

        # (b) pipeline: pod + servers, worker, beat
        drop_pod(pod_name)
        pod = Pod.objects.create(name=pod_name, poll_interval=INTERVAL, queue=queue)
        servers = []
        for bmc in lab:
            server = Server(
                pod=pod,
                name=bmc["name"],
                bmc_type=bmc["type"],
                host=bmc["host"],
                port=bmc["port"],
                username="admin",
            )
            server.password = "password"
            servers.append(server)
        Server.objects.bulk_create(servers, batch_size=500)
        schedule.sync_pod(pod)
        shards = schedule.wanted_shards(pod)
        ordered = list(Server.objects.filter(pod=pod).order_by("pk").values_list("name", flat=True))
        shard_of = {name: i % shards for i, name in enumerate(ordered)} if shards > 1 else {}
        buffer.clear()

        procs.start(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "energylab",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={args.concurrency}",
                f"--pool={args.pool}",
                "-Q",
                queue,
                "-n",
                f"bench-{os.getpid()}-{n}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            child_env(),
        )
        procs.wait_log("worker", " ready.", timeout=60)
        procs.start(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "energylab",
                "beat",
                "--loglevel=INFO",
                "--max-interval=1",
                "-s",
                str(tmp / f"beat-{n}"),
            ],
            child_env(),
        )
        t_start = time.time()
        time.sleep(args.warmup)
        cpu_w0 = cpu_seconds(procs.pid("worker"))
        time.sleep(args.seconds)
        cpu_w1 = cpu_seconds(procs.pid("worker"))
        time.sleep(INTERVAL)  # the last window's polls finish
        procs.stop("beat")
        time.sleep(1)
        procs.stop("worker")

        # Read the samples back; lateness against beat's grid.
        sends = beat_sends(procs.log("beat"))
        mine = {k: v for k, v in sends.items() if k.startswith(f"poll pod {pod.pk} ")}
        shard_sends = {int(k.split(" shard ")[1].split("/")[0]) - 1: v for k, v in mine.items()}
        origin = {shard: grid_origin(v) for shard, v in shard_sends.items()}
        w0, w1 = t_start + args.warmup, t_start + args.warmup + args.seconds
        drift = [
            t - (origin[shard] + round((t - origin[shard]) / INTERVAL) * INTERVAL)
            for shard, v in shard_sends.items()
            for t in v
            if w0 <= t < w1
        ]
        seen: dict[tuple[str, int], float] = {}
        all_samples = 0
        for entry in buffer.read_ready(0.0, 10_000_000):
            for sample in entry.samples:
                all_samples += 1
                shard = shard_of.get(sample.server, 0)
                if shard not in origin:
                    continue
                t = sample.measured_at_ns / 1e9
                k = math.floor((t - origin[shard]) / INTERVAL)
                late = t - (origin[shard] + k * INTERVAL)
                key = (sample.server, k)
                seen[key] = min(late, seen.get(key, math.inf))
        if not origin:
            raise RuntimeError(f"beat sent no poll task: {procs.log('beat')[-2000:]}")
        # The measuring window: ticks whose time is in [start + warmup, start + warmup + seconds).
        expected = 0
        lateness: list[float] = []
        on_time = 0
        for name in ordered:
            d0 = origin.get(shard_of.get(name, 0))
            if d0 is None:
                continue
            for k in range(math.ceil((w0 - d0) / INTERVAL), math.ceil((w1 - d0) / INTERVAL)):
                expected += 1
                best = seen.get((name, k))
                if best is not None:
                    lateness.append(best)
                    on_time += best <= ON_TIME_S
        got = len(lateness)
        polls_per_s = got / args.seconds
        ratio = polls_per_s / bare["reads_per_s"] if bare["reads_per_s"] else float("nan")
        pct = 100.0 * on_time / expected if expected else float("nan")
        results.add(
            prefix + "pipeline",
            polls_per_s,
            "polls/s",
            note=f"schedule asks {n / INTERVAL:.0f}/s; {got} of {expected} expected polls "
            f"in {args.seconds:.0f} s; {shards} shard(s), {args.pool} pool, concurrency {args.concurrency}",
        )
        # The ratio measures the pipeline's capacity only when the schedule asks at least what
        # the bare loop gives; below that, the pipeline cannot make more polls than asked and
        # the ratio is bounded by the demand (then "pipeline / schedule" is the figure to read,
        # and a run with a shorter --interval measures the capacity: make bench does both).
        saturated = n / INTERVAL >= bare["reads_per_s"]
        results.add(
            prefix + "pipeline / bare",
            ratio,
            "x",
            goal=">= 0.5" if saturated else "",
            met=(ratio >= GOAL_RATIO) if saturated else None,
            note="" if saturated else f"bounded by the schedule's {n / INTERVAL:.0f} polls/s",
        )
        results.add(
            prefix + "pipeline / schedule",
            polls_per_s / (n / INTERVAL),
            "x",
            note=f"polls made / polls the {INTERVAL:g} s schedule asks for",
        )
        results.add(
            prefix + "on time (<= 1 s)",
            pct,
            "%",
            goal=">= 99 %" if n >= 2000 and INTERVAL == 5 else "",
            met=(pct >= GOAL_ON_TIME) if n >= 2000 and INTERVAL == 5 else None,
        )
        results.add(prefix + "lateness p50", median(lateness) * 1e3, "ms")
        results.add(prefix + "lateness p99", percentile(lateness, 99) * 1e3, "ms")
        results.add(prefix + "lateness max", max(lateness, default=float("nan")) * 1e3, "ms")
        results.add(
            prefix + "beat send drift p99",
            percentile([abs(d) for d in drift], 99) * 1e3,
            "ms",
            note="beat's sends in the window vs its own grid",
        )
        cpu_per_poll = (cpu_w1 - cpu_w0) / got if got else float("nan")
        results.add(
            prefix + "CPU per poll, pipeline",
            cpu_per_poll * 1e3,
            "ms",
            note=f"worker processes: {cpu_w1 - cpu_w0:.1f} CPU s in {args.seconds:.0f} s; "
            f"bare loop {bare['cpu_ms_per_read']:.2f} ms per read",
        )
        results.extra[f"n{n}"] = {
            "bare": bare,
            "samples_in_buffer": all_samples,
            "expected": expected,
            "got": got,
            "on_time": on_time,
            "shards": shards,
            "beat_sends": {k: len(v) for k, v in mine.items()},
        }
        if args.keep_logs:
            print(f"logs of N={n} in {tmp}")
    finally:
        procs.stop()
        drop_pod(pod_name)
        buffer.clear()


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", default="100,500,2000", help="BMC counts (100,500,2000)")
    parser.add_argument("--quick", action="store_true", help="sizes 100 and 500")
    parser.add_argument("--seconds", type=float, default=30.0, help="pipeline window (30 s)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="left out at first: the worker's first contact with every BMC (30 s)",
    )
    parser.add_argument("--bare-seconds", type=float, default=8.0, help="bare loop (8 s)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="worker slots (default: the settings', ENERGYLAB_CELERY_CONCURRENCY, 4)",
    )
    parser.add_argument(
        "--pool",
        choices=["prefork", "threads"],
        default=None,
        help="Celery pool of the worker (default: the settings', ENERGYLAB_CELERY_POOL, threads: "
        "one process, BMC sessions shared; prefork: a process per slot)",
    )
    parser.add_argument(
        "--interval",
        type=int,
        default=5,
        help="pod poll interval (5 s, the goal's); shorter asks more than the pipeline gives, "
        "which measures its most polls/s",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the children's logs")
    args = parser.parse_args()
    global INTERVAL
    INTERVAL = max(1, args.interval)
    sizes = [100, 500] if args.quick else [int(s) for s in args.size.split(",") if s.strip()]
    args.seconds = min(max(args.seconds, 10.0), 300.0)
    args.bare_seconds = min(max(args.bare_seconds, 2.0), 60.0)
    setup_django()
    from django.conf import settings

    assert settings.REDIS_URL == BENCH_REDIS_URL
    # The worker gets the same environment, so without flags it runs the settings' pool.
    args.pool = args.pool or settings.CELERY_WORKER_POOL
    args.concurrency = args.concurrency or settings.CELERY_WORKER_CONCURRENCY
    results = Results(
        "poll: bare driver loop vs Celery pipeline",
        params={
            "sizes": sizes,
            "interval_s": INTERVAL,
            "window_s": args.seconds,
            "concurrency": args.concurrency,
            "pool": args.pool,
            "poll_threads": settings.POLL_THREADS,
            "shard_size": settings.POLL_SHARD_SIZE,
        },
    )
    with bench_resources(influx=False):
        tmp = Path(tempfile.mkdtemp(prefix="bench-poll-"))
        try:
            for n in sizes:
                run_size(n, args, results, tmp)
                results.print_table()  # as we go: a long run shows its progress
        finally:
            if args.keep_logs:
                print(f"logs kept in {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    results.write_json(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
