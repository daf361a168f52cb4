"""Simulated BMCs that speak IPMI 2.0 over LAN (RMCP+, "lanplus") on loopback.

Each :class:`IPMISimulator` is one BMC on its own UDP port. It is a ``pyghmi.ipmi.bmc.Bmc``
(pyghmi's server half does the RMCP+ handshake, integrity and AES) and answers:

* Get Device ID (netfn 0x06 cmd 0x01), Get Channel Auth Capabilities, Get Channel Cipher Suites,
  Set Session Privilege, Close Session, Get Chassis Status;
* DCMI Get Power Reading (netfn 0x2c cmd 0x02) from its :class:`PowerProfile`, unless built with
  ``dcmi=False`` (then completion code 0xC1, as a BMC without DCMI): the current power, and the
  minimum, maximum and average over its statistics period (``dcmi_period``, by default a day,
  as many BMCs state the time since their statistics were reset) ending now, with that period
  and its clock's time;
* Get SDR Repository Info / Reserve SDR Repository / Get SDR (netfn 0x0a) and Get Sensor Reading
  (netfn 0x04 cmd 0x2d) for one full-record power sensor (``sensor_name``, watts = raw x
  ``sdr_watts_per_count``), or one per PSU (``sensor_names``, sharing the power equally), which
  is what clients fall back to without DCMI.

``ipmitool -I lanplus`` and pyghmi's client both read it. Faults (:class:`Fault`) are read on
every packet, so tests switch ``sim.fault`` while it runs.

Many BMCs, one thread: an :class:`IPMISimulatorGroup` serves any number of simulators from one
``selectors`` loop (epoll). Slow replies are queued with a due time instead of slept on, so one
slow BMC delays only its own answers. A simulator started without a group gets a private one.
Measured on the 2-core lab machine: 1,000 BMCs in one group start in about 0.3 s.

Why not pyghmi's own server loop (``Bmc.listen`` / ``IpmiServer.__init__``): it registers every
BMC socket in pyghmi's process-wide client I/O loop, which uses ``select()`` (no fd above 1023,
so a few hundred BMCs plus clients break it), lets any client thread in the process run server
handlers, and cannot be stopped. What the lab notes list as traps, and where each is handled:

1. cipher suite 17 offered first: :meth:`IPMISimulator.sessionless_data` refuses any suite but
   3 with RMCP+ status 0x11, so clients fall back to suite 3;
2. blocking vs non-blocking races on the shared socket: reads use ``MSG_DONTWAIT``, and pyghmi's
   send helpers (which flip sockets to blocking) only ever see a :class:`_ReplyPort`;
3. tolerant handler removal: sessions live in the simulator's own dict and are removed with
   ``pop(addr, None)`` (pyghmi's ``del Session.bmc_handlers[addr]`` is never reached);
4. stoppable loop: our loop selects with a timeout and a wake-up socket, ``stop()`` returns
   within a few ms (we do not call ``Session.wait_for_rsp``, see above);
5. port 0: the socket is bound in ``__init__`` and ``.port`` is what the kernel gave;
6. wake-up socket: ours is a ``socketpair`` (no address family to get wrong), and since our
   sockets never enter pyghmi's ``iosockets``, pyghmi's client wake-up target stays its own;
7. ``sessionless_data`` on sessions: :meth:`_SimSession.sessionless_data` forwards to the BMC;
8. Close Session drops the session (and sessions idle for ``SESSION_IDLE_SECONDS`` are swept);
   unknown users and ``Fault.WRONG_PASSWORD`` get RAKP2 status 0x0D at once;
9. one slow BMC: see above.

Run ``python -m collectors.simulators.ipmi --count 100`` to serve BMCs from a separate process
(benchmarks should, so the simulators do not share the client's GIL).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import heapq
import itertools
import logging
import selectors
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pyghmi.ipmi import bmc as pyghmi_bmc
from pyghmi.ipmi.private import constants as ipmi_constants
from pyghmi.ipmi.private import serversession

from collectors.drivers import pyghmi_patches
from collectors.simulators.faults import Fault
from collectors.simulators.profile import PowerProfile
from collectors.simulators.serving import Served

logger = logging.getLogger(__name__)

__all__ = ["SESSION_IDLE_SECONDS", "IPMISimulator", "IPMISimulatorGroup"]

#: sessions without a packet for this long are dropped (IPMI's usual inactivity timeout)
SESSION_IDLE_SECONDS = 60.0

# RMCP+ status codes (IPMI 2.0 table 13-15) and completion codes (table 5-2) we answer with.
_RMCP_NO_CIPHER_SUITE_MATCH = 0x11
_RMCP_UNAUTHORIZED_NAME = 0x0D
_CC_INVALID_COMMAND = 0xC1
_CC_INVALID_DATA = 0xCC
_CC_SENSOR_NOT_PRESENT = 0xCB
_CC_UNSPECIFIED = 0xFF

_DCMI_GROUP = 0xDC
_DCMI_POWER_ACTIVE = 0x40
#: the DCMI statistics period a simulated BMC states unless told: since its statistics were reset
DCMI_DEFAULT_PERIOD_S = 86_400.0
_SUITE_3 = (1, 1, 1)  # RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128: all pyghmi's server can do

# RFC 5612's "example enterprise number": an IANA id no real vendor owns, and one pyghmi has no
# OEM handler for. Zero would make pyghmi repeat Get Device ID on every call (lab notes).
EXAMPLE_MANUFACTURER_ID = 32473

_sdr_epoch = itertools.count(int(time.time()))


def _high_fd(sock: socket.socket) -> socket.socket:
    """Move a socket's fd to 1024 or above, when the fd limit allows.

    pyghmi's client loop uses ``select()``, which fails on fds above 1023; a thousand simulator
    sockets in the same process would push the client's sockets there. Ours use epoll.
    """
    try:
        newfd = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, 1024)
    except OSError:
        return sock
    moved = socket.socket(sock.family, sock.type, sock.proto, fileno=newfd)
    sock.close()
    return moved


def _rmcp_plus_packet(payload_type: int, payload: bytes) -> bytes:
    """An unauthenticated IPMI 2.0 packet (session id 0), as session setup messages are."""
    header = b"\x06\x00\xff\x07" + bytes([0x06, payload_type]) + b"\x00" * 8
    return header + struct.pack("<H", len(payload)) + payload


def _requested_suite(open_request: bytes | bytearray) -> tuple[int, int, int] | None:
    """(auth, integrity, confidentiality) algorithms of an RMCP+ Open Session Request."""
    if len(open_request) < 32:
        return None
    return (open_request[12] & 0x3F, open_request[20] & 0x3F, open_request[28] & 0x3F)


class _ReplyPort:
    """What pyghmi's server code sees as the BMC's socket: sends go through the simulator.

    pyghmi's ``_io_sendto`` flips a socket to blocking before sending and bypasses any delay;
    handing it this object keeps the real socket non-blocking and makes Fault.SLOW apply to
    every reply (channel capabilities and cipher suites included).
    """

    def __init__(self, sim: IPMISimulator) -> None:
        self._sim = sim

    def setblocking(self, flag: bool) -> None:
        pass

    def sendto(self, packet: bytes, addr: Any) -> None:
        self._sim.send_packet(bytes(packet), addr)

    def getsockname(self) -> Any:
        return self._sim.sock.getsockname()


class _SimSession(serversession.ServerSession):
    """pyghmi's server session, kept in its simulator's own table instead of pyghmi's globals."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _SimSession:
        # pyghmi's Session.__new__ looks up shared client sessions; a server session is new.
        return object.__new__(cls)

    def __init__(self, sim: IPMISimulator, clientaddr: Any, request: bytearray) -> None:
        # Same state as ServerSession.__init__, minus the registration in pyghmi's
        # process-wide Session.bmc_handlers (the client half of pyghmi routes by that table).
        self.uuid = sim.uuid
        self.currhashlib = serversession.hashlib.sha1
        self.currhashlen = 12
        self.rqaddr = ipmi_constants.IPMI_BMC_ADDRESS
        self.authdata = sim.authdata
        self.servermode = True
        self.ipmiversion = 2.0
        self.sequencenumber = 0
        self.sessionid = 0
        self.bmc = sim
        self.lastpayload = None
        self.rqlun = None
        self.broken = False
        self.authtype = 6
        self.integrityalgo = 0
        self.confalgo = 0
        self.kg = sim.kg
        self.socket = sim.serversocket
        self.sockaddr = clientaddr
        self.pendingpayloads: collections.deque[Any] = collections.deque()
        self.pktqueue: collections.deque[Any] = collections.deque()
        self.clientpriv = 4
        self.last_seen = time.monotonic()
        # No session keys until RAKP: pyghmi drops a session packet while k1 is None ("in no
        # shape to process a packet"), but never sets it before then, so a client's packet for
        # an older session on the same address raised AttributeError and was logged as an error.
        self.k1: bytes | None = None
        self._got_rmcp_openrequest(request)

    def _got_rakp1(self, data: bytearray) -> None:
        username = bytes(data[28:]).decode("utf-8", "replace") if len(data) > 27 else ""
        if self.bmc.fault == Fault.WRONG_PASSWORD or self.authdata.get(username) is None:
            # pyghmi's server stays silent here, which costs clients their whole timeout.
            self.bmc.send_rmcp_status(0x13, data, _RMCP_UNAUTHORIZED_NAME, self.sockaddr)
            return
        super()._got_rakp1(data)

    def _xmit_packet(
        self, retry: bool = True, delay_xmit: float | None = None, timeout: float | None = None
    ) -> None:
        # A server never retransmits; it only numbers and sends (maybe late, see Fault.SLOW).
        if self.sequencenumber:
            self.sequencenumber += 1
        self.bmc.send_packet(bytes(self.netpacket), self.sockaddr)

    def close_server_session(self) -> None:
        self.bmc.drop_session(self.sockaddr, self)

    def sessionless_data(self, data: bytes, sockaddr: Any) -> None:
        self.bmc.sessionless_data(data, sockaddr)


