"""IPMI over LAN (RMCP+, "lanplus") on pyghmi: DCMI Get Power Reading, else an SDR power sensor.

One logged-in ``pyghmi.ipmi.command.Command`` per BMC and user is kept and reused; a broken or
expired session is replaced by a new login (once per read). At most one request per BMC is in
flight: pyghmi serialises everything to one BMC over one session anyway, and a second caller
would only queue behind the first.

Time limits: pyghmi has its own, and they are long. Measured against the simulator, a login to
a BMC that never answers fails after about 4.6-5.4 s, and a BMC that stops answering in the
middle of a session keeps pyghmi retrying and logging in again for about 29 s. So each read
runs in a short-lived thread and the caller waits at most ``endpoint.timeout`` (login and one
re-login included), then gets :class:`BMCUnreachable`. The abandoned request keeps its thread
until pyghmi gives up; until then, reads of that BMC fail at once instead of queueing. The
poll task above enforces its own deadline as well.

pyghmi's own bugs that hurt a poller (a lock-order deadlock, lost wake-ups, ``select()`` past
fd 1023) are patched in :mod:`collectors.drivers.pyghmi_patches`, applied when a driver is built.

pyghmi trap (lab notes): credentials go to pyghmi as *bytes*. With ``str`` credentials a second
``Command`` to the same BMC in one process hangs forever.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pyghmi import exceptions as pyghmi_exceptions
from pyghmi.ipmi import command as pyghmi_command

from collectors.drivers import pyghmi_patches
from collectors.drivers.averaging import use_average
from collectors.drivers.base import (
    SOURCE_DCMI_AVERAGE,
    BMCAuthFailed,
    BMCEndpoint,
    BMCProtocolError,
    BMCUnreachable,
    DriverError,
    PowerDriver,
    PowerReading,
    PowerUnsupported,
    redact,
)
from collectors.drivers.ipmi_sensors import power_sensor_patterns

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_PORT", "IPMIDriver"]

DEFAULT_PORT = 623

_DCMI_NETFN, _DCMI_GET_POWER_READING, _DCMI_GROUP = 0x2C, 0x02, 0xDC
_DCMI_POWER_ACTIVE = 0x40
# Completion codes that mean "this BMC has no such command/feature", not "try again".
_UNSUPPORTED_CODES = frozenset({0xC1, 0xC2, 0xCB, 0xCC, 0xD5, 0xD6})
_NO_ANSWER_CODE = 0xFFFF  # pyghmi's code for "retries ran out"
# Words in pyghmi's login errors that mean the BMC refused who we are.
_AUTH_WORDS = ("password", "unauthorized", "rakp", "privelege", "privilege", "role", "name")

Key = tuple[str, int | None, str, str | None]


class _SessionLost(Exception):
    """pyghmi's session broke mid-request: log in again once."""


class _DCMIInactive(BMCProtocolError):
    """DCMI answered "power measurement not active": no value now."""


@dataclass
class _Sensor:
    """An SDR power sensor found on a BMC (pyghmi's SDREntry decodes its readings)."""

    name: str
    entry: Any


