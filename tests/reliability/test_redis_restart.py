"""Redis restarts while a scenario is recorded. Redis keeps nothing on disk here (``--save ""
--appendonly no``, as on the shared machines), so the restart loses the sample buffer: what the
writer had not yet written is gone. These tests show how much, and that the loss is visible (an
error in the writer's log, the buffer's ``lost`` counter) and bounded (what waited for the
correlation delay plus a writer pass). docs/reliability.md says why, and what AOF would change.
The second also measures the polling gap a 5 s outage leaves: the worker reconnects to Redis
within a quarter of a second of it answering (it used to wait 2, 4, then 6 s between attempts).

They run on a private redis-server (never the shared one: other test runs use it).
"""

from __future__ import annotations

import itertools
import logging
import time

import pytest
import redis

from collectors.models import Pod
from energylab.testing import PrivateRedis, wait_until
from events import services
from events.influx import make_client
from events.ingest.buffer import Sample, SampleBuffer
from events.ingest.writer import InfluxWriter
from tests.e2e.conftest import Stack
from tests.reliability.pipeline import (
    Lab,
    StreamTap,
    compare,
    influx_points,
    stop_polling_and_drain,
)

pytestmark = pytest.mark.django_db(transaction=True)

DELAY_S = 3.0
OUTAGE_S = 5.0


@pytest.mark.timeout(30)
def test_the_writer_reports_a_buffer_lost_with_redis_and_counts_it(
    private_redis: PrivateRedis, influxdb_database: str, caplog, settings
) -> None:
    settings.REDIS_URL = private_redis.url
    buffer = SampleBuffer(redis.Redis.from_url(private_redis.url), 1_000_000, prefix="restart")
    writer = InfluxWriter(buffer, make_client(), delay=DELAY_S)
    writer.flush()  # the writer has seen this life of the buffer
    now = time.time_ns() // 1000 * 1000
    buffer.push(Sample("pod r", "node", 1.0, now + i * 1000, "test") for i in range(40))
    writer.flush()  # nothing ready yet (the delay): 40 samples wait in Redis
    private_redis.stop()
    private_redis.start()
    with caplog.at_level(logging.ERROR, logger="events.ingest.writer"):
        writer.flush()
        writer.flush()
    errors = [r.getMessage() for r in caplog.records if "vanished from Redis" in r.getMessage()]
    print(f"samples pushed 40, lost 40, reported lost {buffer.lost()}; log: {errors}")
    assert buffer.lost() == 40
    assert len(errors) == 1  # once, not at every pass
    assert "40 samples" in errors[0]


@pytest.mark.timeout(180)
def test_a_redis_restart_loses_only_what_waited_in_the_buffer_and_says_so(
    stack: Stack, private_redis: PrivateRedis, settings
) -> None:
    settings.CORRELATION_DELAY = DELAY_S
    pod = Pod.objects.create(name="reliability: redis restart", poll_interval=1, queue="poll")
    buffer = SampleBuffer.from_settings()
    client = make_client()

    def stored_since(moment_ns: int) -> int:
        result = client.query(
            'SELECT count("watts") FROM "power" WHERE "pod" = $pod AND time >= $t',
            bind_params={"pod": pod.name, "t": moment_ns},
        )
        return sum(p["count"] for p in result.get_points())

    with Lab(pod, 6) as lab, StreamTap(buffer.client, buffer.stream_key) as tap:
        stack.worker("poll", name="poller")
        stack.worker("writer", name="writer", concurrency=1)
        stack.beat()
        services.start_run(pod.name, "redis restarts", step="before")
        wait_until(lambda: stored_since(0) >= 2 * len(lab.servers), 60, "first samples stored")
        time.sleep(4)
        down_ns = time.time_ns()
        private_redis.stop()
        time.sleep(OUTAGE_S)
        private_redis.start()
        up = time.monotonic()
        up_ns = time.time_ns()
        services.set_step(pod.name, "after")
        wait_until(lambda: stored_since(up_ns) >= len(lab.servers), 60, "samples after the restart")
        recovered_s = time.monotonic() - up
        time.sleep(3)
        services.stop_run(pod.name)
        stop_polling_and_drain(stack, buffer)
    expected = tap.snapshot()
    gaps = {
        name: max(
            b - a for a, b in itertools.pairwise(sorted(t / 1e6 for s, t in expected if s == name))
        )
        for name in lab.servers
    }
    found = influx_points(pod.name)
    figures = compare(expected, found)
    lost = [key for key in expected if key not in found]
    oldest_lost_s = (down_ns / 1e9 - min(t for _s, t in lost) / 1e6) if lost else 0.0
    writer_log = stack.log("writer")
    reported = buffer.lost()
    bound = len(lab.servers) * (DELAY_S + 3.0)  # the delay, a pass, a poll, a margin
    print(
        f"samples expected {figures['expected']}, found {figures['found']}, lost "
        f"{figures['lost']} (bound {bound:.0f}; the oldest measured {oldest_lost_s:.1f} s before "
        f"Redis stopped), duplicated {figures['duplicated']}, extra {figures['extra']}; "
        f"the writer reported {reported} lost; pipeline back {recovered_s:.1f} s after Redis; "
        f"polling gap for {OUTAGE_S:g} s down: max {max(gaps.values()):.1f} s"
    )
    assert max(gaps.values()) <= OUTAGE_S + 2.0, gaps  # the outage and at most 2 intervals
    assert tap.max_lag_s < DELAY_S
    assert figures["lost"] > 0, "the restart lost nothing: the test tested nothing"
    assert figures["lost"] <= bound
    assert oldest_lost_s <= DELAY_S + 3.0
    assert figures["duplicated"] == 0
    assert figures["extra"] == 0
    assert "vanished from Redis" in writer_log
    assert 0 < reported <= figures["lost"]
    assert recovered_s < 30
