"""SNMP meters: PDU outlets by vendor preset, and any OID as a sensor (pysnmp).

The server's settings (:func:`collectors.source_settings.parse_snmp`) say what to read:

* ``outlets``: PDU outlets that feed the server, found by number through the vendor's MIB
  (:mod:`collectors.drivers.snmp_presets`). A server on several outlets (two PSUs on two PDUs)
  draws their sum; the reading's ``parts`` name each outlet's share;
* ``sensors``: OIDs with a unit and a scale. Those in a power unit (W, kW) are added to the
  power; others (a temperature, an energy counter) are kept in the settings and not read. An
  agent's energy counter is not used as the reading's ``energy_j``: PDUs count whole Wh or
  kWh (3,600 J or more per step), far coarser than a CI step, and reports prefer a counter
  over the watts when there is one.

Credentials: v1/v2c take the community from the server's password (``public`` when blank);
v3 takes the user name, the authentication pass phrase from the password and the privacy pass
phrase from the privacy password. Every OID of one agent is asked in one GET, with
``endpoint.timeout`` for the answer and no retry (the next poll is the retry).

pysnmp is asyncio-based and its engine takes 0.1-0.3 s to build, so each driver keeps one
engine on one event-loop thread of its own (made on first use, again after a fork) and the
polling threads hand it their reads: reads of many PDUs run concurrently on that loop. Changed
credentials need no :meth:`forget`: pysnmp reconfigures a user whose keys changed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.hlapi.v3arch import asyncio as snmp
from pysnmp.proto import errind
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from collectors.drivers.base import (
    BMCAuthFailed,
    BMCEndpoint,
    BMCProtocolError,
    BMCSettingsError,
    BMCUnreachable,
    PowerDriver,
    PowerReading,
    PowerUnsupported,
)
from collectors.drivers.snmp_presets import outlet_power_oid
from collectors.source_settings import SNMPSettings, SourceSettingsError, parse_snmp

DEFAULT_PORT = 161
DEFAULT_COMMUNITY = "public"

#: source_settings' protocol names -> pysnmp's protocol objects
AUTH_PROTOCOLS: Mapping[str, Any] = {
    "none": snmp.usmNoAuthProtocol,
    "md5": snmp.usmHMACMD5AuthProtocol,
    "sha": snmp.usmHMACSHAAuthProtocol,
    "sha224": snmp.usmHMAC128SHA224AuthProtocol,
    "sha256": snmp.usmHMAC192SHA256AuthProtocol,
    "sha384": snmp.usmHMAC256SHA384AuthProtocol,
    "sha512": snmp.usmHMAC384SHA512AuthProtocol,
}
PRIVACY_PROTOCOLS: Mapping[str, Any] = {
    "none": snmp.usmNoPrivProtocol,
    "des": snmp.usmDESPrivProtocol,
    "3des": snmp.usm3DESEDEPrivProtocol,
    "aes128": snmp.usmAesCfb128Protocol,
    "aes192": snmp.usmAesCfb192Protocol,
    "aes256": snmp.usmAesCfb256Protocol,
    "aes192-blumenthal": snmp.usmAesBlumenthalCfb192Protocol,
    "aes256-blumenthal": snmp.usmAesBlumenthalCfb256Protocol,
}

# Error indications that mean the agent refused who we are (v3 USM, or a wrong community that
# some agents report instead of staying silent).
_AUTH_ERRORS = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.UnknownSecurityName,
    errind.DecryptionError,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationFailure,
)


@dataclass(frozen=True)
class Query:
    """One value to read: where, which OID, and what it is part of."""

    host: str
    port: int
    oid: str
    label: str  # the outlet's or sensor's name, as the reading's parts say it
    factor: float  # scale times unit factor: the decoded number times this is watts


def plan(endpoint: BMCEndpoint, settings: SNMPSettings) -> list[Query]:
    """What to read for a server: its outlets' power OIDs and its power sensors."""
    port = endpoint.port or DEFAULT_PORT
    queries = [
        Query(
            outlet.host or endpoint.host,
            outlet.port or port,
            outlet_power_oid(outlet),
            outlet.label,
            1.0,
        )
        for outlet in settings.outlets
    ]
    for sensor in settings.sensors:
        if sensor.kind == "power":
            queries.append(
                Query(
                    endpoint.host,
                    port,
                    sensor.oid,
                    sensor.name,
                    sensor.scale * sensor.to_si,
                )
            )
    return queries


def number(oid: str, value: Any) -> float:
    """An SNMP value as a number.

    :raises PowerUnsupported: the agent has no such object or instance.
    :raises BMCProtocolError: the value is not a number (a string that does not parse).
    """
    if isinstance(value, (NoSuchObject, NoSuchInstance, EndOfMibView)):
        raise PowerUnsupported(f"the agent has no value at OID {oid} ({type(value).__name__})")
    try:
        return float(value.prettyPrint() if hasattr(value, "prettyPrint") else value)
    except (TypeError, ValueError):
        raise BMCProtocolError(f"OID {oid} holds {str(value)[:40]!r}, not a number") from None


