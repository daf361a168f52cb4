"""BMC drivers: one module per protocol behind the contract in :mod:`collectors.drivers.base`."""

from __future__ import annotations

from functools import cache

from collectors.drivers.base import AVERAGED_SOURCES, PowerDriver


@cache
def averaged_sources() -> frozenset[str]:
    """Every ``PowerReading.source`` whose readings are a BMC's average over a window: the
    standard ones, and the vendor resources that state an averaging window (iLO's
    FastPowerMeter, Lenovo's HistoryPowerMeter...)."""
    from collectors.drivers.redfish import OEM_POWER_PATHS

    return AVERAGED_SOURCES | {row.source for row in OEM_POWER_PATHS if row.averaging_s}


@cache
def get_driver(bmc_type: str) -> PowerDriver:
    """The process-wide driver for a ``Server.bmc_type`` (drivers keep their session caches)."""
    if bmc_type == "ipmi":
        from collectors.drivers.ipmi import IPMIDriver

        return IPMIDriver()
    if bmc_type == "redfish":
        from collectors.drivers.redfish import RedfishDriver

        return RedfishDriver()
    if bmc_type == "ilo":
        from collectors.drivers.ilo import ILODriver

        return ILODriver()
    if bmc_type == "snmp":
        from collectors.drivers.snmp import SNMPDriver

        return SNMPDriver()
    if bmc_type == "modbus":
        from collectors.drivers.modbus import ModbusDriver

        return ModbusDriver()
    if bmc_type == "shelly":
        from collectors.drivers.shelly import ShellyDriver

        return ShellyDriver()
    raise KeyError(f"no driver polls BMC type {bmc_type!r}")