class IPMISimulator(Served, pyghmi_bmc.Bmc):
    """One simulated BMC on ``host:port`` (UDP). Bound at construction; served once started.

    :param profile: the power it reports; defaults to a constant 250 W.
    :param port: 0 (default) picks a free port; ``.port`` is the real one.
    :param dcmi: False makes it refuse DCMI (completion code 0xC1); the SDR sensor still answers.
    :param dcmi_period: the DCMI statistics period it states, in seconds: its min, max and
        average are over that long, ending now (at most the last minute is computed: a period
        longer than that is never used as an average). The default, a day, is what many real
        BMCs state: the time since their statistics were reset.
    :param sensor_name: name of the SDR power sensor.
    :param sensor_names: names of several power sensors (per-PSU input power) instead, each
        reading an equal share of the profile.
    :param sdr_watts_per_count: the sensor's resolution (its M factor); raw 0-255.
    :param group: the loop that serves it; None starts a private one on :meth:`start`.
    """

    def __init__(
        self,
        profile: PowerProfile | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "admin",
        password: str = "password",  # noqa: S107 - a simulator's well-known default
        fault: Fault = Fault.NONE,
        slow_seconds: float = 2.0,
        dcmi: bool = True,
        dcmi_period: float = DCMI_DEFAULT_PERIOD_S,
        sensor_name: str = "Total_Power",
        sensor_names: Sequence[str] = (),
        sdr_watts_per_count: int = 4,
        manufacturer_id: int = EXAMPLE_MANUFACTURER_ID,
        product_id: int = 1,
        group: IPMISimulatorGroup | None = None,
    ) -> None:
        # IpmiServer.__init__ is skipped on purpose: it puts the socket in pyghmi's global loop.
        self.profile = profile if profile is not None else PowerProfile.constant(250.0)
        self.host = host
        self.username = username
        self.password = password
        self.fault = fault
        self.slow_seconds = slow_seconds
        self.dcmi = dcmi
        self.dcmi_period = dcmi_period
        self.sensor_name = sensor_name
        # several power sensors (one per PSU) share the profile's power equally
        self.sensor_names = tuple(sensor_names) or (sensor_name,)
        self.sdr_watts_per_count = sdr_watts_per_count
        self.authdata = {username: password}
        self.uuid = uuid.uuid4()
        self.kg = None
        self.timeout = 60
        self.revision = 0
        self.deviceid = 0x20
        self.firmwaremajor = 1
        self.firmwareminor = 0
        self.ipmiversion = 2
        self.additionaldevices = 0x02  # "SDR repository device": clients read Get SDR
        self.mfgid = manufacturer_id
        self.prodid = product_id
        self.pktqueue: collections.deque[Any] = collections.deque()
        lanchannel, authtype, authstatus, chancap = 1, 0b10000000, 0b00000100, 0b00000010
        self.authcap = struct.pack("9B", 0, lanchannel, authtype, authstatus, chancap, 0, 0, 0, 0)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((host, port))
        sock = _high_fd(sock)
        sock.setblocking(False)
        self.sock = sock
        self.serversocket = _ReplyPort(self)
        self.port: int = sock.getsockname()[1]  # the real port when asked for 0
        self._sessions: dict[Any, _SimSession] = {}
        self._sdr_records = [
            self._power_sensor_record(record_id=i + 1, sensor_number=i + 1, name=name)
            for i, name in enumerate(self.sensor_names)
        ]
        self._sdr_added_at = next(_sdr_epoch)  # unique: pyghmi caches SDRs process-wide by it
        self._group = group
        self._own_group = group is None
        self._started = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> IPMISimulator:
        """Serve from the group's loop (a private one when none was given). Returns self."""
        if self._started:
            return self
        if self._group is None:
            self._group = IPMISimulatorGroup()
        self._group.add(self)
        self._group.start()
        self._started = True
        return self

    def stop(self) -> None:
        """Stop answering and close the socket. Safe to call twice."""
        group = self._group
        if group is not None and self._started:
            group.remove(self)
        self._started = False
        self.sock.close()
        if self._own_group and group is not None:
            group.stop()
            self._group = None

    def __repr__(self) -> str:
        return f"<IPMISimulator {self.host}:{self.port} fault={self.fault}>"

    @property
    def session_count(self) -> int:
        """Open sessions (tests check that Close Session and idle expiry free them)."""
        return len(self._sessions)

    # -- transport, called from the group's loop thread -----------------------------------------

    def send_packet(self, packet: bytes, addr: Any) -> None:
        if self.fault == Fault.SLOW and self._group is not None:
            self._group.send_later(time.monotonic() + self.slow_seconds, self, packet, addr)
            return
        self.send_now(packet, addr)

    def send_now(self, packet: bytes, addr: Any) -> None:
        # A full buffer or a closed socket: UDP may drop, clients retry.
        with contextlib.suppress(OSError):
            self.sock.sendto(packet, socket.MSG_DONTWAIT, addr)

    def send_rmcp_status(
        self, payload_type: int, request: bytes | bytearray, status: int, addr: Any
    ) -> None:
        """A session-setup reply carrying only an error status (open session or RAKP2)."""
        tag = request[0] if request else 0
        console_session_id = bytes(request[4:8]).ljust(4, b"\x00")
        self.send_packet(
            _rmcp_plus_packet(payload_type, bytes([tag, status, 0, 0]) + console_session_id), addr
        )

    def receive(self, data: bytes, addr: Any) -> None:
        """Handle one datagram from ``addr``."""
        if self.fault == Fault.HANG:
            return
        if len(data) < 6 or data[0] != 6 or data[2:4] != b"\xff\x07":
            return
        packet = bytearray(data)
        payload_type = packet[5] & 0x3F
        outside_session = (
            packet[4] != 6  # IPMI 1.5 framing: only sessionless queries reach us that way
            or payload_type == 0x10  # Open Session Request
            or (payload_type == 0 and packet[6:10] == b"\x00\x00\x00\x00")  # e.g. ipmitool's
        )  # Get Channel Cipher Suites, sent as an IPMI 2.0 message with session id 0
        if outside_session:
            # These start over even from an address that has a session: a client reusing its
            # UDP port is logging in again.
            self.sessionless_data(packet, addr)
            return
        session = self._sessions.get(addr)
        if session is None:
            return
        session.last_seen = time.monotonic()
        session._handle_ipmi_packet(packet, sockaddr=addr)

    def sessionless_data(self, data: bytes | bytearray, sockaddr: Any) -> None:
        data = bytearray(data)
        if len(data) >= 22 and data[4] == 6 and (data[5] & 0x3F) == 0x10:
            self.drop_session(sockaddr)
            request = data[16:]
            if _requested_suite(request) != _SUITE_3:
                # pyghmi's server would answer suite 17 as if it were suite 3 and the handshake
                # then fails on both sides; refusing makes pyghmi and ipmitool retry with 3.
                self.send_rmcp_status(0x11, request, _RMCP_NO_CIPHER_SUITE_MATCH, sockaddr)
                return
            self._sessions[sockaddr] = _SimSession(self, sockaddr, request)
            return
        super().sessionless_data(bytes(data), sockaddr)

    def drop_session(self, addr: Any, session: _SimSession | None = None) -> None:
        """Forget the session of ``addr`` (only if it is ``session``, when given). Tolerant."""
        current = self._sessions.get(addr)
        if current is not None and (session is None or current is session):
            self._sessions.pop(addr, None)

    def expire_sessions(self, now: float) -> None:
        for addr, session in list(self._sessions.items()):
            if now - session.last_seen > SESSION_IDLE_SECONDS:
                self._sessions.pop(addr, None)

    # -- commands -------------------------------------------------------------------------------

    def get_power_state(self) -> str:
        return "on"

    def handle_raw_request(self, request: dict[str, Any], session: _SimSession) -> None:
        netfn, command, data = request["netfn"], request["command"], bytes(request["data"])
        if self.fault == Fault.ERROR:
            session.send_ipmi_response(code=_CC_UNSPECIFIED)
            return
        try:
            if netfn == 0x2C and command == 0x02:
                return self._dcmi_power_reading(data, session)
            if netfn == 0x0A and command in (0x20, 0x22, 0x23):
                return self._sdr_repository(command, data, session)
            if netfn == 0x04 and command == 0x2D:
                return self._sensor_reading(data, session)
        except Exception:  # a bug here must not kill the loop; the client sees an error
            logger.exception("simulated BMC %r failed on netfn %#x cmd %#x", self, netfn, command)
            session.send_ipmi_response(code=_CC_UNSPECIFIED)
            return
        super().handle_raw_request(request, session)

    def _dcmi_power_reading(self, data: bytes, session: _SimSession) -> None:
        if not self.dcmi:
            session.send_ipmi_response(code=_CC_INVALID_COMMAND)
            return
        if not data or data[0] != _DCMI_GROUP:
            session.send_ipmi_response(code=_CC_INVALID_DATA)
            return
        now = time.time()
        period = self.dcmi_period
        if self.fault == Fault.NULL_READING:
            # DCMI says "measurement not active": the numbers mean nothing.
            body = struct.pack("<BHHHHIIB", _DCMI_GROUP, 0, 0, 0, 0, int(now), 0, 0)
            session.send_ipmi_response(data=body)
            return
        low, high, average = self.profile.statistics(period, now)

        def u16(watts: float) -> int:
            return max(0, min(0xFFFF, round(watts)))

        body = struct.pack(
            "<BHHHHIIB",
            _DCMI_GROUP,
            u16(self.profile.watts_at(now)),
            u16(low),
            u16(high),
            u16(average),
            int(now),
            min(0xFFFFFFFF, round(period * 1000)),
            _DCMI_POWER_ACTIVE,
        )
        session.send_ipmi_response(data=body)

    # -- SDR: one full sensor record ------------------------------------------------------------

    def _power_sensor_record(self, *, record_id: int, sensor_number: int, name: str) -> bytes:
        """A Full Sensor Record (IPMI 2.0 table 43-1) for a threshold power sensor in watts."""
        encoded = name.encode("ascii")[:16]
        m = self.sdr_watts_per_count
        body = bytes(
            [
                0x20,  # sensor owner: the BMC
                0x00,  # owner LUN
                sensor_number,
                0x15,  # entity: power unit
                0x01,  # entity instance
                0x7F,  # initialisation: scanning and events enabled
                0x68,  # capabilities: thresholds readable
                0x0B,  # sensor type: other units-based (pyghmi reads Watts units as "Power")
                0x01,  # event/reading type: threshold
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  # event masks
                0x00,  # units 1: unsigned analog, no modifier
                0x06,  # units 2: base unit Watts
                0x00,  # units 3: no modifier unit
                0x00,  # linearization: linear
                m & 0xFF, (m >> 2) & 0xC0,  # M, tolerance 0
                0x00, 0x00,  # B, accuracy
                0x00,  # accuracy, direction
                0x00,  # R and B exponents
                0x00,  # analog characteristics
                0x00, 0xFF, 0x00,  # nominal, normal max, normal min
                0xFF, 0x00,  # sensor max, min
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  # thresholds
                0x00, 0x00,  # hysteresis
                0x00, 0x00,  # reserved
                0x00,  # OEM
                0xC0 | len(encoded),  # id string: 8-bit ASCII
            ]
        ) + encoded  # fmt: skip
        header = struct.pack("<HBBB", record_id, 0x51, 0x01, len(body))
        return header + body

    def _sdr_repository(self, command: int, data: bytes, session: _SimSession) -> None:
        if command == 0x20:  # Get SDR Repository Info
            info = struct.pack(
                "<BHHII", 0x51, len(self._sdr_records), 0xFFFF, self._sdr_added_at, 0
            ) + bytes([0x02])  # fmt: skip
            session.send_ipmi_response(data=info)
        elif command == 0x22:  # Reserve SDR Repository
            session.send_ipmi_response(data=[0x01, 0x00])
        else:  # Get SDR
            if len(data) < 6:
                session.send_ipmi_response(code=_CC_INVALID_DATA)
                return
            record_id, offset, count = struct.unpack_from("<H", data, 2)[0], data[4], data[5]
            index = 0 if record_id == 0 else record_id - 1
            if index >= len(self._sdr_records):
                session.send_ipmi_response(code=_CC_SENSOR_NOT_PRESENT)
                return
            record = self._sdr_records[index]
            next_id = index + 2 if index + 1 < len(self._sdr_records) else 0xFFFF
            chunk = record[offset:] if count == 0xFF else record[offset : offset + count]
            session.send_ipmi_response(data=struct.pack("<H", next_id) + chunk)

    def _sensor_reading(self, data: bytes, session: _SimSession) -> None:
        if not data or not 1 <= data[0] <= len(self.sensor_names):
            session.send_ipmi_response(code=_CC_SENSOR_NOT_PRESENT)
            return
        if self.fault == Fault.NULL_READING:
            session.send_ipmi_response(data=[0x00, 0x60, 0x00])  # "reading unavailable"
            return
        share = self.profile.watts_at() / len(self.sensor_names)
        raw = round(share / self.sdr_watts_per_count)
        session.send_ipmi_response(data=[max(0, min(255, raw)), 0x40, 0x00])


