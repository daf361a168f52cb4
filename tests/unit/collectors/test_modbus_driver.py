"""ModbusDriver against the simulated meter on loopback, and pymodbus' own client reading it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from collectors.drivers import get_driver
from collectors.drivers.base import BMCEndpoint, BMCProtocolError, BMCUnreachable, PowerUnsupported
from collectors.drivers.modbus import ModbusDriver
from collectors.drivers.modbus_registers import decode
from collectors.simulators.modbus import ModbusSimulator
from collectors.simulators.profile import PowerProfile
from energylab.testing import free_port

WATTS = 231.7


@pytest.fixture(scope="module")
def meter() -> Iterator[ModbusSimulator]:
    with ModbusSimulator(PowerProfile.constant(WATTS), unit_id=3) as sim:
        yield sim


def sensor(category: str, address: int, register_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"{category}-{address}",
        "unit": "W",
        "register_category": category,
        "register_address": address,
        "register_type": register_type,
        **extra,
    }


def read(meter: ModbusSimulator, *sensors: dict[str, Any], **options: Any) -> Any:
    endpoint = BMCEndpoint(
        "127.0.0.1",
        meter.port,
        timeout=2.0,
        options={"device_unit": 3, "sensors": list(sensors), **options},
    )
    return ModbusDriver().read_power(endpoint)


def test_the_driver_registry_serves_modbus() -> None:
    assert isinstance(get_driver("modbus"), ModbusDriver)


@pytest.mark.parametrize(
    ("spec", "watts"),
    [
        (sensor("holding", 0, "MBU"), round(WATTS)),
        (sensor("holding", 10, "MBF"), pytest.approx(WATTS, abs=1e-4)),
        (
            sensor("holding", 20, "MBL", register_order="left", register_scaling=0.1),
            pytest.approx(WATTS),
        ),
        (sensor("input", 0, "MBI"), round(WATTS)),
        (sensor("input", 10, "MBF", register_order="left"), pytest.approx(WATTS, abs=1e-4)),
        (sensor("input", 20, "MBUL", register_scaling=0.01), pytest.approx(WATTS)),
    ],
)
def test_it_reads_each_type_category_word_order_and_scale(meter, spec, watts) -> None:
    reading = read(meter, spec)
    assert reading.watts == watts
    assert reading.source == f"modbus:{spec['name']}"


def test_power_sensors_are_summed_with_their_shares_and_others_ignored(meter) -> None:
    volts = {"name": "volts", "unit": "V", "register_address": 0}
    kilowatts = sensor("holding", 10, "MBF", unit="kW", register_scaling=0.001)
    reading = read(meter, sensor("holding", 0, "MBU"), kilowatts, volts)
    assert reading.watts == pytest.approx(round(WATTS) + WATTS, abs=1e-3)
    assert [name for name, _ in reading.parts] == ["holding-0", "holding-10"]


def test_a_register_the_meter_lacks_is_unsupported(meter) -> None:
    with pytest.raises(PowerUnsupported, match="holding register 50 of unit 3"):
        read(meter, sensor("holding", 50, "MBU"))


def test_another_unit_id_is_refused(meter) -> None:
    with pytest.raises((BMCProtocolError, BMCUnreachable)):
        read(meter, sensor("holding", 0, "MBU"), device_unit=9)


def test_a_closed_port_is_unreachable() -> None:
    endpoint = BMCEndpoint(
        "127.0.0.1", free_port(), timeout=0.5, options={"sensors": [sensor("holding", 0, "MBU")]}
    )
    with pytest.raises(BMCUnreachable, match="no Modbus TCP connection"):
        ModbusDriver().read_power(endpoint)


def test_pymodbus_own_client_reads_the_simulated_meter(meter) -> None:
    client = ModbusTcpClient("127.0.0.1", port=meter.port, timeout=2)
    assert client.connect()
    try:
        single = client.read_holding_registers(0, count=1, device_id=3)
        double = client.read_input_registers(10, count=2, device_id=3)
    finally:
        client.close()
    assert single.registers == [round(WATTS)]
    assert decode(double.registers, "MBF", "left") == pytest.approx(WATTS, abs=1e-4)