@dataclass
class _BMC:
    """Cached state of one BMC and user."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    state_lock: threading.Lock = field(default_factory=threading.Lock)
    command: Any = None
    credentials: tuple[str, str] | None = None
    source: str | None = None  # what answered last time: "dcmi" or "sdr:<name>[+<name>...]"
    sensors: tuple[_Sensor, ...] = ()  # the SDR power sensors found (one, or one per PSU)
    stuck: bool = False  # an abandoned request still holds ``lock``
    last_used: float = 0.0  # monotonic time of the last request on ``command``
    logins: int = 0


@dataclass
class _Call:
    done: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    reading: PowerReading | None = None
    error: BaseException | None = None


class IPMIDriver(PowerDriver):
    """Reads power over IPMI; see the module docstring for sessions and time limits."""

    bmc_type = "ipmi"

    def __init__(self, *, session_max_idle: float = 20.0) -> None:
        """:param session_max_idle: seconds after which an unused session is replaced by a new
        login rather than trusted (BMCs drop idle sessions, often after 30-60 s)."""
        pyghmi_patches.apply()  # a no-op after the app's start; needed without Django
        self.session_max_idle = session_max_idle
        self._bmcs: dict[Key, _BMC] = {}
        self._bmcs_lock = threading.Lock()

    # -- the contract ---------------------------------------------------------------------------

    def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
        """Read the server's power now (DCMI first, else the remembered or found SDR sensor).

        :raises BMCUnreachable: no answer within ``endpoint.timeout``, or an earlier request to
            this BMC that timed out is still unanswered.
        :raises BMCAuthFailed: the BMC refused the credentials.
        :raises PowerUnsupported: no DCMI power reading and no known SDR power sensor.
        :raises BMCProtocolError: an error completion code, a null reading, or garbage.
        """
        bmc = self._bmc(endpoint.session_key)
        where = _where(endpoint)
        if bmc.stuck:
            raise BMCUnreachable(f"{where}: an earlier request is still unanswered")
        if not bmc.lock.acquire(timeout=endpoint.timeout):
            raise BMCUnreachable(f"{where}: busy with another request for {endpoint.timeout} s")
        call = _Call()
        worker = threading.Thread(
            target=self._run, args=(bmc, endpoint, call), name=f"ipmi {where}", daemon=True
        )
        try:
            worker.start()
        except BaseException:
            bmc.lock.release()
            raise
        if not call.done.wait(endpoint.timeout):  # login and one re-login included
            with bmc.state_lock:
                if not call.finished:
                    bmc.stuck = True
            if bmc.stuck:
                logger.debug(
                    "%s: no answer within %s s, request abandoned", where, endpoint.timeout
                )
                raise BMCUnreachable(f"{where}: no answer within {endpoint.timeout} s")
        if call.error is not None:
            raise call.error
        assert call.reading is not None
        return call.reading

    def forget(self, endpoint: BMCEndpoint) -> None:
        """Log out and drop the session and discovery of this BMC and user."""
        with self._bmcs_lock:
            bmc = self._bmcs.pop(endpoint.session_key, None)
        if bmc is not None:
            self._logout(bmc, _where(endpoint))

    def close(self) -> None:
        """Log out of every cached session."""
        with self._bmcs_lock:
            bmcs, self._bmcs = self._bmcs, {}
        for key, bmc in bmcs.items():
            self._logout(bmc, f"{key[0]}:{key[1] or DEFAULT_PORT}")

    # -- internals ------------------------------------------------------------------------------

    def _bmc(self, key: Key) -> _BMC:
        with self._bmcs_lock:
            bmc = self._bmcs.get(key)
            if bmc is None:
                bmc = self._bmcs[key] = _BMC()
            return bmc

    def _run(self, bmc: _BMC, endpoint: BMCEndpoint, call: _Call) -> None:
        """The worker thread: one read with the BMC's lock held, errors made ours."""
        try:
            call.reading = self._read(bmc, endpoint)
        except DriverError as exc:
            call.error = exc
        except Exception as exc:  # pyghmi can raise nearly anything on odd bytes
            call.error = BMCProtocolError(_describe(endpoint, exc))
        finally:
            with bmc.state_lock:
                call.finished = True
                bmc.stuck = False
            bmc.lock.release()
            call.done.set()

    def _read(self, bmc: _BMC, endpoint: BMCEndpoint) -> PowerReading:
        for attempt in (1, 2):
            command = self._session(bmc, endpoint)
            try:
                return self._read_power(bmc, command, endpoint)
            except _SessionLost:
                bmc.command = None  # broken: nothing to log out of
                if attempt == 2:
                    raise BMCUnreachable(f"{_where(endpoint)}: session lost twice") from None
                logger.debug("%s: session lost, logging in again", _where(endpoint))
        raise AssertionError("unreachable")

    def _session(self, bmc: _BMC, endpoint: BMCEndpoint) -> Any:
        """The BMC's logged-in Command, logging in when there is none or it broke."""
        credentials = (endpoint.username, endpoint.password)
        command, now = bmc.command, time.monotonic()
        if command is not None:
            session = command.ipmi_session
            if bmc.credentials != credentials or now - bmc.last_used > self.session_max_idle:
                # New credentials, or idle long enough that the BMC may have dropped the
                # session: pyghmi would spend ~9 s retrying before it logs in again itself.
                bmc.command = None
                _close(command, _where(endpoint))
            elif not session.broken and session.logged:
                bmc.last_used = now
                return command
            bmc.command = None
        try:
            command = _login(endpoint)
        except pyghmi_exceptions.IpmiException as exc:
            message = str(exc.args[0]) if exc.args and exc.args[0] else ""
            text = _describe(endpoint, exc, message or "no answer")
            if not message or message in ("timeout", "Session no longer connected"):
                raise BMCUnreachable(text) from None
            if any(word in message.lower() for word in _AUTH_WORDS):
                raise BMCAuthFailed(text) from None
            raise BMCProtocolError(text) from None
        except OSError as exc:  # name resolution, no route
            raise BMCUnreachable(_describe(endpoint, exc)) from None
        bmc.command, bmc.credentials = command, credentials
        bmc.last_used = time.monotonic()
        bmc.logins += 1
        logger.debug("%s: logged in as %s", _where(endpoint), endpoint.username)
        return command

    def _read_power(self, bmc: _BMC, command: Any, endpoint: BMCEndpoint) -> PowerReading:
        where = _where(endpoint)
        bridge = _bridge_request(endpoint)
        if bridge:
            # A controller behind the BMC (the original's host:0x82): its DCMI reading, sent
            # through the BMC. pyghmi reads SDRs of the BMC itself only, so no SDR fallback.
            try:
                return self._read_dcmi(command, where, bridge, endpoint.poll_interval)
            except _DCMIInactive as exc:
                raise PowerUnsupported(str(exc)) from None
        if bmc.source not in (None, "dcmi"):
            return self._read_sdr(bmc, command, where, None)
        dcmi_error: DriverError
        try:
            reading = self._read_dcmi(command, where, poll_interval=endpoint.poll_interval)
        except PowerUnsupported as exc:
            if bmc.source == "dcmi":
                logger.debug("%s: DCMI power gone, looking again", where)
                bmc.source = None
            dcmi_error = exc
        except _DCMIInactive as exc:
            if bmc.source == "dcmi":
                raise
            dcmi_error = exc  # DCMI there but idle: an SDR sensor may still know
        else:
            bmc.source = "dcmi"
            return reading
        return self._read_sdr(bmc, command, where, dcmi_error)

    def _raw(self, command: Any, where: str, netfn: int, cmd: int, **kwargs: Any) -> bytes:
        """Send one request; the answer's data, or our error for its completion code."""
        try:
            response = command.raw_command(netfn=netfn, command=cmd, **kwargs)
        except pyghmi_exceptions.IpmiException:
            raise _SessionLost() from None
        code = response.get("code", 0)
        if code == _NO_ANSWER_CODE or response.get("error") == "timeout":
            raise _SessionLost()
        if code in _UNSUPPORTED_CODES:
            raise PowerUnsupported(f"{where}: netfn {netfn:#04x} cmd {cmd:#04x}: code {code:#04x}")
        if code:
            raise BMCProtocolError(
                f"{where}: netfn {netfn:#04x} cmd {cmd:#04x}: completion code {code:#04x}"
            )
        return bytes(response.get("data", b""))

    def _read_dcmi(
        self,
        command: Any,
        where: str,
        bridge: dict[str, int] | None = None,
        poll_interval: float | None = None,
    ) -> PowerReading:
        # Stamped when asked: the BMC answers at once, but pyghmi may hand the reply over up to
        # a second later (its retry timer), which would date the value too late.
        read_at_ns = time.time_ns()
        extra: dict[str, Any] = {"bridge_request": bridge} if bridge else {}
        data = self._raw(
            command,
            where,
            _DCMI_NETFN,
            _DCMI_GET_POWER_READING,
            data=(_DCMI_GROUP, 1, 0, 0),
            **extra,
        )
        if len(data) < 18 or data[0] != _DCMI_GROUP:
            raise BMCProtocolError(f"{where}: DCMI power reading of {len(data)} bytes unreadable")
        current, _min, _max, average, timestamp, period_ms, state = struct.unpack_from(
            "<HHHHIIB", data, 1
        )
        if not state & _DCMI_POWER_ACTIVE:
            raise _DCMIInactive(f"{where}: DCMI power measurement not active")
        stamp = timestamp * 1_000_000_000 if timestamp else None
        # The average over the statistics period, when that period is about a poll interval
        # (drivers.averaging); many BMCs state the time since their statistics were reset
        # instead, hours or days, and then the current power is the reading. A zero average
        # beside a current power is a BMC that keeps no statistics.
        keeps_statistics = average > 0 or current == 0
        if keeps_statistics and use_average(period_ms / 1000, poll_interval):
            return PowerReading(
                watts=float(average),
                read_at_ns=read_at_ns,
                source=SOURCE_DCMI_AVERAGE,
                bmc_timestamp_ns=stamp,
                averaged_over_ns=period_ms * 1_000_000,
            )
        return PowerReading(
            watts=float(current), read_at_ns=read_at_ns, source="dcmi", bmc_timestamp_ns=stamp
        )

    def _read_sdr(
        self, bmc: _BMC, command: Any, where: str, dcmi_error: DriverError | None
    ) -> PowerReading:
        if not bmc.sensors:
            bmc.sensors = self._find_sensors(command, where)
            if not bmc.sensors:
                if isinstance(dcmi_error, _DCMIInactive):
                    raise dcmi_error
                raise PowerUnsupported(f"{where}: no DCMI power reading, no known SDR power sensor")
            logger.debug(
                "%s: reading power from SDR sensors %s", where, [s.name for s in bmc.sensors]
            )
        read_at_ns = time.time_ns()  # when asked, as for DCMI
        parts: list[tuple[str, float]] = []
        for sensor in bmc.sensors:
            entry = sensor.entry
            try:
                data = self._raw(
                    command, where, 0x04, 0x2D, rslun=entry.sensor_lun, data=(entry.sensor_number,)
                )
            except PowerUnsupported:
                bmc.sensors, bmc.source = (), None  # a sensor went away: look again next time
                raise
            if len(data) < 2:
                raise BMCProtocolError(f"{where}: sensor reading of {len(data)} bytes unreadable")
            reading = entry.decode_sensor_reading(command, bytearray(data))
            value = getattr(reading, "value", None)
            if getattr(reading, "unavailable", 0) or value is None:
                raise BMCProtocolError(f"{where}: SDR sensor {sensor.name!r} has no reading")
            parts.append((sensor.name, float(value)))
        bmc.source = ("sdr:" + "+".join(name for name, _ in parts))[:100]
        return PowerReading(
            watts=sum(watts for _, watts in parts),
            read_at_ns=read_at_ns,
            source=bmc.source,
            parts=tuple(parts) if len(parts) > 1 else (),
        )

    def _find_sensors(self, command: Any, where: str) -> tuple[_Sensor, ...]:
        """The readable power sensors the first matching name pattern finds (several for
        per-PSU sensors), by name; none when no pattern matches."""
        try:
            repository = command.init_sdr()
        except pyghmi_exceptions.IpmiException as exc:
            code = exc.args[1] if len(exc.args) > 1 else None
            if code == _NO_ANSWER_CODE or exc.args[:1] == ("Session no longer connected",):
                raise _SessionLost() from None
            if code in _UNSUPPORTED_CODES:
                return ()
            raise BMCProtocolError(f"{where}: reading the SDR failed: {exc}") from None
        except NotImplementedError:  # device SDRs pyghmi cannot read
            return ()
        readable = sorted(
            (
                (str(entry.name), entry)
                for entry in repository.sensors.values()
                if getattr(entry, "readable", False)
            ),
            key=lambda item: item[0],
        )
        for pattern in power_sensor_patterns(getattr(repository, "mfg_id", None)):
            matcher = re.compile(pattern, re.IGNORECASE)
            found = tuple(
                _Sensor(name=name, entry=entry)
                for name, entry in readable
                if matcher.fullmatch(name.strip())
            )
            if found:
                return found
        return ()

    def _logout(self, bmc: _BMC, where: str) -> None:
        # A request abandoned on a hung BMC still holds the lock; its session will break.
        if not bmc.lock.acquire(timeout=0.5):
            return
        try:
            command, bmc.command = bmc.command, None
            if command is not None:
                _close(command, where)
        finally:
            bmc.lock.release()