class IPMISimulatorGroup(Served):
    """One thread serving many :class:`IPMISimulator` s (hundreds to thousands).

    ``add``/``remove`` work before or after ``start``; ``stop`` ends the thread within a few
    milliseconds and closes every member's socket. A context manager, like the simulators.
    """

    def __init__(self, name: str = "ipmi-simulators") -> None:
        # Simulators run without Django too (``python -m``, benchmark subprocesses): a process
        # that serves BMCs often reads them as well, and gets the same patched pyghmi client as
        # the worker; the version check also guards the private server internals used here.
        pyghmi_patches.apply()
        self._name = name
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._members: dict[int, IPMISimulator] = {}  # by id(), as fds vanish on close
        self._commands: collections.deque[Callable[[], None]] = collections.deque()
        self._later: list[tuple[float, int, IPMISimulator, bytes, Any]] = []
        self._later_seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def __len__(self) -> int:
        return len(self._members)

    @property
    def simulators(self) -> list[IPMISimulator]:
        return list(self._members.values())

    def create(self, count: int, **kwargs: Any) -> list[IPMISimulator]:
        """Build ``count`` simulators (same keyword arguments as IPMISimulator) served here.

        ``profile`` may be a callable taking the index, to give each BMC its own profile.
        """
        profile = kwargs.pop("profile", None)
        sims = []
        for index in range(count):
            own = profile(index) if callable(profile) else profile
            sim = IPMISimulator(own, group=self, **kwargs)
            sim.start()
            sims.append(sim)
        return sims

    def add(self, sim: IPMISimulator) -> None:
        """Serve ``sim`` from this loop (registered on return; waits for the loop, at most 1 s)."""
        sim._group = self
        sim._started = True
        self._call_in_loop_and_wait(lambda: self._register(sim))

    def remove(self, sim: IPMISimulator) -> None:
        """Stop serving ``sim`` and close its socket (waits for the loop, at most 1 s)."""
        self._call_in_loop_and_wait(lambda: self._unregister(sim))

    def _call_in_loop_and_wait(self, command: Callable[[], None]) -> None:
        done = threading.Event()

        def run() -> None:
            command()
            done.set()

        self._call_in_loop(run)
        if self._running() and threading.current_thread() is not self._thread:
            done.wait(1.0)

    def start(self) -> IPMISimulatorGroup:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close all sockets. Safe to call twice."""
        thread, self._thread = self._thread, None
        self._stopping.set()
        self._wake()
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
        self._run_commands()
        for sim in list(self._members.values()):
            self._unregister(sim)
        self._later.clear()

    # -- loop internals -------------------------------------------------------------------------

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _call_in_loop(self, command: Callable[[], None]) -> None:
        if self._running():
            self._commands.append(command)
            self._wake()
        else:
            command()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # buffer full: the loop is awake anyway
            self._wake_w.send(b"\x00")

    def _register(self, sim: IPMISimulator) -> None:
        if sim.sock.fileno() != -1 and id(sim) not in self._members:
            self._members[id(sim)] = sim
            self._selector.register(sim.sock, selectors.EVENT_READ, sim)

    def _unregister(self, sim: IPMISimulator) -> None:
        if self._members.pop(id(sim), None) is not None:
            self._selector.unregister(sim.sock)
        sim._started = False
        sim.sock.close()

    def _run_commands(self) -> None:
        while self._commands:
            self._commands.popleft()()

    def send_later(self, due: float, sim: IPMISimulator, packet: bytes, addr: Any) -> None:
        """Queue a reply for ``due`` (monotonic); called from the loop thread only."""
        heapq.heappush(self._later, (due, next(self._later_seq), sim, packet, addr))

    def _loop(self) -> None:
        next_sweep = time.monotonic() + 5.0
        while not self._stopping.is_set():
            now = time.monotonic()
            timeout = min(0.5, max(0.0, self._later[0][0] - now)) if self._later else 0.5
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                self._drain(key.data)
            self._run_commands()
            now = time.monotonic()
            while self._later and self._later[0][0] <= now:
                _, _, sim, packet, addr = heapq.heappop(self._later)
                if sim._started:
                    sim.send_now(packet, addr)
            if now >= next_sweep:
                next_sweep = now + 5.0
                for sim in self._members.values():
                    sim.expire_sessions(now)

    def _drain(self, sim: IPMISimulator) -> None:
        sock = sim.sock
        for _ in range(256):  # bounded, so one flooded BMC cannot starve the others
            try:
                # MSG_DONTWAIT: pyghmi's helpers flip the socket to blocking to send.
                data, addr = sock.recvfrom(3000, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                sim.receive(data, addr)
            except Exception:
                logger.exception("simulated BMC %s:%s failed on a packet", sim.host, sim.port)


def main(argv: Iterable[str] | None = None) -> None:
    """Serve simulated IPMI BMCs until interrupted; prints one ``host port`` line per BMC."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--profile", default="250", help="watts, 'secs:watts,...' or a CSV path")
    parser.add_argument("--refresh", type=float, default=1.0)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="password")
    args = parser.parse_args(list(argv) if argv is not None else None)
    with IPMISimulatorGroup() as group:
        sims = group.create(
            args.count,
            profile=lambda i: PowerProfile.from_spec(
                args.profile, refresh=args.refresh, noise=args.noise, seed=i
            ),
            username=args.username,
            password=args.password,
        )
        for sim in sims:
            print(sim.host, sim.port, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
