"""The writer's worker is SIGKILLed in the middle of big flushes, three times, while a scenario
is recorded from simulated BMCs; a new worker takes over: every pushed sample is in InfluxDB
exactly once.

Design: the poll worker and the writer worker are separate processes (queues ``poll`` and
``writer``), so killing the writer stops no poll. Beside the real polls, the test pushes a bulk
load itself (as the legacy measurements API would), so that the backlog a killed writer leaves
makes the next passes big (tens of thousands of samples, several batches): the kills land inside
passes, between a batch's write and its acknowledgement or inside the write. What was pushed is
counted by a tap on the buffer's stream (see :mod:`tests.reliability.pipeline`); what was stored
is every point of the pod in InfluxDB, by (server, time), across all its series, so that a
sample replayed with other run/step tags would show as a duplicate.
"""

from __future__ import annotations

import random
import signal
import threading
import time

import pytest

from collectors.models import Pod
from energylab.testing import wait_until
from events import services
from events.ingest.buffer import Sample, SampleBuffer
from events.tasks import LOCK_TIMEOUT_S
from tests.e2e.conftest import Stack
from tests.reliability.pipeline import (
    Lab,
    StreamTap,
    compare,
    influx_points,
    stop_polling_and_drain,
)

pytestmark = pytest.mark.django_db(transaction=True)

POD = "reliability: writer killed, pod=1"
BULK_SERVERS = 20
BULK_PER_SERVER = 30  # samples per server per push: 600 samples per push
BULK_EVERY_S = 0.2  # 3,000 samples/s
KILLS = 3


@pytest.mark.timeout(240)
def test_a_writer_killed_mid_flush_loses_and_doubles_nothing(stack: Stack, settings) -> None:
    settings.CORRELATION_DELAY = 2.0  # the workers' delay too (Stack.env reads it)
    pod = Pod.objects.create(name=POD, poll_interval=1, queue="poll")
    buffer = SampleBuffer.from_settings()
    lock_key = f"{buffer.prefix}:writer:lock"
    stop = threading.Event()
    bulk_pushed = 0

    def bulk() -> None:
        nonlocal bulk_pushed
        while not stop.is_set():
            now_us = time.time_ns() // 1000
            buffer.push(
                Sample(POD, f"bulk {s}", 100.0 + s, (now_us + k) * 1000, "test")
                for s in range(BULK_SERVERS)
                for k in range(BULK_PER_SERVER)
            )
            bulk_pushed += BULK_SERVERS * BULK_PER_SERVER
            stop.wait(BULK_EVERY_S)

    kills: list[dict[str, object]] = []
    with Lab(pod, 6) as lab, StreamTap(buffer.client, buffer.stream_key) as tap:
        stack.worker("poll", name="poller")
        stack.beat()
        services.start_run(POD, "the writer is killed", step="warm up")
        wait_until(lambda: tap.count() >= 2 * len(lab.servers), 60, "first polls")
        producer = threading.Thread(target=bulk, name="bulk-producer")
        producer.start()
        try:
            time.sleep(6)  # a backlog for the first writer: ~18,000 samples
            for round_ in range(KILLS):
                writer = stack.worker("writer", name=f"writer{round_}", concurrency=1)
                wait_until(
                    # A pass under way (it holds the lock) with samples still to acknowledge.
                    # Not a bigger depth: the writer drains ~100k samples/s, so a pass over
                    # the backlog lasts a fraction of a second.
                    lambda: buffer.client.exists(lock_key) and buffer.depth() > 2_000,
                    60,
                    "a big writer pass",
                    every=0.01,
                )
                # Kill at once, at a random point early in the pass: a pass over the backlog
                # lasts a few tenths of a second.
                time.sleep(random.uniform(0.0, 0.05))
                depth = buffer.depth()
                stack.kill(writer, signal.SIGKILL)
                killed = time.monotonic()
                mid_flush = bool(buffer.client.exists(lock_key))  # a finished pass releases it
                wait_until(
                    lambda: not buffer.client.exists(lock_key),
                    LOCK_TIMEOUT_S + 5,
                    "the killed writer's lock to expire",
                    every=0.05,
                )
                kills.append(
                    {
                        "depth": depth,
                        "mid_flush": mid_flush,
                        "lock_held_s": round(time.monotonic() - killed, 1),
                    }
                )
                services.set_step(POD, f"after kill {round_ + 1}")
            stack.worker("writer", name="writer-last", concurrency=1)
            time.sleep(3)
        finally:
            stop.set()
            producer.join(timeout=10)
        services.stop_run(POD)
        stop_polling_and_drain(stack, buffer, timeout=90)
        time.sleep(0.5)
    expected = tap.snapshot()
    found = influx_points(POD)
    figures = compare(expected, found)
    polled = sum(n for (server, _t), n in expected.items() if not server.startswith("bulk "))
    print(
        f"samples expected {figures['expected']} (polled {polled}, bulk {bulk_pushed}), "
        f"found {figures['found']}, lost {figures['lost']}, duplicated {figures['duplicated']}, "
        f"extra {figures['extra']}; kills {kills}; tap lag max {tap.max_lag_s:.2f} s"
    )
    assert tap.max_lag_s < settings.CORRELATION_DELAY  # the tap saw every entry before its ack
    assert sum(n for (s, _t), n in expected.items() if s.startswith("bulk ")) == bulk_pushed
    assert polled >= 6 * 10
    assert len(kills) == KILLS
    assert any(k["mid_flush"] for k in kills), "no kill landed inside a pass"
    assert all(float(k["lock_held_s"]) <= LOCK_TIMEOUT_S + 1 for k in kills)  # type: ignore[arg-type]
    assert figures["pushed_twice"] == 0
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["extra"] == 0
    assert figures["found"] == figures["expected"]
    assert buffer.dropped() == 0
    assert buffer.rejected() == 0
