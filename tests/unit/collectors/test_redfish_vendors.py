"""The Redfish driver reads each vendor flavour of the simulator (real HTTP on loopback): the
standard resources where the vendor keeps its power there, its own resources where it has them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from collectors.drivers.redfish import OEM_POWER_PATHS, RedfishDriver, vendor_name
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish_vendors import VENDOR_FLAVOURS
from tests.unit.collectors.helpers import redfish_endpoint as endpoint


@pytest.fixture
def driver() -> Iterator[RedfishDriver]:
    drv = RedfishDriver()
    yield drv
    drv.close()


def flat(watts: float) -> PowerProfile:
    return PowerProfile.constant(watts, refresh=0)


@pytest.mark.parametrize(
    ("flavour", "source"),
    [
        ("idrac", "redfish:Power"),
        ("xcc", "redfish:Power"),
        ("lenovo-tsm", "redfish:Power"),
        ("ibmc", "ibmc:PowerMetricsExtended"),
        ("supermicro", "redfish:Power"),
    ],
)
def test_each_vendor_flavour_is_read_as_the_profile_says(make_sim, driver, flavour, source):
    sim = make_sim(flat(300.0), flavour=flavour)
    reading = driver.read_power(endpoint(sim))
    assert (reading.watts, reading.source) == (pytest.approx(300.0), source)


def test_every_vendor_flavour_is_covered_here():
    assert set(VENDOR_FLAVOURS) == {"idrac", "xcc", "lenovo-tsm", "ibmc", "supermicro"}


def test_lenovo_xcc_reads_the_server_power_control_not_a_sub_system(make_sim, driver):
    # XCC lists the CPU and memory sub-systems after the server's own PowerControl.
    sim = make_sim(flat(400.0), flavour="xcc")
    assert driver.read_power(endpoint(sim)).watts == pytest.approx(400.0)


def test_huawei_ibmc_gives_its_energy_counter_with_the_power(make_sim, driver):
    sim = make_sim(
        PowerProfile.constant(250.0, refresh=0, epoch=time.time() - 3600), flavour="ibmc"
    )
    reading = driver.read_power(endpoint(sim))
    assert reading.watts == pytest.approx(250.0)
    assert reading.energy_j == pytest.approx(250.0 * 3600, rel=1e-3)  # an hour at 250 W


def test_dell_idrac_without_the_power_resource_reads_the_board_power_sensor(make_sim, driver):
    sim = make_sim(flat(333.0), flavour="idrac", oem_only=True)
    reading = driver.read_power(endpoint(sim))
    assert (reading.watts, reading.source) == (
        pytest.approx(333.0),
        "idrac:SystemBoardPwrConsumption",
    )


def test_lenovo_tsm_without_the_power_resource_reads_its_psu_ac_history(make_sim, driver):
    # Found through the chassis' Manufacturer: the simulated TSM's service root names no vendor.
    sim = make_sim(flat(280.0), flavour="lenovo-tsm", oem_only=True)
    reading = driver.read_power(endpoint(sim))
    assert (reading.watts, reading.source) == (pytest.approx(280.0), "tsm:HistoryPowerMeter")
    assert reading.averaged_over_ns == 30 * 10**9


def test_supermicro_is_known_by_its_root_oem_key_though_it_names_no_vendor(make_sim, driver):
    sim = make_sim(flat(200.0), flavour="supermicro")
    driver.read_power(endpoint(sim))
    (bmc,) = driver._bmcs.values()
    assert "Supermicro" in bmc.vendors


@pytest.mark.parametrize(
    ("spelt", "name"),
    [
        ("Dell Inc.", "Dell"),
        ("Lenovo", "Lenovo"),
        ("Huawei Technologies Co., Ltd.", "Huawei"),
        ("Super Micro Computer, Inc.", "Supermicro"),
        ("HPE", "HPE"),
        ("Hp", "HPE"),
        ("Acme", "Acme"),
    ],
)
def test_vendor_names_are_recognised_however_a_bmc_spells_them(spelt, name):
    assert vendor_name(spelt) == name


def test_every_oem_row_names_a_vendor_the_aliases_know():
    assert {row.vendor for row in OEM_POWER_PATHS} <= {"HPE", "Dell", "Lenovo", "Huawei"}
