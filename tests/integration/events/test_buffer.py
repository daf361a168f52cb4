"""The sample buffer over the real Redis."""

from __future__ import annotations

import os
import time

import pytest
import redis
from django.conf import settings as django_settings

from events.ingest.buffer import BufferFull, BufferUnavailable, Sample, SampleBuffer


@pytest.fixture
def buffer(redis_url: str) -> SampleBuffer:
    buf = SampleBuffer(redis.Redis.from_url(redis_url), 10, prefix=django_settings.REDIS_KEY_PREFIX)
    buf.clear()
    yield buf
    buf.clear()


def sample(i: int, server: str = 'node "1", rack=2') -> Sample:
    return Sample("pod ⚡", server, 100.0 + i, 1_700_000_000_000_000_000 + i, "dcmi", energy_j=None)


def test_pushed_samples_come_back_whole_and_in_order(buffer: SampleBuffer) -> None:
    buffer.push([sample(0), sample(1)])
    buffer.push([sample(2)])
    entries = buffer.read_ready(older_than=0, max_samples=100)
    assert [s for e in entries for s in e.samples] == [sample(0), sample(1), sample(2)]
    assert buffer.depth() == 3


def test_acknowledged_entries_leave_the_buffer(buffer: SampleBuffer) -> None:
    buffer.push([sample(0)])
    buffer.push([sample(1)])
    first = buffer.read_ready(older_than=0, max_samples=1)
    assert len(first) == 1
    buffer.acknowledge(first)
    rest = buffer.read_ready(older_than=0, max_samples=100)
    assert [s.watts for e in rest for s in e.samples] == [101.0]
    assert buffer.depth() == 1


def test_entries_younger_than_the_delay_wait(buffer: SampleBuffer) -> None:
    buffer.push([sample(0)])
    assert buffer.read_ready(older_than=60, max_samples=100) == []
    assert buffer.oldest_age() is not None


def test_a_full_buffer_refuses_and_counts_what_it_dropped(
    buffer: SampleBuffer, caplog: pytest.LogCaptureFixture
) -> None:
    buffer.push([sample(i) for i in range(8)])
    with pytest.raises(BufferFull):
        buffer.push([sample(i) for i in range(3)])
    assert buffer.dropped() == 3
    assert buffer.depth() == 8
    assert "sample buffer full" in caplog.text


def test_a_dead_redis_raises_buffer_unavailable() -> None:
    dead = SampleBuffer(redis.Redis(port=1, socket_connect_timeout=0.5), max_samples=10)
    with pytest.raises(BufferUnavailable):
        dead.push([sample(0)])


def test_acknowledging_the_same_entries_twice_counts_them_once(buffer: SampleBuffer) -> None:
    buffer.push([sample(0), sample(1)])
    buffer.push([sample(2)])
    entries = buffer.read_ready(older_than=0, max_samples=100)
    buffer.acknowledge(entries[:1])
    buffer.acknowledge(entries[:1])  # a second writer whose lock had expired
    assert buffer.depth() == 1


# What the buffer's stream held before this version, byte for byte (d124378 and every version
# before it): entries buffered by a running older version must be read after an upgrade.
OLDER_ENTRY = (
    '[["pod ⚡","node \\"1\\", rack=2",312.5,1764800000123456789,"dcmi",1234.5,"power","W"],'
    '["pod ⚡","node \\"1\\", rack=2",38.0,1764800000123456789,"legacy",null,"inlet","°C"]]'
)
OLDER_SAMPLES = [
    Sample("pod ⚡", 'node "1", rack=2', 312.5, 1_764_800_000_123_456_789, "dcmi", 1234.5),
    Sample(
        "pod ⚡", 'node "1", rack=2', 38.0, 1_764_800_000_123_456_789, "legacy", None, "inlet", "°C"
    ),
]


def test_an_entry_an_older_version_buffered_is_read_after_an_upgrade(
    buffer: SampleBuffer,
) -> None:
    buffer.client.xadd(buffer.stream_key, {"s": OLDER_ENTRY.encode()})
    buffer.client.incrby(buffer.count_key, 2)
    (entry,) = buffer.read_ready(older_than=0, max_samples=100)
    assert entry.samples == OLDER_SAMPLES
    assert [type(s.measured_at_ns) for s in entry.samples] == [int, int]  # exact, never a float
    buffer.acknowledge([entry])
    assert buffer.depth() == 0


def test_samples_are_buffered_as_older_versions_wrote_them(buffer: SampleBuffer) -> None:
    # The same bytes both ways: an older writer still running beside a newer poller reads them.
    buffer.push(OLDER_SAMPLES)
    ((_, fields),) = buffer.client.xrange(buffer.stream_key)
    assert fields[b"s"].decode() == OLDER_ENTRY


def test_a_large_body_of_one_server_is_checked_whole_against_what_was_seen(
    redis_url: str,
) -> None:
    # 10,000 samples of one server, sensor and minute: one seen-set, checked and added in
    # chunks (the script's unpack limit); the resend adds nothing, an overlapping body its half.
    minute = time.time_ns() // 60_000_000_000 * 60_000_000_000 - 120_000_000_000
    buffer = SampleBuffer(redis.Redis.from_url(redis_url), 100_000, prefix=f"large-{os.getpid()}")
    buffer.clear()
    pod = "large"
    first = [Sample(pod, "node", float(i), minute + i * 1000, "push") for i in range(10_000)]
    version = ""  # any directory
    assert buffer.push_new(first, 600, version) == 10_000
    assert buffer.push_new(first, 600, version) == 0
    overlapping = [
        Sample(pod, "node", 1.0, minute + i * 1000, "push") for i in range(5_000, 15_000)
    ]
    overlapping.append(overlapping[-1])  # repeated in the body: counted once
    assert buffer.push_new(overlapping, 600, version) == 5_000
    samples = [s for e in buffer.read_ready(0, 100_000) for s in e.samples]
    buffer.clear()
    assert [s.measured_at_ns for s in samples] == [minute + i * 1000 for i in range(15_000)]
