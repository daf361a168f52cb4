"""A hundred Redfish BMCs that send their headers, then one byte every 0.4 s, do not delay the
polls of healthy IPMI and Redfish servers of another pod: every read ends by its deadline
whatever the BMC sends, a drip is a failure that backs off, and failing BMCs are read on
threads of their own.

The poll task runs in this process (on two threads, as the worker's threads pool would run the
two pods' tasks), so the test sees the poller's threads: no read outlives its deadline by more
than a drip. A tap on the buffer counts the healthy servers' samples.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict

import pytest
from django.db import connection

from collectors.models import BMCType, Pod, Server
from collectors.polling import get_poller
from collectors.simulators.faults import Fault
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator
from collectors.tasks import poll_pod_shard
from energylab.testing import wait_until
from events.ingest.buffer import SampleBuffer
from tests.reliability.pipeline import Lab, StreamTap

pytestmark = pytest.mark.django_db(transaction=True)

DRIPS = 100
WINDOW_S = 6.0


class Ticker(threading.Thread):
    """Runs a pod's poll task once a second, on the second, as beat and a worker thread do."""

    def __init__(self, pod: Pod) -> None:
        super().__init__(name=f"ticker {pod.name}", daemon=True)
        self.pod_id = pod.pk
        self.stop = threading.Event()
        self.late: list[float] = []  # how late each poll started, seconds

    def run(self) -> None:
        try:
            tick = time.monotonic()
            while not self.stop.is_set():
                self.late.append(time.monotonic() - tick)
                poll_pod_shard(self.pod_id)
                tick += 1.0
                while tick < time.monotonic():  # a poll that took over a second: skip a tick
                    tick += 1.0
                self.stop.wait(tick - time.monotonic())
        finally:
            connection.close()  # this thread's database connection


@pytest.mark.timeout(120)
def test_a_hundred_dripping_bmcs_leave_the_polls_of_other_servers_on_time(settings) -> None:
    settings.POLL_HEALTH_INTERVAL = 0
    buffer = SampleBuffer.from_settings()
    buffer.clear()
    healthy_pod = Pod.objects.create(name="reliability: healthy", poll_interval=1)
    drip_pod = Pod.objects.create(name="reliability: drips", poll_interval=1)
    with (
        Lab(healthy_pod, 4) as lab,  # two IPMI, two Redfish
        StreamTap(buffer.client, buffer.stream_key) as tap,
    ):
        drips = [
            lab.enter_context(
                RedfishSimulator(PowerProfile.constant(300.0), fault=Fault.DRIP, drip_seconds=0.4)
            )
            for _ in range(DRIPS)
        ]
        for index, sim in enumerate(drips):
            server = Server(
                pod=drip_pod,
                name=f"drip {index}",
                bmc_type=BMCType.REDFISH,
                host="http://127.0.0.1",
                port=sim.port,
                username="admin",
            )
            server.password = "password"
            server.save()
        healthy = Ticker(healthy_pod)
        healthy.start()
        wait_until(lambda: len({s for s, _ in tap.snapshot()}) == 4, 30, "a first healthy round")
        dripping = Ticker(drip_pod)
        dripping.start()
        start = time.time()
        time.sleep(WINDOW_S)  # the window in which polls are counted
        end = time.time()
        healthy.stop.set()
        dripping.stop.set()
        healthy.join(10)
        dripping.join(10)
        # Every read of a dripping BMC was abandoned at its deadline: none is left in flight.
        wait_until(lambda: not get_poller()._in_flight, 5, "the abandoned reads to end")
        threads = [t.name for t in threading.enumerate() if t.name.startswith("poll-redfish")]
    times: dict[str, list[float]] = defaultdict(list)
    for name, t_us in tap.snapshot():
        if start <= t_us / 1e6 <= end:
            times[name].append(t_us / 1e6)
    gaps = {
        name: max(b - a for a, b in itertools.pairwise([start, *sorted(times[name]), end]))
        for name in lab.servers
    }
    drip_rows = Server.objects.filter(pod=drip_pod)
    failing = sum(1 for s in drip_rows if s.consecutive_failures >= 1 and s.backoff_until)
    print(
        f"{DRIPS} dripping BMCs beside 4 healthy servers, {WINDOW_S:.0f} s at 1 s: "
        + ", ".join(f"{s}: {len(times[s])} samples, max gap {g:.2f} s" for s, g in gaps.items())
        + f"; healthy polls started late by at most {max(healthy.late):.2f} s; "
        f"drips failed and backing off: {failing} of {DRIPS}; poll threads: {len(threads)}"
    )
    buffer.clear()
    for name, gap in gaps.items():
        assert len(times[name]) >= WINDOW_S - 1, name
        assert gap < 1.5, name
    assert not any(name.startswith("drip") for name in times)
    assert failing == DRIPS  # each drip is a failure, and backs off
