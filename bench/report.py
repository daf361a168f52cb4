"""Time ``run_report`` for a 1-hour run over 100 servers sampled every second.

    .venv/bin/python bench/report.py [--servers 100] [--seconds 3600] [--steps 6]
                                     [--repeat 5] [--json OUT]

Set-up (not timed): a pod of S push servers at a 1 s interval; a run of the given length with
equal steps; power points in the writer's schema (measurement ``power``, tags pod, server, run,
scenario, step; fields watts, source; microseconds) written with raw line protocol to InfluxDB
database ``bench_<pid>``: one per server and second over the run (360,000 for the defaults) and
over the 5 minutes before it (the idle baseline reports look for).
Timed, each ``--repeat`` times, median shown: ``run_report(run)`` as it computes a report from
the samples (``compute_report``: an ended run's final report is stored after its first
computation, and served from the database then; bench/history.py times that side) (goal < 1 s), and its parts
side by side: ``fetch_samples`` (``QUERY_SLICES`` parallel queries answered in msgpack, decoded
into arrays), the bare HTTP queries of the same slices (InfluxDB's own time plus transfer, no
decoding; compressed only when ``ENERGYLAB_INFLUXDB_COMPRESSION`` asks, as the app's), the
single JSON query reports used to make (bare, for reference), and the rest (integration and
JSON shaping).
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from _common import (
    INFLUX_DATABASE,
    INFLUX_URL,
    Results,
    base_parser,
    bench_resources,
    drop_pod,
    median,
    setup_django,
    timer,
)

GOAL_S = 1.0
BATCH = 5_000


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=3600, help="run length (3,600 s)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    setup_django()

    from django.conf import settings

    from collectors.models import BMCType, Pod, Server
    from events.influx import accept_encoding
    from events.ingest.correlation import to_ns
    from events.ingest.lineprotocol import field_float, field_string, line, tag_set
    from events.models import Run, Step
    from events.reports.report import (
        QUERY_SLICES,
        SAMPLES_QUERY,
        compute_report,
        fetch_samples,
    )

    servers, seconds, steps = max(1, args.servers), max(60, args.seconds), max(1, args.steps)
    repeat = min(max(1, args.repeat), 20)
    results = Results(
        "report: run_report over InfluxDB",
        params={"servers": servers, "run_s": seconds, "steps": steps, "repeat": repeat},
    )
    pod_name = f"bench-report-{INFLUX_DATABASE}"
    with bench_resources():
        drop_pod(pod_name)
        pod = Pod.objects.create(name=pod_name, poll_interval=1, queue="bench-report")
        try:
            Server.objects.bulk_create(
                Server(pod=pod, name=f"{pod_name}-srv-{i}", bmc_type=BMCType.PUSH)
                for i in range(servers)
            )
            start = int(time.time()) - seconds - 600
            started_at = dt.datetime.fromtimestamp(start, dt.UTC)
            run = Run.objects.create(
                pod=pod,
                scenario="bench report",
                started_at=started_at,
                ended_at=started_at + dt.timedelta(seconds=seconds),
            )
            step_len = seconds / steps
            Step.objects.bulk_create(
                Step(
                    run=run,
                    name=f"step {k + 1}",
                    started_at=started_at + dt.timedelta(seconds=k * step_len),
                    ended_at=started_at + dt.timedelta(seconds=(k + 1) * step_len),
                )
                for k in range(steps)
            )
            # Points in the writer's schema, written raw.
            rng = random.Random(7)
            idle = int(settings.IDLE_WINDOW)
            session = requests.Session()
            points = 0
            batch: list[str] = []
            with timer() as write_time:
                for second in range(-idle, seconds):
                    t_us = (start + second) * 1_000_000 + 250_000
                    step_name = f"step {min(steps, int(second // step_len) + 1)}"
                    in_run = second >= 0
                    for i in range(servers):
                        tags = {"pod": pod_name, "server": f"{pod_name}-srv-{i}"}
                        if in_run:
                            tags.update(run=str(run.pk), scenario="bench report", step=step_name)
                        watts = 150.0 + (100.0 if in_run else 0.0) + rng.random() * 20
                        fields = f"watts={field_float(watts)},source={field_string('dcmi')}"
                        batch.append(line("power", tag_set(tags), fields, t_us))
                        if len(batch) >= BATCH:
                            _post(session, batch)
                            points += len(batch)
                            batch = []
                if batch:
                    _post(session, batch)
                    points += len(batch)
            results.add(
                "points written (set-up)",
                points,
                "points",
                note=f"{points / write_time():,.0f} points/s raw line protocol",
            )

            span_start = run.started_at - dt.timedelta(seconds=settings.IDLE_WINDOW)
            span_end = run.ended_at + dt.timedelta(seconds=2)
            first, last = to_ns(span_start), to_ns(span_end)

            def params(start: int, end: int, inclusive: bool = True) -> dict[str, str]:
                return {
                    "db": INFLUX_DATABASE,
                    "q": SAMPLES_QUERY.format(end="<=" if inclusive else "<"),
                    "epoch": "u",
                    "params": _json({"pod": pod_name, "start": start, "end": end}),
                }

            bounds = [first + (last - first) * k // QUERY_SLICES for k in range(QUERY_SLICES + 1)]
            sessions = [requests.Session() for _ in range(QUERY_SLICES)]

            encoding = accept_encoding()  # as the app asks

            def bare_slice(k: int) -> int:
                response = sessions[k].post(
                    f"{INFLUX_URL}/query",
                    data=params(bounds[k], bounds[k + 1], k + 1 == QUERY_SLICES),
                    headers={"Accept": "application/x-msgpack", "Accept-Encoding": encoding},
                    timeout=60,
                )
                return len(response.content)

            report_times, fetch_times, http_times, json_times = [], [], [], []
            report: dict[str, object] = {}
            with ThreadPoolExecutor(QUERY_SLICES) as pool:
                for _ in range(repeat):
                    with timer() as t_json:
                        body = session.post(
                            f"{INFLUX_URL}/query", data=params(first, last), timeout=60
                        ).content
                    json_times.append(t_json())
                    with timer() as t_http:
                        packed = sum(pool.map(bare_slice, range(QUERY_SLICES)))
                    http_times.append(t_http())
                    with timer() as t_fetch:
                        fetched = fetch_samples(pod_name, span_start, span_end)
                    fetch_times.append(t_fetch())
                    with timer() as t_report:
                        # Computed each time: run_report would serve the first one stored.
                        report = compute_report(run)
                    report_times.append(t_report())
            fetched_points = sum(len(v) for v in fetched.values())
            rep = median(report_times)
            fetch = median(fetch_times)
            results.add(
                "run_report", rep, "s", goal="< 1 s", met=rep < GOAL_S, note=f"median of {repeat}"
            )
            results.add("run_report best", min(report_times), "s")
            results.add(
                "  fetch_samples",
                fetch,
                "s",
                note=f"{fetched_points:,} points, {fetched_points / fetch:,.0f} points/s",
            )
            results.add(
                "  bare HTTP queries",
                median(http_times),
                "s",
                note=f"{QUERY_SLICES} in parallel, {packed / 1e6:.1f} MB of msgpack, not decoded",
            )
            results.add(
                "  (one JSON query, bare)",
                median(json_times),
                "s",
                note=f"{len(body) / 1e6:.1f} MB, as reports read before; not used",
            )
            results.add(
                "  rest (integration, shaping)", rep - fetch, "s", note="run_report - fetch"
            )
            total = report.get("total", {})
            energy = total.get("energy_j") if isinstance(total, dict) else None
            results.add("report total energy", (energy or 0) / 3.6e6, "kWh", note="sanity")
        finally:
            drop_pod(pod_name)
    results.print_table()
    results.write_json(args.json)
    return 0


def _post(session: requests.Session, lines: list[str]) -> None:
    response = session.post(
        f"{INFLUX_URL}/write",
        params={"db": INFLUX_DATABASE, "precision": "u"},
        data="\n".join(lines).encode(),
        timeout=60,
    )
    response.raise_for_status()


def _json(value: object) -> str:
    import json

    return json.dumps(value)


if __name__ == "__main__":
    sys.exit(main())
