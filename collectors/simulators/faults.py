"""Ways a simulated BMC misbehaves on demand, shared by every protocol's simulator."""

from __future__ import annotations

from enum import StrEnum


class Fault(StrEnum):
    """What a simulated BMC does instead of answering well.

    Simulators read their ``fault`` attribute on every request, so tests switch it while the
    simulator runs.
    """

    NONE = "none"
    WRONG_PASSWORD = "wrong-password"  # refuses every login, whatever the credentials
    NULL_READING = "null"  # answers, but without a usable power value
    SLOW = "slow"  # answers after ``slow_seconds``
    ERROR = "error"  # answers with an error (HTTP 5xx, IPMI completion code 0xFF)
    HANG = "hang"  # accepts the request and never answers
    # HTTP only (Redfish): sends the status line and headers, then the body one byte every
    # ``drip_seconds``: every socket read of the client returns within its timeout, so only a
    # deadline on the whole read stops it
    DRIP = "drip"
