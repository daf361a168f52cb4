"""The vendor flavours of the simulated Redfish BMC: resources shaped as the vendors' BMCs
publish them, so the Redfish driver's OEM table (``collectors.drivers.redfish.OEM_POWER_PATHS``)
is tested against what real BMCs answer. Every shape here comes from a published capture or the
vendor's own documentation or code; what could not be confirmed is left out, not made up.

* ``idrac`` (Dell iDRAC 9): chassis ``System.Embedded.1``, legacy ``Power`` with one
  ``PowerControl`` and per-supply ``PowerInputWatts`` and ``Oem.Dell`` (as captured in
  cholcombe973/libredfish ``src/model/testdata/power-dell.json``), and the sensor
  ``Sensors/SystemBoardPwrConsumption`` that Dell's own scripts read (dell/iDRAC-Redfish-Scripting
  ``GetSystemGpuSensorTempDetailsREDFISH.py``);
* ``xcc`` (Lenovo XClarity Controller): legacy ``Power`` with three ``PowerControl`` entries,
  the server's first, then the CPU and memory sub-systems, and ``Oem.Lenovo.HistoryPowerMetric``
  links (libredfish ``power-lenovo.json``);
* ``lenovo-tsm`` (Lenovo ThinkSystem System Manager, the AMI-based BMC): chassis ``Self`` and
  ``Power/Oem/Lenovo/HistoryPowerMeter/PsuAC``, ``historyPower`` entries of ``avgPower`` strings
  30 s apart with local ``timeStamp`` (pubs.lenovo.com/tsm/fast_accurate_power_metering);
* ``ibmc`` (Huawei iBMC): legacy ``Power`` whose ``PowerControl[0].Oem.Huawei``
  ``PowerMetricsExtended`` holds ``CurrentCPUPowerWatts``, ``CurrentMemoryPowerWatts`` and the
  energy counter ``TotalConsumedPowerkWh`` (the iBMC Redfish source's property constants);
* ``supermicro``: the service root as a Supermicro BMC answers it, without ``Vendor`` but with
  ``Oem.Supermicro`` (libredfish ``supermicro_service_root.json``), and legacy ``Power``.

Inspur has no flavour: no published Inspur capture or document gave anything beyond standard
Redfish, so an Inspur BMC is what ``legacy-power`` or ``power-subsystem`` simulates.

With ``oem_only`` the flavours that have an OEM reading (``idrac``, ``lenovo-tsm``) leave the
standard ``Power`` resource out, so that the OEM reading is the one the driver finds.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collectors.simulators.redfish import RedfishSimulator

Json = dict[str, Any]
ROOT = "/redfish/v1"
VENDOR_FLAVOURS = ("idrac", "xcc", "lenovo-tsm", "ibmc", "supermicro")
CHASSIS_IDS = {"idrac": "System.Embedded.1", "lenovo-tsm": "Self"}
MANUFACTURERS = {
    "idrac": "Dell Inc.",
    "xcc": "Lenovo",
    "lenovo-tsm": "Lenovo",
    "ibmc": "Huawei",
    "supermicro": "Supermicro",
}
TSM_HISTORY_ENTRIES = 10
TSM_HISTORY_SPACING_S = 30.0  # as in Lenovo's documented example


def chassis_path(flavour: str) -> str:
    return f"{ROOT}/Chassis/{CHASSIS_IDS.get(flavour, '1')}"


def service_root_fields(flavour: str) -> Json:
    """What a vendor's service root adds (only what a capture shows)."""
    if flavour == "idrac":
        return {"Vendor": "Dell", "RedfishVersion": "1.11.0"}
    if flavour == "xcc":
        return {"Vendor": "Lenovo"}
    if flavour == "supermicro":
        return {
            "RedfishVersion": "1.9.0",
            "Oem": {
                "Supermicro": {"DumpService": {"@odata.id": f"{ROOT}/Oem/Supermicro/DumpService"}}
            },
        }
    return {}


def resources(sim: RedfishSimulator) -> dict[str, Callable[[], Json]]:
    """The vendor flavour's resources by path (the service root and sessions excepted)."""
    flavour = sim.flavour
    chassis = chassis_path(flavour)
    standard = not (sim.oem_only and flavour in ("idrac", "lenovo-tsm"))
    found: dict[str, Callable[[], Json]] = {
        f"{ROOT}/Chassis": lambda: {
            "@odata.id": f"{ROOT}/Chassis",
            "Name": "Chassis Collection",
            "Members@odata.count": 1,
            "Members": [{"@odata.id": chassis}],
        },
        chassis: lambda: _chassis(flavour, chassis, standard),
    }
    if standard:
        found[f"{chassis}/Power"] = lambda: _power(sim, flavour, chassis)
    if flavour == "idrac":
        found[f"{chassis}/Sensors"] = lambda: {
            "@odata.id": f"{chassis}/Sensors",
            "Members": [{"@odata.id": f"{chassis}/Sensors/SystemBoardPwrConsumption"}],
        }
        found[f"{chassis}/Sensors/SystemBoardPwrConsumption"] = lambda: {
            "@odata.id": f"{chassis}/Sensors/SystemBoardPwrConsumption",
            "@odata.type": "#Sensor.v1_6_0.Sensor",
            "Id": "SystemBoardPwrConsumption",
            "Name": "System Board Pwr Consumption",
            "ReadingType": "Power",
            "ReadingUnits": "W",
            "Reading": sim._num(sim.profile.watts_at()),
        }
    if flavour == "lenovo-tsm":
        found[f"{chassis}/Power/Oem/Lenovo/HistoryPowerMeter/PsuAC"] = lambda: _tsm_meter(
            sim, chassis
        )
    return found


