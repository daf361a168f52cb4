"""A real worker and beat poll simulated BMCs over their real protocols at the pod's interval."""

from __future__ import annotations

import time

import pytest

from collectors.models import BMCType, Pod, Server
from collectors.simulators.faults import Fault
from collectors.simulators.ipmi import IPMISimulator
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator
from energylab.testing import wait_until
from events.ingest.buffer import SampleBuffer
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.django_db(transaction=True)


def register(
    pod: Pod, name: str, kind: str, host: str, port: int, password: str = "password"
) -> Server:
    server = Server(pod=pod, name=name, bmc_type=kind, host=host, port=port, username="admin")
    server.password = password
    server.save()
    return server


def samples_by_server(buffer: SampleBuffer) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {}
    for entry in buffer.read_ready(older_than=0, max_samples=1_000_000):
        for sample in entry.samples:
            seen.setdefault(sample.server, []).append(sample.measured_at_ns / 1e9)
    return seen


def rate(times: list[float]) -> float:
    """Mean seconds between consecutive samples."""
    times = sorted(times)
    return (times[-1] - times[0]) / (len(times) - 1)


@pytest.mark.timeout(120)
def test_beat_and_a_worker_poll_every_bmc_at_the_pods_interval(stack: Stack) -> None:
    profile = PowerProfile.constant(300.0)
    with (
        IPMISimulator(profile) as ipmi,
        RedfishSimulator(profile, flavour="environment-metrics") as redfish,
        RedfishSimulator(profile, flavour="ilo4") as ilo,
        RedfishSimulator(profile, flavour="legacy-power") as hung,
        RedfishSimulator(profile, flavour="legacy-power") as locked,
    ):
        hung.fault = Fault.HANG
        pod = Pod.objects.create(name="e2e pod, 1", poll_interval=1, queue="poll")
        register(pod, "ipmi-1", BMCType.IPMI, "127.0.0.1", ipmi.port)
        register(pod, "redfish-1", BMCType.REDFISH, "http://127.0.0.1", redfish.port)
        register(pod, "ilo-1", BMCType.ILO, "http://127.0.0.1", ilo.port)
        register(pod, "hung-1", BMCType.REDFISH, "http://127.0.0.1", hung.port)
        register(
            pod,
            "locked-1",
            BMCType.REDFISH,
            "http://127.0.0.1",
            locked.port,
            password="Zq9-secret!",
        )
        buffer = SampleBuffer.from_settings()

        stack.worker("poll")
        stack.beat()
        wait_until(lambda: len(samples_by_server(buffer).get("ilo-1", [])) >= 3, 60, "first polls")
        buffer.clear()
        time.sleep(8)
        fast = samples_by_server(buffer)
        assert set(fast) == {"ipmi-1", "redfish-1", "ilo-1"}  # the hung and locked BMCs give none
        for server, times in fast.items():
            assert len(times) >= 6, (server, len(times))
            assert rate(times) == pytest.approx(1.0, abs=0.25), server

        # Editing the pod's interval changes the rate, without restarting anything.
        pod.poll_interval = 3
        pod.save()
        time.sleep(4)  # let beat pick the change up and the last fast polls drain
        buffer.clear()
        time.sleep(12)
        slow = samples_by_server(buffer)
        for server, times in slow.items():
            assert 3 <= len(times) <= 6, (server, len(times))
            assert rate(times) == pytest.approx(3.0, abs=0.6), server

        locked_server = Server.objects.get(name="locked-1")
        assert locked_server.consecutive_failures >= 1
        assert locked_server.last_error
        assert "Zq9-secret!" not in locked_server.last_error
        hung_server = Server.objects.get(name="hung-1")
        assert hung_server.consecutive_failures >= 1
        assert Server.objects.get(name="ipmi-1").last_reading_w == 300.0
