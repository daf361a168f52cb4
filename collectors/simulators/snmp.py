"""A simulated SNMP PDU on loopback: outlets playing power profiles, in the four vendors' MIBs.

One :class:`SNMPSimulator` is one PDU agent (pysnmp's command responder on a UDP port of
127.0.0.1) with numbered outlets. Each outlet's power, in whole watts as PDUs report it, answers
at the OID of every vendor preset EnergyLab knows (APC PowerNet-MIB, Raritan PDU2-MIB,
ServerTech Sentry4-MIB, Eaton EATON-EPDU-MIB: :mod:`collectors.drivers.snmp_presets`), for PDU
unit 1 and cord 1; ``sensors`` adds any other OID. It answers SNMP v1/v2c communities and v3
users with any of the authentication and privacy protocols, so ``snmpget`` reads it::

    snmpget -v2c -c public 127.0.0.1:PORT 1.3.6.1.4.1.318.1.1.26.9.4.3.1.7.1

Values are computed at the time of the GET from the outlet's :class:`PowerProfile`, which is
the truth the end-to-end tests compare reports against.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import instrum

from collectors.drivers.snmp import AUTH_PROTOCOLS, PRIVACY_PROTOCOLS
from collectors.drivers.snmp_presets import OUTLET_POWER_OID
from collectors.simulators.profile import PowerProfile
from collectors.simulators.serving import LoopThread, Served
from collectors.source_settings import Outlet


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 user; protocols by :mod:`collectors.source_settings`' names (sha, aes128...)."""

    name: str
    auth_protocol: str = "sha"
    auth_key: str = ""
    privacy_protocol: str = "aes128"
    privacy_key: str = ""


class _Values(instrum.AbstractMibInstrumController):
    """Answers a GET from a table of OID -> value function; anything else is noSuchInstance."""

    def __init__(self, table: Mapping[tuple[int, ...], Callable[[], Any]]) -> None:
        self._table = table

    def read_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        answer = []
        for oid, _ in var_binds:
            read = self._table.get(tuple(oid))
            answer.append((oid, read() if read is not None else rfc1905.noSuchInstance))
        return answer


class SNMPSimulator(Served):
    """A PDU agent with ``len(outlets)`` outlets numbered from 1.

    :param outlets: one power profile per outlet.
    :param communities: v1/v2c communities accepted.
    :param users: SNMPv3 users accepted.
    :param sensors: more OIDs (``"1.3.6.1..."``) and functions giving their value (a number).
    """

    def __init__(
        self,
        outlets: Sequence[PowerProfile],
        *,
        communities: Sequence[str] = ("public",),
        users: Sequence[V3User] = (),
        sensors: Mapping[str, Callable[[], float]] | None = None,
    ) -> None:
        self.outlets = list(outlets)
        self.communities = list(communities)
        self.users = list(users)
        self.sensors = dict(sensors or {})
        self.host = "127.0.0.1"
        self.port = 0
        self.gets = 0  # GET requests answered, for tests
        self._serving: LoopThread | None = None
        self._engine: engine.SnmpEngine | None = None

    def outlet_watts(self, number: int) -> int:
        """Outlet ``number``'s power now, in whole watts as the agent reports it."""
        return round(self.outlets[number - 1].watts_at())

    def _table(self) -> dict[tuple[int, ...], Callable[[], Any]]:
        table: dict[tuple[int, ...], Callable[[], Any]] = {}
        for number in range(1, len(self.outlets) + 1):
            for vendor, oid_of in OUTLET_POWER_OID.items():
                oid = oid_of(Outlet(number=number, vendor=vendor))
                table[_oid(oid)] = self._counted(partial(self._outlet_value, number))
        for oid, read in self.sensors.items():
            table[_oid(oid)] = self._counted(partial(_snmp_number_of, read))
        return table

    def _outlet_value(self, number: int) -> Any:
        return rfc1902.Integer32(self.outlet_watts(number))

    def _counted(self, read: Callable[[], Any]) -> Callable[[], Any]:
        def counted() -> Any:
            self.gets += 1
            return read()

        return counted

    def _configure(self, sock: socket.socket) -> engine.SnmpEngine:
        snmp_engine = engine.SnmpEngine()
        config.add_transport(
            snmp_engine, udp.DOMAIN_NAME, udp.UdpAsyncioTransport().open_server_mode(sock=sock)
        )
        for index, community in enumerate(self.communities):
            config.add_v1_system(snmp_engine, f"area-{index}", community)
        for user in self.users:
            config.add_v3_user(
                snmp_engine,
                user.name,
                AUTH_PROTOCOLS[user.auth_protocol],
                user.auth_key or None,
                PRIVACY_PROTOCOLS[user.privacy_protocol],
                user.privacy_key or None,
            )
        snmp_context = context.SnmpContext(snmp_engine)
        snmp_context.unregister_context_name(b"")
        snmp_context.register_context_name(b"", _Values(self._table()))
        cmdrsp.GetCommandResponder(snmp_engine, snmp_context)
        return snmp_engine

    def start(self) -> SNMPSimulator:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]

        async def setup() -> None:
            self._engine = self._configure(sock)

        async def teardown() -> None:
            if self._engine is not None:
                self._engine.close_dispatcher()

        self._serving = LoopThread(f"snmp-sim-{self.port}")
        self._serving.start(setup, teardown)
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
        self._serving = None


def _oid(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip(".").split("."))


def _snmp_number_of(read: Callable[[], float]) -> Any:
    value = read()
    if float(value).is_integer():
        return rfc1902.Integer32(int(value))
    return rfc1902.OctetString(f"{value:.3f}")  # agents write decimals as strings
