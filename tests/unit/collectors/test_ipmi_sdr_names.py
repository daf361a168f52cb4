"""SDR power sensors the original recorder knew, and per-PSU input sensors summed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors.drivers.base import BMCEndpoint
from collectors.drivers.ipmi import IPMIDriver
from collectors.drivers.ipmi_sensors import power_sensor_patterns
from collectors.simulators.ipmi import IPMISimulator
from collectors.simulators.profile import PowerProfile


def ipmi_endpoint(sim: IPMISimulator) -> BMCEndpoint:
    return BMCEndpoint(sim.host, sim.port, sim.username, sim.password, timeout=5.0)


@pytest.fixture
def driver() -> Iterator[IPMIDriver]:
    drv = IPMIDriver()
    yield drv
    drv.close()


@pytest.mark.parametrize(
    ("manufacturer_id", "pattern"),
    [
        (28458, "HSC Input Power"),
        (20301, "Avg Power"),
        (5771, "POWER_USAGE"),
        (10297, "BOARD_POWER"),
    ],
)
def test_the_originals_vendor_names_come_first(manufacturer_id, pattern) -> None:
    assert power_sensor_patterns(manufacturer_id)[0] == pattern


@pytest.mark.parametrize(
    ("manufacturer_id", "names", "source"),
    [
        (40092, ["HSC Input Power"], "sdr:HSC Input Power"),  # Lenovo
        (5771, ["POWER_USAGE"], "sdr:POWER_USAGE"),  # Cisco
        (
            343,
            ["PS1 Input Power", "PS2 Input Power"],
            "sdr:PS1 Input Power+PS2 Input Power",
        ),  # Intel
        (2011, ["Power1", "Power2"], "sdr:Power1+Power2"),  # Huawei
    ],
)
def test_sdr_power_sensors_are_found_and_per_psu_ones_summed(
    driver, manufacturer_id, names, source
) -> None:
    with IPMISimulator(
        PowerProfile.constant(400.0),
        dcmi=False,
        sensor_names=names,
        manufacturer_id=manufacturer_id,
    ) as simulator:
        reading = driver.read_power(ipmi_endpoint(simulator))
    assert reading.watts == 400.0
    assert reading.source == source
    if len(names) > 1:
        assert reading.parts == tuple((name, 400.0 / len(names)) for name in names)
