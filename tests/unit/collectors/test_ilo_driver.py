"""ILODriver against simulated iLO 4 and iLO 5 services over real HTTP(S) on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from collectors.drivers import get_driver
from collectors.drivers.base import (
    BMCAuthFailed,
    BMCProtocolError,
    BMCUnreachable,
    PowerReading,
)
from collectors.drivers.ilo import ILODriver
from collectors.drivers.redfish import RedfishDriver
from collectors.simulators.faults import Fault
from collectors.simulators.profile import PowerProfile
from tests.unit.collectors.helpers import redfish_endpoint as endpoint


@pytest.fixture
def driver() -> Iterator[ILODriver]:
    drv = ILODriver()
    yield drv
    drv.close()


def test_the_registry_hands_out_the_ilo_driver_built_on_the_redfish_one():
    drv = get_driver("ilo")
    assert isinstance(drv, ILODriver)
    assert isinstance(drv, RedfishDriver)
    assert drv.bmc_type == "ilo"


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_it_reads_ilo4_legacy_power_written_as_mixed_numbers_and_strings(make_sim, driver, tls):
    sim = make_sim(PowerProfile.constant(245, refresh=0), flavour="ilo4", tls=tls)
    readings = [driver.read_power(endpoint(sim)) for _ in range(3)]  # int, float, then "245.00"
    assert [r.watts for r in readings] == [245, 245, 245]
    assert {r.source for r in readings} == {"redfish:Power"}


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_it_falls_back_to_the_ilo4_fast_power_meter_when_redfish_has_no_reading(
    make_sim, driver, tls
):
    profile = PowerProfile([(1000, 180), (1000, 420)], refresh=0, epoch=time.time() - 1500)
    sim = make_sim(profile, flavour="ilo4", ilo_legacy_reading=False, tls=tls)
    reading = driver.read_power(endpoint(sim))
    assert (reading.source, reading.watts) == (
        "ilo:FastPowerMeter",
        420,
    )  # the latest, not 20 min ago
    assert reading.bmc_timestamp_ns is not None
    assert abs(reading.bmc_timestamp_ns - time.time_ns()) < 30 * 10**9


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_it_reads_ilo5_from_the_power_subsystem_without_the_idle_supplies(make_sim, driver, tls):
    sim = make_sim(PowerProfile.constant(390, refresh=0), flavour="ilo5", tls=tls)
    reading = driver.read_power(endpoint(sim))
    assert (reading.source, reading.watts) == ("redfish:PowerSubsystem", pytest.approx(390))


def test_it_reads_the_ilo5_fast_power_meter_when_the_standard_resources_are_null(make_sim, driver):
    sim = make_sim(300, flavour="ilo5", ilo_legacy_reading=False)
    sim.supplies = (("1", "Enabled", None), ("2", "Enabled", None))  # supplies without metering
    reading = driver.read_power(endpoint(sim))
    assert (reading.source, reading.watts) == ("ilo:FastPowerMeter", 300)


def test_the_generic_driver_finds_the_hpe_meter_from_the_oem_key_of_an_ilo4_root(make_sim):
    sim = make_sim(300, flavour="ilo4", ilo_legacy_reading=False)  # no Vendor, only Oem.Hp
    drv = RedfishDriver()
    try:
        assert drv.read_power(endpoint(sim)).source == "ilo:FastPowerMeter"
    finally:
        drv.close()


def test_one_ilo_session_serves_many_reads_and_is_renewed_when_it_expires(make_sim, driver):
    sim = make_sim(300, flavour="ilo4", ilo_legacy_reading=False)
    for _ in range(10):
        driver.read_power(endpoint(sim))
    sim.expire_sessions()
    assert driver.read_power(endpoint(sim)).watts == 300
    assert sim.logins == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.WRONG_PASSWORD, BMCAuthFailed),
        (Fault.ERROR, BMCProtocolError),
        (Fault.HANG, BMCUnreachable),
        (Fault.NULL_READING, BMCProtocolError),
    ],
)
def test_ilo_faults_give_their_errors_within_the_timeout(make_sim, driver, fault, error):
    sim = make_sim(300, flavour="ilo4", ilo_legacy_reading=False, fault=fault)
    started = time.monotonic()
    with pytest.raises(error):
        driver.read_power(endpoint(sim, timeout=0.5))
    assert time.monotonic() - started < 1.5


def test_a_fast_power_meter_average_is_dated_at_the_middle_of_its_20_s_window(
    make_sim, driver
) -> None:
    # The power rose from 200 to 500 W 5 s ago: the last 20 s averaged 275 W, which is what
    # the server drew on average around 10 s ago, not now.
    profile = PowerProfile([(1000, 200), (1000, 500)], refresh=0, epoch=time.time() - 1005)
    sim = make_sim(profile, flavour="ilo4", ilo_legacy_reading=False)
    reading = driver.read_power(endpoint(sim))
    assert reading.source == "ilo:FastPowerMeter"
    assert reading.watts == pytest.approx(275, abs=5)
    assert reading.averaged_over_ns == 20 * 10**9
    assert reading.value_time_ns == reading.read_at_ns - 10 * 10**9


def test_an_instant_reading_is_dated_when_it_was_asked_for() -> None:
    reading = PowerReading(watts=300.0, read_at_ns=1_000_000_000_123, source="dcmi")
    assert reading.value_time_ns == reading.read_at_ns
