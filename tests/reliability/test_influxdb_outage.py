"""InfluxDB stops while samples flow, then comes back: every sample lands once."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from django.conf import settings as django_settings

from collectors.models import Pod
from energylab.testing import PrivateInfluxDB, wait_until
from events.influx import make_client
from events.ingest.buffer import Sample, SampleBuffer
from events.ingest.writer import InfluxWriter

pytestmark = pytest.mark.django_db(transaction=True)

SERVERS = [f"node {i}, rack=A" for i in range(10)]


@pytest.mark.timeout(120)
def test_every_sample_lands_once_across_an_influxdb_outage(
    private_influxdb: PrivateInfluxDB, redis_url: str, settings
) -> None:
    settings.INFLUXDB_URL = private_influxdb.url
    settings.INFLUXDB_DATABASE = "outage"
    Pod.objects.create(name="pod outage")
    buffer = SampleBuffer(
        redis.Redis.from_url(redis_url), 1_000_000, prefix=django_settings.REDIS_KEY_PREFIX
    )
    buffer.clear()
    writer = InfluxWriter(buffer, make_client(timeout=2), delay=0)
    pushed = 0
    stop = threading.Event()

    def poller() -> None:
        # Ten servers polled every 50 ms for six seconds: 1,200 samples, each with its own time.
        nonlocal pushed
        tick = 0
        while not stop.is_set() and tick < 120:
            now_ns = time.time_ns()
            buffer.push(
                Sample("pod outage", s, 100.0 + tick, now_ns + i * 1000, "test")
                for i, s in enumerate(SERVERS)
            )
            pushed += len(SERVERS)
            tick += 1
            time.sleep(0.05)

    errors: list[str] = []

    def writer_loop() -> None:
        while not stop.is_set():
            stats = writer.flush(time_budget=1.0)
            if stats.error:
                errors.append(stats.error)
            time.sleep(0.1)

    threads = [threading.Thread(target=poller), threading.Thread(target=writer_loop)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        private_influxdb.stop()
        time.sleep(2.5)
        held_during_outage = buffer.depth()
        private_influxdb.start()
        threads[0].join(timeout=30)
        wait_until(lambda: buffer.depth() == 0, 30, "the writer to empty the buffer", every=0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    writer.flush()

    client = make_client()
    found = {
        tags["server"]: points
        for (_m, tags), points in client.query(
            'SELECT "watts" FROM "power" GROUP BY "server"', epoch="u"
        ).items()
    }
    total = sum(len(list(points)) for points in found.values())
    print(
        f"expected {pushed} samples, found {total}, held during the outage {held_during_outage}, "
        f"rejected batches {buffer.rejected()}"
    )
    assert buffer.rejected() == 0
    assert errors, "the outage was not noticed: the test did not test anything"
    assert held_during_outage > 0
    assert buffer.depth() == 0
    assert total == pushed  # nothing lost, nothing doubled (points are unique per server and time)
    assert set(found) == set(SERVERS)