def _chassis(flavour: str, path: str, standard: bool) -> Json:
    chassis: Json = {
        "@odata.id": path,
        "@odata.type": "#Chassis.v1_10_0.Chassis",
        "Id": path.rsplit("/", 1)[1],
        "Name": "Computer System Chassis",
        "ChassisType": "RackMount",
        "Manufacturer": MANUFACTURERS[flavour],
        "PowerState": "On",
    }
    if standard:
        chassis["Power"] = {"@odata.id": f"{path}/Power"}
    if flavour == "idrac":
        chassis["Sensors"] = {"@odata.id": f"{path}/Sensors"}
    return chassis


def _power(sim: RedfishSimulator, flavour: str, chassis: str) -> Json:
    watts = sim.profile.watts_at()
    server: Json = {
        "@odata.id": f"{chassis}/Power#/PowerControl/0",
        "MemberId": "0",
        "Name": "System Power Control" if flavour == "idrac" else "Server Power Control",
        "PowerConsumedWatts": sim._num(watts),
        "PowerCapacityWatts": 1600,
        "PowerMetrics": {
            "IntervalInMin": 1,
            "AverageConsumedWatts": sim._num(watts),
            "MinConsumedWatts": sim._num(watts),
            "MaxConsumedWatts": sim._num(watts),
        },
        "RelatedItem": [{"@odata.id": chassis}],
    }
    controls = [server]
    if flavour == "xcc":
        server["PhysicalContext"] = "Chassis"
        server["Oem"] = {
            "Lenovo": {
                "@odata.type": "#LenovoPower.v1_0_0.PowerControl",
                "HistoryPowerMetric": {
                    "@odata.id": f"{chassis}/Power/PowerControl/0/Oem/Lenovo/HistoryPowerMetric"
                },
            }
        }
        # The sub-systems' power, a part of the server's: never the reading.
        for index, (name, context, share) in enumerate(
            (
                ("CPU Sub-system Power", "CPUSubsystem", 0.3),
                ("Memory Sub-system Power", "MemorySubsystem", 0.05),
            ),
            start=1,
        ):
            controls.append(
                {
                    "@odata.id": f"{chassis}/Power#/PowerControl/{index}",
                    "MemberId": str(index),
                    "Name": name,
                    "PhysicalContext": context,
                    "PowerConsumedWatts": sim._num(watts * share),
                }
            )
    if flavour == "ibmc":
        server["Oem"] = {
            "Huawei": {
                "PowerMetricsExtended": {
                    "CurrentCPUPowerWatts": sim._num(watts * 0.3),
                    "CurrentMemoryPowerWatts": sim._num(watts * 0.05),
                    "TotalConsumedPowerkWh": round(sim.profile.counter_j(time.time()) / 3.6e6, 6),
                }
            }
        }
    power: Json = {
        "@odata.id": f"{chassis}/Power",
        "@odata.type": "#Power.v1_5_0.Power",
        "Id": "Power",
        "Name": "Power",
        "PowerControl": controls,
        "PowerControl@odata.count": len(controls),
        "PowerSupplies": [],
    }
    for member, share in enumerate((0.5, 0.5)):
        supply: Json = {
            "@odata.id": f"{chassis}/Power#/PowerSupplies/{member}",
            "MemberId": str(member),
            "Name": f"PS{member + 1} Status" if flavour == "idrac" else f"PSU{member + 1}",
            "PowerInputWatts": sim._num(watts * share),
            "Status": {"State": "Enabled", "Health": "OK"},
        }
        if flavour == "idrac":
            slot = f"PSU.Slot.{member + 1}"
            supply["Oem"] = {
                "Dell": {
                    "DellPowerSupply": {
                        "Id": slot,
                        "@odata.id": f"{chassis}/Power/Oem/Dell/DellPowerSupply/{slot}",
                    }
                }
            }
        elif flavour == "ibmc":
            supply["Oem"] = {"Huawei": {"PowerInputWatts": sim._num(watts * share)}}
        power["PowerSupplies"].append(supply)
    return power


def _tsm_meter(sim: RedfishSimulator, chassis: str) -> Json:
    """Lenovo TSM's PSU AC power history: averages over 30 s, oldest first, as strings."""
    now = time.time()
    entries = []
    for k in range(TSM_HISTORY_ENTRIES - 1, -1, -1):
        end = now - k * TSM_HISTORY_SPACING_S
        avg = sim.profile.energy_j(end - TSM_HISTORY_SPACING_S, end) / TSM_HISTORY_SPACING_S
        stamp = dt.datetime.fromtimestamp(end).strftime("%Y-%m-%d %H:%M:%S")  # BMC local time
        value = sim._num(avg)  # None with the NULL_READING fault
        text = None if value is None else f"{float(value):.0f}"
        entries.append({"avgPower": text, "maxPower": text, "minPower": text, "timeStamp": stamp})
    return {
        "@odata.id": f"{chassis}/Power/Oem/Lenovo/HistoryPowerMeter/PsuAC",
        "@odata.type": "#Power.v1_5_3.Power",
        "Id": "lenovo PsuAC power meter",
        "Name": "lenovo PsuAC power meter",
        "historyPower": entries,
    }
