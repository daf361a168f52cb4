"""HPE iLO 4 (firmware 2.1+) and iLO 5/6: Redfish with HPE's quirks.

iLO is read through :class:`~collectors.drivers.redfish.RedfishDriver`'s machinery (sessions,
discovery, error mapping); what differs is data:

* HPE's OEM power meter is always among the places tried, even when the service root does not
  say ``Vendor: HPE`` (iLO 4 only has ``Oem.Hp``): ``Chassis/{id}/Power/FastPowerMeter`` on
  iLO 5/6 and ``/rest/v1/Chassis/{id}/PowerMetrics/FastPowerMeter`` on iLO 4, last
  ``PowerDetail`` entry's ``Average`` (source ``ilo:FastPowerMeter``). It is tried after the
  standard resources, i.e. where Redfish lacks a reading;
* iLO writes some numbers as strings (``"245"``): the Redfish driver's number parsing takes them.

Do not install ``python-ilorest-library`` next to ``redfish``: it ships a module of the same name.
"""

from __future__ import annotations

from collectors.drivers.redfish import RedfishDriver


class ILODriver(RedfishDriver):
    """Reads power from HPE iLO 4/5/6."""

    bmc_type = "ilo"
    assumed_vendors = frozenset({"HPE"})
