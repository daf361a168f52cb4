"""Where each PDU vendor's MIB keeps one outlet's active power, in watts: data, not code.

Each preset turns an :class:`~collectors.source_settings.Outlet` into the OID of its power:

========== ====================================== ==========================================
vendor     MIB object                             index
========== ====================================== ==========================================
apc        PowerNet-MIB rPDU2OutletMeteredStatusPower  outlet (module 1: index = number)
raritan    PDU2-MIB measurementsOutletSensorValue  pduId . outlet . sensor type 5 (activePower)
servertech Sentry4-MIB st4OutletActivePower        unit . cord . outlet
eaton      EATON-EPDU-MIB outletWatts              strapping (unit - 1: the master is 0) . outlet
========== ====================================== ==========================================

Raritan reports its value with the sensor's decimal digits (0 for active power on every model
we know); the others report whole watts.
"""

from __future__ import annotations

from collections.abc import Callable

from collectors.source_settings import Outlet

APC_OUTLET_POWER = "1.3.6.1.4.1.318.1.1.26.9.4.3.1.7"
RARITAN_OUTLET_SENSOR_VALUE = "1.3.6.1.4.1.13742.6.5.4.3.1.4"
RARITAN_ACTIVE_POWER = 5  # PDU2-MIB SensorTypeEnumeration activePower
SERVERTECH_OUTLET_ACTIVE_POWER = "1.3.6.1.4.1.1718.4.1.8.3.1.7"
EATON_OUTLET_WATTS = "1.3.6.1.4.1.534.6.6.7.6.5.1.3"

OUTLET_POWER_OID: dict[str, Callable[[Outlet], str]] = {
    "apc": lambda o: f"{APC_OUTLET_POWER}.{o.number}",
    "raritan": lambda o: (
        f"{RARITAN_OUTLET_SENSOR_VALUE}.{o.unit}.{o.number}.{RARITAN_ACTIVE_POWER}"
    ),
    "servertech": lambda o: f"{SERVERTECH_OUTLET_ACTIVE_POWER}.{o.unit}.{o.cord}.{o.number}",
    "eaton": lambda o: f"{EATON_OUTLET_WATTS}.{o.unit - 1}.{o.number}",
}


def outlet_power_oid(outlet: Outlet) -> str:
    """The OID of the outlet's active power in watts."""
    return OUTLET_POWER_OID[outlet.vendor](outlet)
