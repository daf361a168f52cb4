"""Where BMCs without DCMI keep their power: SDR sensor names, as data.

Names are matched without regard to case, vendor names first, then the generic ones. Keys are
IANA enterprise numbers (the manufacturer id in Get Device ID). Add a name when a BMC is met
that needs it; keep to sensors that measure the server's *input* power.
"""

from __future__ import annotations

#: sensor names by manufacturer id
VENDOR_POWER_SENSORS: dict[int, tuple[str, ...]] = {
    674: ("Pwr Consumption",),  # Dell iDRAC
    11: ("Power Meter",),  # HPE iLO
    10368: ("Total Power",),  # Fujitsu iRMC
}

#: names tried on every BMC after its vendor's
GENERIC_POWER_SENSORS: tuple[str, ...] = (
    "Total_Power",
    "Total Power",
    "System Power",
    "Sys Power",
    "Power Meter",
    "Pwr Consumption",
)


def power_sensor_names(manufacturer_id: int | None) -> tuple[str, ...]:
    """Candidate sensor names for a BMC, best first, without duplicates."""
    names = VENDOR_POWER_SENSORS.get(manufacturer_id or -1, ()) + GENERIC_POWER_SENSORS
    return tuple(dict.fromkeys(names))
