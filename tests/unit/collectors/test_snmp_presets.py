"""PDU vendors' outlet power OIDs."""

from __future__ import annotations

import pytest

from collectors.drivers.snmp_presets import outlet_power_oid
from collectors.source_settings import Outlet


@pytest.mark.parametrize(
    ("outlet", "oid"),
    [
        (Outlet(5, "apc"), "1.3.6.1.4.1.318.1.1.26.9.4.3.1.7.5"),
        (Outlet(5, "raritan"), "1.3.6.1.4.1.13742.6.5.4.3.1.4.1.5.5"),
        (Outlet(5, "raritan", unit=2), "1.3.6.1.4.1.13742.6.5.4.3.1.4.2.5.5"),
        (Outlet(5, "servertech", cord=2), "1.3.6.1.4.1.1718.4.1.8.3.1.7.1.2.5"),
        (Outlet(5, "eaton"), "1.3.6.1.4.1.534.6.6.7.6.5.1.3.0.5"),  # the master PDU is strapping 0
        (Outlet(5, "eaton", unit=3), "1.3.6.1.4.1.534.6.6.7.6.5.1.3.2.5"),
    ],
)
def test_each_vendor_finds_an_outlet_by_number(outlet: Outlet, oid: str) -> None:
    assert outlet_power_oid(outlet) == oid