class _EngineLoop:
    """An event loop on its own thread, and the SNMP engine that lives on it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="snmp-io", daemon=True)
        self.thread.start()
        self.engine: snmp.SnmpEngine = self.run(self._engine(), 30.0)

    @staticmethod
    async def _engine() -> snmp.SnmpEngine:
        return snmp.SnmpEngine()

    def run(self, coroutine: Any, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        async def shut() -> None:
            self.engine.close_dispatcher()

        try:
            self.run(shut(), 5.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5.0)


class SNMPDriver(PowerDriver):
    """Reads power from SNMP agents (PDUs, meters)."""

    bmc_type = "snmp"

    def __init__(self) -> None:
        self._io: _EngineLoop | None = None
        self._io_lock = threading.Lock()

    def _engine_loop(self) -> _EngineLoop:
        with self._io_lock:
            if self._io is None or self._io.pid != os.getpid():  # none yet, or a forked copy
                self._io = _EngineLoop()
            return self._io

    def close(self) -> None:
        with self._io_lock:
            io, self._io = self._io, None
        if io is not None and io.pid == os.getpid():
            io.close()

    def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
        try:
            settings = parse_snmp(endpoint.options)
        except SourceSettingsError as exc:
            raise BMCSettingsError(f"source settings: {exc}") from None
        queries = plan(endpoint, settings)
        sent_ns: list[int] = []
        io = self._engine_loop()
        try:
            values = io.run(
                self._read_all(io.engine, endpoint, settings, queries, sent_ns),
                endpoint.timeout + 1.0,  # the GETs time out by themselves before this
            )
        except concurrent.futures.TimeoutError:
            raise BMCUnreachable(
                f"{endpoint.host}: no SNMP answer within {endpoint.timeout:g} s"
            ) from None
        # Stamped when the first GET left, not before the engine was built: making an engine
        # takes tens of ms (more on a busy worker), which would date every value too early.
        read_at_ns = min(sent_ns)
        watts = 0.0
        parts: list[tuple[str, float]] = []
        for query, value in zip(queries, values, strict=True):
            if value < 0:  # ServerTech and others say -1 for "not available"
                raise BMCProtocolError(f"{query.label}: the agent says {value:g} W")
            part = value * query.factor
            watts += part
            parts.append((query.label, part))
        source = "snmp:" + "+".join(label for label, _ in parts)
        return PowerReading(
            watts=watts,
            read_at_ns=read_at_ns,
            source=source[:100],
            parts=tuple(parts) if len(parts) > 1 else (),
        )

    async def _read_all(
        self,
        engine: snmp.SnmpEngine,
        endpoint: BMCEndpoint,
        settings: SNMPSettings,
        queries: Sequence[Query],
        sent_ns: list[int],
    ) -> list[float]:
        by_agent: dict[tuple[str, int], list[int]] = defaultdict(list)
        for index, query in enumerate(queries):
            by_agent[(query.host, query.port)].append(index)
        results = await asyncio.gather(
            *(
                self._get(
                    engine,
                    endpoint,
                    settings,
                    agent,
                    [queries[i].oid for i in indexes],
                    sent_ns,
                )
                for agent, indexes in by_agent.items()
            )
        )
        values: list[float] = [0.0] * len(queries)
        for indexes, answer in zip(by_agent.values(), results, strict=True):
            for index, value in zip(indexes, answer, strict=True):
                values[index] = value
        return values

    async def _get(
        self,
        engine: snmp.SnmpEngine,
        endpoint: BMCEndpoint,
        settings: SNMPSettings,
        agent: tuple[str, int],
        oids: list[str],
        sent_ns: list[int],
    ) -> list[float]:
        where = f"{agent[0]}:{agent[1]}"
        try:
            target = await snmp.UdpTransportTarget.create(
                agent, timeout=endpoint.timeout, retries=0
            )
        except Exception as exc:  # pysnmp raises its own PySnmpError for a name that won't resolve
            raise BMCUnreachable(f"{where}: {exc}") from None
        credentials = _credentials(endpoint, settings)
        sent_ns.append(time.time_ns())
        error, status, index, var_binds = await snmp.get_cmd(
            engine,
            credentials,
            target,
            snmp.ContextData(),
            *(snmp.ObjectType(snmp.ObjectIdentity(oid)) for oid in oids),
            lookupMib=False,
        )
        if error:
            if isinstance(error, _AUTH_ERRORS):
                raise BMCAuthFailed(f"{where}: the agent refused the credentials ({error})")
            if isinstance(error, errind.RequestTimedOut):
                raise BMCUnreachable(f"{where}: no SNMP answer within {endpoint.timeout:g} s")
            raise BMCProtocolError(f"{where}: {error}")
        if status:
            at = oids[int(index) - 1] if index and int(index) <= len(oids) else "?"
            if status.prettyPrint() in ("noSuchName",):
                raise PowerUnsupported(f"{where}: the agent has no value at OID {at}")
            raise BMCProtocolError(f"{where}: {status.prettyPrint()} at OID {at}")
        return [number(oid, value) for oid, (_, value) in zip(oids, var_binds, strict=True)]


def _credentials(endpoint: BMCEndpoint, settings: SNMPSettings) -> Any:
    if settings.version == "v3":
        if not endpoint.username:
            raise BMCSettingsError("SNMPv3 needs a user name")
        auth = settings.auth_protocol
        privacy = settings.privacy_protocol
        return snmp.UsmUserData(
            endpoint.username,
            authKey=endpoint.password if auth != "none" else None,
            privKey=endpoint.privacy_password if privacy != "none" else None,
            authProtocol=AUTH_PROTOCOLS[auth],
            privProtocol=PRIVACY_PROTOCOLS[privacy],
        )
    return snmp.CommunityData(
        endpoint.password or DEFAULT_COMMUNITY, mpModel=0 if settings.version == "v1" else 1
    )
