"""Samples/s through buffer -> correlation -> InfluxDB, beside a raw write and a per-sample path.

    .venv/bin/python bench/ingest.py [--size N] [--servers S] [--json OUT]

What runs, in one process and one run (this machine is noisy, so only side-by-side ratios count):
1. set-up (not timed): a pod of S servers (with topology), a run with steps every 5 minutes
   covering most of the samples; N samples (S servers x N/S seconds at 1 s, in the past) pushed
   into the Redis buffer in entries of S samples, as the poll tasks push them;
2. raw: the same points as line protocol (built beforehand) POSTed to ``/write`` of the same
   InfluxDB in batches of 5,000 on one keep-alive session, into a database of its own
   (twice: before and after the writer, the figure is their mean);
3. pipeline: ``InfluxWriter.flush`` until the buffer is drained (Redis read, JSON decoding,
   correlation query, topology, line building, write, acknowledge);
4. per sample, as the original recorder did: one correlation query and one write per sample,
   on a smaller N (``--per-sample``), scaled to samples/s.
Goals: pipeline/raw >= 0.5; pipeline/per-sample >= 30x.
"""

from __future__ import annotations

import datetime as dt
import gc
import random
import sys
import time

import requests
from _common import (
    INFLUX_DATABASE,
    INFLUX_URL,
    Results,
    base_parser,
    bench_resources,
    drop_pod,
    setup_django,
    timer,
)

RAW_BATCH = 5_000
GOAL_RAW_RATIO = 0.5
GOAL_PER_SAMPLE_RATIO = 30.0
MAX_SECONDS = 600.0


def raw_write(lines: list[str], database: str) -> float:
    """POST prebuilt lines in batches of 5,000; returns seconds."""
    session = requests.Session()
    requests.post(
        f"{INFLUX_URL}/query", params={"q": f'CREATE DATABASE "{database}"'}, timeout=10
    ).raise_for_status()
    with timer() as elapsed:
        for i in range(0, len(lines), RAW_BATCH):
            body = "\n".join(lines[i : i + RAW_BATCH]).encode()
            r = session.post(
                f"{INFLUX_URL}/write",
                # The writer's lines carry nanoseconds, as it writes them.
                params={"db": database, "precision": "n"},
                data=body,
                timeout=60,
            )
            r.raise_for_status()
    session.close()
    return elapsed()


