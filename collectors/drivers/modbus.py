"""Modbus TCP meters (pymodbus): typed holding or input registers as a server's power.

The server's settings (:func:`collectors.source_settings.parse_modbus`) list sensors as the
original recorder wrote them: register category, address, type (MBI, MBU, MBL, MBUL, MBF:
:mod:`collectors.drivers.modbus_registers`), word order, scaling and device unit. Sensors in a
power unit (W, kW) are summed into the server's power; others (volts, an energy counter) are
kept in the settings and not read: a meter's Wh counter is coarser than a CI step, and reports
prefer a counter over the watts when a reading has one.

One TCP connection per read, closed after it, ``endpoint.timeout`` per request and no retry
(the next poll is the retry): meters often accept a single client at a time.
"""

from __future__ import annotations

import time

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ExceptionResponse

from collectors.drivers.base import (
    BMCEndpoint,
    BMCProtocolError,
    BMCSettingsError,
    BMCUnreachable,
    PowerDriver,
    PowerReading,
    PowerUnsupported,
)
from collectors.drivers.modbus_registers import decode, register_count
from collectors.source_settings import Sensor, SourceSettingsError, parse_modbus

DEFAULT_PORT = 502
# Modbus exception codes that mean "this device has no such register"
_NO_SUCH_REGISTER = {2, 3}  # ILLEGAL DATA ADDRESS, ILLEGAL DATA VALUE


class ModbusDriver(PowerDriver):
    """Reads power from Modbus TCP meters."""

    bmc_type = "modbus"

    def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
        try:
            settings = parse_modbus(endpoint.options)
        except SourceSettingsError as exc:
            raise BMCSettingsError(f"source settings: {exc}") from None
        where = f"{endpoint.host}:{endpoint.port or DEFAULT_PORT}"
        client = ModbusTcpClient(
            endpoint.host, port=endpoint.port or DEFAULT_PORT, timeout=endpoint.timeout, retries=0
        )
        try:
            if not client.connect():
                raise BMCUnreachable(f"{where}: no Modbus TCP connection")
            read_at_ns = time.time_ns()  # when asked, once connected (as the IPMI driver does)
            watts = 0.0
            parts: list[tuple[str, float]] = []
            for sensor in settings.sensors:
                if sensor.kind == "power":
                    value = self._read(client, where, sensor) * sensor.scale * sensor.to_si
                    watts += value
                    parts.append((sensor.name, value))
        except ModbusException as exc:
            raise BMCUnreachable(f"{where}: {exc}") from None
        finally:
            client.close()
        return PowerReading(
            watts=watts,
            read_at_ns=read_at_ns,
            source=("modbus:" + "+".join(name for name, _ in parts))[:100],
            parts=tuple(parts) if len(parts) > 1 else (),
        )

    @staticmethod
    def _read(client: ModbusTcpClient, where: str, sensor: Sensor) -> float:
        read = (
            client.read_holding_registers
            if sensor.register_category == "holding"
            else client.read_input_registers
        )
        count = register_count(sensor.register_type)
        response = read(sensor.register_address, count=count, device_id=sensor.device_unit or 0)
        if isinstance(response, ExceptionResponse) or response.isError():
            code = getattr(response, "exception_code", None)
            what = (
                f"{sensor.register_category} register {sensor.register_address} "
                f"of unit {sensor.device_unit}"
            )
            if code in _NO_SUCH_REGISTER:
                raise PowerUnsupported(f"{where}: the meter has no {what} (exception {code})")
            raise BMCProtocolError(f"{where}: the meter refused to read {what} ({response})")
        registers = list(response.registers)
        if len(registers) != count:
            raise BMCProtocolError(
                f"{where}: {len(registers)} registers for {sensor.name}, {count} expected"
            )
        return decode(registers, sensor.register_type, sensor.register_order)
