"""One beat per installation: the lock the running beat holds (energylab.beat_lock)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from energylab.beat_lock import BeatAlreadyRunning, BeatLock


@pytest.fixture
def first(redis_url: str) -> Iterator[BeatLock]:
    lock = BeatLock(ttl_s=15)
    lock.client.delete(lock.key)
    lock.acquire()
    yield lock
    lock.release()


def test_a_second_beat_is_refused_and_told_who_holds_the_lock(first: BeatLock) -> None:
    with pytest.raises(BeatAlreadyRunning, match=first.token):
        BeatLock(ttl_s=15).acquire()


def test_the_lock_outlives_its_last_renewal_by_its_time_to_live(first: BeatLock) -> None:
    first.ttl_s = 40
    first.renew()
    assert 30_000 < first.client.pttl(first.key) <= 40_000


def test_a_beat_takes_its_lock_again_when_redis_forgot_it(first: BeatLock) -> None:
    first.client.delete(first.key)  # Redis restarted without persistence
    first.renew()
    assert first.client.get(first.key) == first.token.encode()


def test_a_beat_whose_lock_another_beat_took_is_told_to_stop(first: BeatLock) -> None:
    first.client.delete(first.key)
    second = BeatLock(ttl_s=15)
    second.acquire()  # the first stalled past its time to live
    try:
        with pytest.raises(BeatAlreadyRunning):
            first.renew()
    finally:
        second.release()


def test_a_released_lock_lets_the_next_beat_start(first: BeatLock) -> None:
    first.release()
    second = BeatLock(ttl_s=15)
    second.acquire()
    second.release()
