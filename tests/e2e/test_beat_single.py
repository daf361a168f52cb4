"""A second beat process stops at once, with a message and a non-zero status, instead of sending
every poll and writer pass a second time; so beat can be supervised (restarted) safely."""

from __future__ import annotations

import pytest

from energylab.beat_lock import BeatLock
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.timeout(60)
def test_a_second_beat_is_refused(stack: Stack) -> None:
    running = BeatLock(ttl_s=30)  # the beat already running
    running.acquire()
    try:
        second = stack.beat()
        status = second.wait(timeout=45)
    finally:
        running.release()
    assert status != 0
    assert "another beat is running" in stack.log("beat")
    assert running.token in stack.log("beat")
