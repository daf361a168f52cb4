"""The simulated IPMI BMC speaks real IPMI: checked with Debian's ipmitool and pyghmi's client."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from pyghmi.ipmi import command as pyghmi_command

from collectors.simulators.faults import Fault
from collectors.simulators.ipmi import IPMISimulator, IPMISimulatorGroup
from collectors.simulators.profile import PowerProfile

IPMITOOL = shutil.which("ipmitool")
needs_ipmitool = pytest.mark.skipif(IPMITOOL is None, reason="ipmitool is not on PATH")


@pytest.fixture
def sim() -> Iterator[IPMISimulator]:
    with IPMISimulator(PowerProfile.constant(275.0)) as simulator:
        yield simulator


def ipmitool(sim: IPMISimulator, *args: str, password: str | None = None):
    return subprocess.run(
        [IPMITOOL or "ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(sim.port),
         "-U", sim.username, "-P", password or sim.password, *args],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip


def login(sim: IPMISimulator) -> pyghmi_command.Command:
    # bytes credentials: with str, a second Command to one BMC hangs (lab notes)
    return pyghmi_command.Command(
        bmc=sim.host, port=sim.port, userid=sim.username.encode(), password=sim.password.encode()
    )


def dcmi_watts(command: pyghmi_command.Command) -> int:
    data = command.xraw_command(netfn=0x2C, command=0x02, data=(0xDC, 1, 0, 0))["data"]
    return int.from_bytes(bytes(data[1:3]), "little")


def test_it_binds_a_free_loopback_port_and_records_it():
    simulator = IPMISimulator()
    try:
        assert simulator.host == "127.0.0.1"
        assert simulator.port > 0
        assert simulator.sock.getsockname() == ("127.0.0.1", simulator.port)
    finally:
        simulator.stop()


@needs_ipmitool
def test_ipmitool_reads_dcmi_power_from_the_simulator(sim):
    result = ipmitool(sim, "dcmi", "power", "reading")
    assert result.returncode == 0, result.stderr
    match = re.search(r"Instantaneous power reading:\s+(\d+) Watts", result.stdout)
    assert match, result.stdout
    assert int(match.group(1)) == 275
    assert "activated" in result.stdout


@needs_ipmitool
def test_dcmis_statistics_are_the_min_max_and_average_over_the_period_it_states():
    # 100 W and 300 W by turns, a second each, stated over 4 s: min 100, max 300, mean 200.
    profile = PowerProfile([(1.0, 100.0), (1.0, 300.0)], refresh=0.0, epoch=time.time())
    with IPMISimulator(profile, dcmi_period=4.0) as simulator:
        result = ipmitool(simulator, "dcmi", "power", "reading")
    assert result.returncode == 0, result.stderr
    found = [
        int(value)
        for value in re.findall(r"(?:Minimum|Maximum|Average)[^:]*:\s+(\d+) Watts", result.stdout)
    ]
    assert found == [100, 300, 200], result.stdout
    assert re.search(r"Sampling period:\s+0*4 Seconds", result.stdout), result.stdout


@needs_ipmitool
def test_ipmitool_reads_the_sdr_power_sensor(sim):
    result = ipmitool(sim, "sdr")
    assert result.returncode == 0, result.stderr
    assert re.search(r"Total_Power\s+\|\s+276 Watts", result.stdout), result.stdout  # 4 W steps


@needs_ipmitool
def test_ipmitool_closes_its_session_and_the_simulator_drops_it(sim):
    for _ in range(3):
        assert ipmitool(sim, "dcmi", "power", "reading").returncode == 0
    assert sim.session_count == 0


@needs_ipmitool
def test_it_refuses_cipher_suite_17_and_wrong_passwords_at_once(sim):
    started = time.monotonic()
    assert ipmitool(sim, "-C", "17", "dcmi", "power", "reading").returncode != 0
    assert ipmitool(sim, "dcmi", "power", "reading", password="wrong").returncode != 0
    sim.fault = Fault.WRONG_PASSWORD
    assert ipmitool(sim, "dcmi", "power", "reading").returncode != 0
    assert time.monotonic() - started < 3


def test_pyghmi_logs_in_and_reads_the_profile_value(sim):
    command = login(sim)
    assert dcmi_watts(command) == 275
    assert command.get_sensor_reading("Total_Power").value == 276.0  # 4 W resolution


def test_a_client_logging_in_again_from_the_same_port_gets_a_new_session(sim):
    first = login(sim)
    first.ipmi_session.logout()
    second = login(sim)  # pyghmi reuses its UDP socket
    assert dcmi_watts(second) == 275
    assert sim.session_count == 1


def test_faults_change_the_answers_while_it_runs(sim):
    command = login(sim)
    sim.fault = Fault.ERROR
    assert command.raw_command(netfn=0x2C, command=0x02, data=(0xDC, 1, 0, 0))["code"] == 0xFF
    sim.fault = Fault.NULL_READING
    data = command.xraw_command(netfn=0x2C, command=0x02, data=(0xDC, 1, 0, 0))["data"]
    assert data[17] & 0x40 == 0  # "power measurement not active"
    sim.fault = Fault.NONE
    assert dcmi_watts(command) == 275


def test_without_dcmi_it_answers_invalid_command(sim):
    sim.dcmi = False
    command = login(sim)
    assert command.raw_command(netfn=0x2C, command=0x02, data=(0xDC, 1, 0, 0))["code"] == 0xC1


def test_a_slow_bmc_delays_only_its_own_replies():
    with IPMISimulatorGroup() as group:
        slow, fast = group.create(2, profile=PowerProfile.constant(200.0))
        slow_command, fast_command = login(slow), login(fast)
        slow.fault, slow.slow_seconds = Fault.SLOW, 0.8
        finished: list[float] = []
        started = time.monotonic()
        worker = threading.Thread(
            target=lambda: finished.append(dcmi_watts(slow_command) and time.monotonic())
        )
        worker.start()
        fast_times = []
        for _ in range(5):
            t0 = time.monotonic()
            assert dcmi_watts(fast_command) == 200
            fast_times.append(time.monotonic() - t0)
        worker.join(5)
    # Four of five fast reads answer at once while the slow BMC holds its reply. One may still
    # take about a second: pyghmi's client (not the simulator) sometimes wakes up only on its
    # retry timer (lab notes), which says nothing about the simulator's isolation.
    assert sorted(fast_times)[3] < 0.1, fast_times
    assert finished
    assert finished[0] - started >= 0.8


def test_it_stops_promptly_and_releases_its_port():
    simulator = IPMISimulator().start()
    port = simulator.port
    started = time.monotonic()
    simulator.stop()
    assert time.monotonic() - started < 0.5
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", port))  # free again
    probe.close()


def test_one_group_hosts_a_thousand_bmcs():
    started = time.monotonic()
    with IPMISimulatorGroup() as group:
        sims = group.create(1000, profile=lambda i: PowerProfile.constant(100.0 + i))
        created = time.monotonic() - started
        assert len(group) == 1000
        assert len({s.port for s in sims}) == 1000
        for index in (0, 333, 999):
            assert dcmi_watts(login(sims[index])) == 100 + index
    assert created < 5