def _close(command: Any, where: str) -> None:
    """Log out (pyghmi sends Close Session and does not wait for the answer)."""
    try:
        command.ipmi_session.logout()
    except Exception as exc:
        logger.debug("%s: logout failed: %s", where, type(exc).__name__)


def _login(endpoint: BMCEndpoint) -> Any:
    """A logged-in Command. Credentials as bytes: see the module docstring."""
    for pause in _LOGIN_RACE_PAUSES:
        try:
            return pyghmi_command.Command(
                bmc=endpoint.host,
                port=endpoint.port or DEFAULT_PORT,
                userid=endpoint.username.encode("utf-8"),
                password=endpoint.password.encode("utf-8"),
            )
        except AttributeError as exc:
            # pyghmi race: a failed login is marked broken (by another thread's event loop)
            # a moment before its error message is set, and raising that message fails. An
            # immediate retry can be handed the same half-broken session (pyghmi shares
            # sessions by address and credentials), so wait for the other thread to finish
            # marking it before trying again; the next attempt gives the real error.
            if "errormsg" not in str(exc) or pause is None:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


# Pauses before each retry of a login that lost pyghmi's race; None: the last attempt.
_LOGIN_RACE_PAUSES: tuple[float | None, ...] = (0.05, 0.2, None)


def _bridge_request(endpoint: BMCEndpoint) -> dict[str, int] | None:
    """pyghmi's bridge_request for a server whose settings name a target controller."""
    address = endpoint.options.get("bridge_address") if endpoint.options else None
    if address is None:
        return None
    return {"addr": int(address), "channel": int(endpoint.options.get("bridge_channel", 0))}


def _where(endpoint: BMCEndpoint) -> str:
    return f"IPMI {endpoint.host}:{endpoint.port or DEFAULT_PORT}"


def _describe(endpoint: BMCEndpoint, exc: BaseException, message: str | None = None) -> str:
    """A log-safe message: where, what kind, pyghmi's words without the password."""
    text = message if message is not None else str(exc)
    if isinstance(exc, socket.gaierror):
        text = f"cannot resolve {endpoint.host!r}: {text}"
    return redact(f"{_where(endpoint)}: {type(exc).__name__}: {text}", endpoint.password)
