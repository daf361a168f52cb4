"""IPMI bridging to a controller behind the BMC (the original's ``host: address:0x82``)."""

from __future__ import annotations

import struct
from typing import Any

from collectors.drivers.base import BMCEndpoint
from collectors.drivers.ipmi import _BMC, _DCMI_GROUP, _DCMI_POWER_ACTIVE, IPMIDriver


class FakeCommand:
    """Answers DCMI Get Power Reading and remembers how it was asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def raw_command(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        data = bytes([_DCMI_GROUP]) + struct.pack(
            "<HHHHIIB", 321, 0, 0, 0, 0, 1000, _DCMI_POWER_ACTIVE
        )
        return {"code": 0, "data": data}


def test_a_bridged_server_reads_dcmi_through_the_bmc_at_its_target_address() -> None:
    command = FakeCommand()
    endpoint = BMCEndpoint("10.0.0.1", options={"bridge_address": 0x82, "bridge_channel": 7})
    reading = IPMIDriver()._read_power(_BMC(), command, endpoint)
    assert reading.watts == 321
    assert command.calls[0]["bridge_request"] == {"addr": 0x82, "channel": 7}


def test_an_unbridged_server_sends_no_bridge_request() -> None:
    command = FakeCommand()
    IPMIDriver()._read_power(_BMC(), command, BMCEndpoint("10.0.0.1"))
    assert "bridge_request" not in command.calls[0]


def test_a_zero_average_beside_a_current_power_is_not_taken_for_the_reading() -> None:
    # A BMC that keeps no statistics answers 0 for them, with a 1-s period: the current power.
    reading = IPMIDriver()._read_power(
        _BMC(), FakeCommand(), BMCEndpoint("10.0.0.1", poll_interval=1.0)
    )
    assert (reading.watts, reading.source, reading.averaged_over_ns) == (321, "dcmi", None)
