"""The writer's Redis lock: a live pass keeps it however long it lasts, a dead holder's lock
expires within ``LOCK_TIMEOUT_S`` (it was 60 s: a SIGKILLed writer stalled the pipeline a
minute)."""

from __future__ import annotations

import threading
import time

import pytest

from energylab.testing import wait_until
from events import tasks
from events.ingest.writer import FlushStats

pytestmark = pytest.mark.django_db


@pytest.fixture
def short_lock(monkeypatch, influxdb_database: str, redis_url: str) -> tasks.InfluxWriter:
    monkeypatch.setattr(tasks, "LOCK_TIMEOUT_S", 1.0)
    monkeypatch.setattr(tasks, "LOCK_RENEW_S", 0.3)
    writer = tasks.get_writer()
    writer.buffer.client.delete(f"{writer.buffer.prefix}:writer:lock")
    return writer


@pytest.mark.timeout(30)
def test_a_pass_longer_than_the_locks_timeout_keeps_the_lock(short_lock, monkeypatch) -> None:
    key = f"{short_lock.buffer.prefix}:writer:lock"
    seen: list[int] = []

    def slow_flush(time_budget: float = 5.0) -> FlushStats:
        for _ in range(5):  # 2.5 s: two and a half lock timeouts
            time.sleep(0.5)
            seen.append(int(short_lock.buffer.client.pttl(key)))
        return FlushStats()

    monkeypatch.setattr(short_lock, "flush", slow_flush)
    first = threading.Thread(target=tasks.flush_samples)
    first.start()
    time.sleep(1.5)
    second = tasks.flush_samples()  # another worker's pass meanwhile
    first.join(timeout=10)
    print(f"lock TTL seen during a 2.5 s pass (ms): {seen}; second pass: {second}")
    assert all(ttl > 0 for ttl in seen)
    assert second == {"samples": 0, "skipped": 1}
    assert not short_lock.buffer.client.exists(key)  # released at the end


@pytest.mark.timeout(30)
def test_a_dead_writers_lock_frees_the_next_pass_within_the_timeout(short_lock) -> None:
    client = short_lock.buffer.client
    # A writer that took the lock and was killed: nobody renews or releases it.
    client.lock(f"{short_lock.buffer.prefix}:writer:lock", timeout=tasks.LOCK_TIMEOUT_S).acquire()
    assert tasks.flush_samples(time_budget=0.1).get("skipped") == 1
    started = time.monotonic()
    wait_until(
        lambda: not tasks.flush_samples(time_budget=0.1).get("skipped"),
        tasks.LOCK_TIMEOUT_S + 1,
        "a pass to run after the dead holder's lock",
        every=0.05,
    )
    print(f"the next pass ran {time.monotonic() - started:.2f} s after a dead holder's lock")
