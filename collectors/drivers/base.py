"""The contract every BMC driver keeps.

A driver reads one server's power from its BMC. It knows one protocol and nothing of Django,
Celery or the buffer: the poll task hands it a :class:`BMCEndpoint` and gets a
:class:`PowerReading` back, or one of the :class:`DriverError` subclasses below. Library
exceptions (pyghmi, redfish, requests, sockets) never leave a driver: callers catch
``DriverError`` and nothing else.

Error messages must never contain the BMC password; :func:`redact` helps with that.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.drivers.deadline import DeadlinePassed, call_within


@dataclass(frozen=True)
class BMCEndpoint:
    """Where a BMC lives and how to log in to it."""

    host: str
    port: int | None = None
    username: str = ""
    password: str = field(default="", repr=False)  # repr=False: never printed in a traceback
    verify_tls: bool = False
    scheme: str | None = (
        None  # "http" or "https" for HTTP-based drivers; None: the driver's default
    )
    timeout: float = 5.0  # seconds for one request, connect included
    #: the server's per-type settings (``Server.source_settings``: OIDs, registers, outlets...);
    #: empty for BMC types that need none
    options: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: a second secret some sources need (the SNMPv3 privacy pass phrase)
    privacy_password: str = field(default="", repr=False)
    #: seconds between two polls of this server (its pod's interval); None: unknown. A driver
    #: takes the BMC's own average over a window no longer than about this (drivers.averaging)
    poll_interval: float | None = None

    @property
    def session_key(self) -> tuple[str, int | None, str, str | None]:
        """The key of the session cache: one session per BMC address and user."""
        return (self.host, self.port, self.username, self.scheme)


#: the ``source`` of readings that are the BMC's mean power over a window (``averaged_over_ns``
#: set) from the standard resources; :func:`collectors.drivers.averaged_sources` adds the OEM
#: ones. Reports treat them as averages (nothing passes between two of them unseen).
SOURCE_DCMI_AVERAGE = "dcmi:average"
SOURCE_REDFISH_AVERAGE = "redfish:PowerMetrics"
SOURCE_REDFISH_SENSOR_AVERAGE = "redfish:Sensor:average"
AVERAGED_SOURCES = frozenset(
    {SOURCE_DCMI_AVERAGE, SOURCE_REDFISH_AVERAGE, SOURCE_REDFISH_SENSOR_AVERAGE}
)


@dataclass(frozen=True, slots=True)
class PowerReading:
    """One power reading of one server.

    ``watts`` is the server's input power. ``read_at_ns`` is when we asked for it, by our clock
    (``time.time_ns()``: integer nanoseconds since the epoch, UTC; the poller makes it the
    sample's time); ``bmc_timestamp_ns`` is the BMC's own time for the value when it says one,
    in the same unit. ``source`` names the resource that answered (for example ``dcmi``,
    ``sdr:Total_Power``, ``redfish:EnvironmentMetrics``, ``ilo:FastPowerMeter``). ``energy_j``
    is a cumulative energy counter in joules when the BMC keeps one, else None.
    ``averaged_over_ns`` is set when the value is the BMC's mean power over that long (iLO's
    FastPowerMeter: 20 s), ending about when we asked.
    """

    watts: float
    read_at_ns: int
    source: str
    bmc_timestamp_ns: int | None = None
    energy_j: float | None = None
    #: when the reading is a sum (PDU outlets, per-PSU sensors): each part's name and watts
    parts: tuple[tuple[str, float], ...] = ()
    averaged_over_ns: int | None = None

    @property
    def value_time_ns(self) -> int:
        """The moment the value stands for, which the poller makes the sample's time: when we
        asked, or for an average the middle of its window. (The trapezoid over averages dated
        at their windows' ends would lag the power by half a window, its energy by that much at
        each change. The BMC's own time for the entry is not used: its clock may disagree with
        ours, and polls of one entry would all get one time.)"""
        return self.read_at_ns - (self.averaged_over_ns or 0) // 2


class DriverError(Exception):
    """Base of every error a driver raises. The message is safe to log and to store."""


class BMCUnreachable(DriverError):
    """The BMC did not answer in time, refused the connection, or its name does not resolve."""


class ReadDeadlinePassed(BMCUnreachable):
    """The whole read (all its requests, logins and retries) did not end by its deadline: a
    BMC that answers too slowly to be read, such as one that drips its answer byte by byte."""


class BMCAuthFailed(DriverError):
    """The BMC refused the credentials."""


class PowerUnsupported(DriverError):
    """The BMC answered, but none of the places this driver knows holds a power reading."""


class BMCProtocolError(DriverError):
    """The BMC answered something this driver cannot read (garbage, an error status, null)."""


class BMCSettingsError(DriverError):
    """The server's settings cannot be used to reach its BMC (an address stored before it was
    validated, a password the current keys cannot decrypt)."""


class PowerDriver(abc.ABC):
    """One protocol. Instances are cheap; sessions live in the driver's own session cache."""

    #: the value of ``Server.bmc_type`` this driver serves
    bmc_type: str = ""

    @abc.abstractmethod
    def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
        """Read the server's power now.

        :raises BMCUnreachable: no answer within ``endpoint.timeout`` (plus one retry at most).
        :raises BMCAuthFailed: the BMC refused the credentials.
        :raises PowerUnsupported: the BMC has no power reading this driver can find.
        :raises BMCProtocolError: the BMC answered something unreadable.
        """

    def read_power_by(self, endpoint: BMCEndpoint, deadline: float) -> PowerReading:
        """:meth:`read_power`, ended at ``deadline`` (``time.monotonic()``) whatever the BMC
        sends. Every caller reads through this, so every driver has a whole-read deadline
        without writing one (see :mod:`collectors.drivers.deadline`): a driver must only let
        a ``BaseException`` it did not raise pass through (``except Exception``, never a bare
        ``except``) and release what it holds in ``finally``/``with``.

        :raises ReadDeadlinePassed: the read did not end by ``deadline`` (it is interrupted
            within one byte's wait of it, or ``endpoint.timeout`` for a silent BMC).
        :raises DriverError: as :meth:`read_power`.
        """
        try:
            return call_within(deadline, lambda: self.read_power(endpoint))
        except DeadlinePassed:
            raise ReadDeadlinePassed(
                f"{endpoint.host}: no complete answer by the read's deadline (read abandoned)"
            ) from None

    def forget(self, endpoint: BMCEndpoint) -> None:  # noqa: B027 - optional hook
        """Drop any cached session or discovery for this BMC (credentials changed, server deleted)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Log out of every cached session (worker shutdown)."""


def redact(text: str, *secrets: str) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