def drop(database: str) -> None:
    requests.post(f"{INFLUX_URL}/query", params={"q": f'DROP DATABASE "{database}"'}, timeout=30)


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000, help="samples (200,000)")
    parser.add_argument("--servers", type=int, default=100, help="servers of the pod (100)")
    parser.add_argument(
        "--per-sample", type=int, default=2_000, help="samples of the per-sample path (2,000)"
    )
    args = parser.parse_args()
    setup_django()

    from collectors.models import BMCType, Pod, Server
    from events.influx import make_client
    from events.ingest.buffer import Sample, SampleBuffer
    from events.ingest.correlation import Correlator
    from events.ingest.writer import InfluxWriter
    from events.models import Run, Step

    servers = max(1, args.servers)
    per_server = max(1, args.size // servers)
    n = per_server * servers
    results = Results(
        "ingest: buffer -> correlation -> InfluxDB",
        params={"samples": n, "servers": servers, "per_sample_n": args.per_sample},
    )
    pod_name = f"bench-ingest-{INFLUX_DATABASE}"
    raw_db = f"{INFLUX_DATABASE}_raw"
    with bench_resources():
        drop_pod(pod_name)
        pod = Pod.objects.create(name=pod_name, poll_interval=1, queue=f"{pod_name}-q")
        try:
            Server.objects.bulk_create(
                Server(
                    pod=pod,
                    name=f"{pod_name}-srv-{i}",
                    bmc_type=BMCType.PUSH,
                    dc="dc1",
                    room="r1",
                    row=f"row{i // 20}",
                    rack=f"rack{i // 5}",
                )
                for i in range(servers)
            )
            start_s = int(time.time()) - per_server - 3600
            # A run over 90 % of the samples, a step every 5 minutes, the last step open.
            run = Run.objects.create(
                pod=pod,
                scenario="bench ingest",
                started_at=dt.datetime.fromtimestamp(start_s + per_server * 0.05, dt.UTC),
                ended_at=dt.datetime.fromtimestamp(start_s + per_server * 0.95, dt.UTC),
            )
            step_starts = range(int(per_server * 0.05), int(per_server * 0.95), 300)
            Step.objects.bulk_create(
                Step(
                    run=run,
                    name=f"step {k}",
                    started_at=dt.datetime.fromtimestamp(start_s + s, dt.UTC),
                    ended_at=dt.datetime.fromtimestamp(start_s + s + 290, dt.UTC),
                )
                for k, s in enumerate(step_starts)
            )
            names = [f"{pod_name}-srv-{i}" for i in range(servers)]
            rng = random.Random(1)
            buffer = SampleBuffer.from_settings()
            buffer.max_samples = max(buffer.max_samples, 2 * n)
            buffer.clear()
            with timer() as push_time:
                for k in range(per_server):
                    t_ns = (start_s + k) * 1_000_000_000 + rng.randrange(1_000_000) * 1000
                    buffer.push(
                        Sample(pod_name, name, 200.0 + rng.random() * 100, t_ns, "dcmi")
                        for name in names
                    )
            results.add("buffer push (set-up)", n / push_time(), "samples/s")

            # The raw reference gets the writer's own lines, built beforehand.
            client = make_client()
            writer = InfluxWriter(buffer, client, delay=0.0)
            entries = buffer.read_ready(0.0, n + servers)
            lines = writer.lines_for([s for e in entries for s in e.samples])
            small = [s for e in entries for s in e.samples][: args.per_sample]
            del entries
            writer = InfluxWriter(buffer, client, delay=0.0)  # a fresh tag cache for the run
            # Steps export once per step edge, not per sample: done before the clock starts,
            # all of them (an export takes at most 5,000 steps; the bench database keeps the
            # steps of every bench/events.py run, which the timed pass would export otherwise).
            while writer.export_steps() >= 5000:
                pass
            raw1 = raw_write(lines, raw_db)
            drop(raw_db)

            flushes = 0
            deadline = time.monotonic() + MAX_SECONDS
            # The bench's own objects (the Django set-up, the models of the steps made above)
            # are moved out of the cyclic collector's sight while the pipeline runs: a writer
            # process holds none of them, and every full collection during the pass would walk
            # them (measured: 0.44 s of a 200,000-sample pass, against 0.12 s frozen).
            gc.collect()
            gc.freeze()
            try:
                with timer() as pipe_time:
                    while buffer.depth() > 0 and time.monotonic() < deadline:
                        stats = writer.flush(time_budget=60.0)
                        flushes += 1
                        if stats.error:
                            raise RuntimeError(f"writer failed: {stats.error}")
            finally:
                gc.unfreeze()
            left = buffer.depth()
            raw2 = raw_write(lines, raw_db)
            drop(raw_db)

            raw_rate = 2 * len(lines) / (raw1 + raw2)
            pipe_rate = (n - left) / pipe_time()
            results.add("raw line-protocol write (1st)", len(lines) / raw1, "points/s")
            results.add("raw line-protocol write (2nd)", len(lines) / raw2, "points/s")
            results.add("raw, mean", raw_rate, "points/s")
            results.add(
                "pipeline (InfluxWriter.flush)",
                pipe_rate,
                "samples/s",
                note=f"{flushes} flush call(s), {pipe_time():.2f} s, {left} left",
            )
            ratio = pipe_rate / raw_rate
            results.add("pipeline / raw", ratio, "x", goal=">= 0.5", met=ratio >= GOAL_RAW_RATIO)

            # Per-sample path: one correlation query + one write per sample.
            legacy_client = make_client()
            with timer() as per_time:
                for sample in small:
                    correlator = Correlator.for_window(
                        [sample.pod], sample.measured_at_ns, sample.measured_at_ns
                    )
                    tags = correlator.at(sample.pod, sample.measured_at_ns)
                    step = tags.step if tags and tags.step else ""
                    point = (
                        f"power,pod={pod_name},server={sample.server}"
                        + (f",step={step.replace(' ', chr(92) + ' ')}" if step else "")
                        + f" watts={sample.watts!r} {sample.measured_at_ns // 1000}"
                    )
                    legacy_client.write_points([point], protocol="line", time_precision="u")
            per_rate = len(small) / per_time()
            results.add("per-sample path (query + write)", per_rate, "samples/s")
            speedup = pipe_rate / per_rate
            results.add(
                "pipeline / per-sample",
                speedup,
                "x",
                goal=">= 30x",
                met=speedup >= GOAL_PER_SAMPLE_RATIO,
            )
            results.extra["writer_points"] = len(lines)
        finally:
            drop_pod(pod_name)
            drop(raw_db)
    results.print_table()
    results.write_json(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
