"""Where BMCs without DCMI keep their power: SDR sensor names, as data.

Each entry is a regular expression matched against the whole sensor name, without regard to
case: vendor patterns first, then the generic ones. The first pattern that matches any sensor
wins, and *every* sensor it matches is read and summed: a pattern such as ``PS\\d+ Input Power``
names one input-power sensor per PSU, and the server draws their sum. Keys are IANA enterprise
numbers (the manufacturer id in Get Device ID). The vendor names are those the original energy
recorder knew; add one when a BMC is met that needs it, keeping to sensors that measure the
server's *input* power.
"""

from __future__ import annotations

#: sensor name patterns by manufacturer id
VENDOR_POWER_SENSORS: dict[int, tuple[str, ...]] = {
    674: ("Pwr Consumption",),  # Dell iDRAC
    11: ("Power Meter",),  # HPE iLO
    10368: ("Total Power",),  # Fujitsu iRMC
    20301: ("Avg Power",),  # IBM
    28458: ("HSC Input Power",),  # Nokia
    40092: ("HSC Input Power",),  # Lenovo (Nokia-built boards)
    19046: ("Sys Power",),  # Lenovo
    10297: ("BOARD_POWER",),  # Advantech
    5771: ("POWER_USAGE",),  # Cisco
    343: (r"PS\d* ?Input Power",),  # Intel: one per PSU
    2011: (r"Power\d+",),  # Huawei: one per PSU
}

#: patterns tried on every BMC after its vendor's (whole-server sensors before per-PSU ones)
GENERIC_POWER_SENSORS: tuple[str, ...] = (
    "Total_Power",
    "Total Power",
    "System Power",
    "Sys Power",
    "Power Meter",
    "Pwr Consumption",
    "HSC Input Power",
    "Avg Power",
    "POWER_USAGE",
    "BOARD_POWER",
    r"PS\d+ ?Input Power",
    r"PSU\d+ ?(Input )?Power",
)


def power_sensor_patterns(manufacturer_id: int | None) -> tuple[str, ...]:
    """Candidate sensor name patterns for a BMC, best first, without duplicates."""
    names = VENDOR_POWER_SENSORS.get(manufacturer_id or -1, ()) + GENERIC_POWER_SENSORS
    return tuple(dict.fromkeys(names))
