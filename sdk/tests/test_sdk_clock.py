"""Events are stamped in the server's time, learned from /time/ or the Date header."""

from __future__ import annotations

import time

import energylab_sdk as energy
import pytest
from energylab_sdk import _client
from energylab_sdk.testing import ERROR, OK

HOUR = 3600 * 10**9


@pytest.mark.parametrize(("url_attr", "tolerance"), [("root_url", 0.05), ("legacy_url", 1.5)])
def test_a_skewed_server_clock_is_corrected(energylab_server, url_attr, tolerance):
    energylab_server.clock_offset_ns = HOUR
    energy.configure(url=getattr(energylab_server, url_attr), pod="p")
    local = time.time_ns()
    energy.Energy.start("s")
    assert energy.flush(2)
    (event,) = energylab_server.events()
    assert abs(event["at"] - (local + HOUR)) < tolerance * 1e9


def test_a_date_header_within_a_second_is_not_applied(energylab_server):
    energy.configure(url=energylab_server.legacy_url, pod="p")
    energy.Energy.start("s")
    assert energy.flush(2)
    assert _client.current().offset_ns == 0


def test_events_queued_before_the_offset_is_known_are_corrected_when_sent(energylab_server):
    energylab_server.mode = ERROR  # /time/ fails too: no offset yet
    energy.configure(url=energylab_server.root_url, pod="p")
    local = time.time_ns()
    energy.Energy.start("s")
    time.sleep(0.2)
    assert _client.current().offset_ns is None
    energylab_server.clock_offset_ns = -HOUR
    energylab_server.mode = OK
    assert energy.flush(3)
    (event,) = energylab_server.events()
    assert abs(event["at"] - (local - HOUR)) < 0.05e9


@pytest.mark.parametrize("offset_ns", [0, HOUR])
def test_a_slow_first_clock_reading_is_not_taken_for_an_offset(energylab_server, offset_ns):
    # The server's first request read its clock 0.8 s late (imports): half of that would be
    # taken for skew from that reading alone; a quick second reading tells the truth.
    energylab_server.clock_offset_ns = offset_ns
    energylab_server.clock_delays_s = [0.8]
    energy.configure(url=energylab_server.root_url, pod="p")
    energy.Energy.start("s")
    assert energy.flush(5)
    assert abs(_client.current().offset_ns - offset_ns) < 0.05e9
