"""A simulated Redfish BMC (with HPE iLO 4/5 quirks) on loopback, playing a :class:`PowerProfile`.

One :class:`RedfishSimulator` is one BMC: its own port, credentials, sessions, flavour and fault.
It speaks real HTTP/1.1 (optionally HTTPS with a self-signed certificate) so the drivers are
tested through the DMTF ``redfish`` library, ``requests`` and sockets, without mocks.

Flavours (where the power reading lives):

* ``environment-metrics``: ``Chassis/1/EnvironmentMetrics`` ``PowerWatts`` and ``EnergykWh``;
* ``power-subsystem``: ``Chassis/1/PowerSubsystem/PowerSupplies/*/Metrics`` ``InputPowerWatts``,
  split over two enabled supplies; supply 3 is ``Disabled`` and reports 0, supply 4 is ``Absent``
  and reports null (neither is the server's power);
* ``legacy-power``: ``Chassis/1/Power`` ``PowerControl[0].PowerConsumedWatts``;
* ``ilo4``: legacy Power with ``Oem.Hp``, no ``Vendor`` in the service root, numbers as a mix of
  ints, floats and numeric strings, and HPE's ``/rest/v1/Chassis/1/PowerMetrics/FastPowerMeter``;
* ``ilo5``: ``Vendor: HPE``, ``Oem.Hpe``, legacy Power (with ``Oem.Hpe.Links.FastPowerMeter``),
  PowerSubsystem as iLO 6 firmware adds it, and ``Chassis/1/Power/FastPowerMeter``;
* ``no-power``: a chassis without any power resource (as sushy-tools' emulator has);
* ``idrac``, ``xcc``, ``lenovo-tsm``, ``ibmc``, ``supermicro``: vendors' BMCs, see
  :mod:`collectors.simulators.redfish_vendors` (``oem_only`` leaves their standard ``Power``
  out where they have an OEM reading).

Why not one ``ThreadingHTTPServer`` per BMC: it keeps a thread per keep-alive connection and one
more per listening socket, which is 2,000 threads for 1,000 BMCs polled over keep-alive. Here one
selector thread (shared by every simulator in the process) watches all listening sockets and idle
connections, and a small thread pool runs :class:`http.server.BaseHTTPRequestHandler` for one
request at a time. SLOW answers wait on the loop's timer, HANG connections are parked, DRIP answers
send a byte per timer tick, so none holds a worker: one misbehaving BMC delays only its own
replies.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import heapq
import hmac
import io
import itertools
import json
import secrets
import selectors
import socket
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from collectors.simulators import redfish_vendors
from collectors.simulators.faults import Fault
from collectors.simulators.profile import PowerProfile
from collectors.simulators.serving import Served

FLAVOURS = (
    "environment-metrics",
    "power-subsystem",
    "legacy-power",
    "ilo4",
    "ilo5",
    "no-power",
    *redfish_vendors.VENDOR_FLAVOURS,
)
NUMBER_STYLES = ("int", "float", "string", "null", "mixed")
ROOT = "/redfish/v1"
SESSIONS = f"{ROOT}/SessionService/Sessions"
CHASSIS = f"{ROOT}/Chassis/1"
#: share of the server's power each supply draws; None: the supply is not powered
SUPPLIES: tuple[tuple[str, str, float | None], ...] = (
    ("1", "Enabled", 0.55),
    ("2", "Enabled", 0.45),
    ("3", "Disabled", 0.0),
    ("4", "Absent", None),
)
FAST_METER_ENTRIES = 60  # iLO keeps 20 minutes of 20-second averages, oldest first

Json = dict[str, Any]


@dataclass
class Response:
    status: int
    body: Json | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Reactor:
    """One selector thread and a small worker pool, shared by every simulator in the process."""

    def __init__(self, workers: int = 32) -> None:
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._calls: deque[Callable[[], object]] = deque()
        self._timers: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = itertools.count()
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="redfish-sim")
        self._running = True
        self._thread = threading.Thread(target=self._run, name="redfish-sim-loop", daemon=True)
        self._thread.start()

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the loop thread (the only thread that touches the selector)."""
        self._calls.append(fn)
        with contextlib.suppress(OSError):  # a full wake-up buffer: the loop is awake anyway
            self._wake_w.send(b"x")

    def call_later(self, delay: float, fn: Callable[[], object]) -> None:
        entry = (time.monotonic() + delay, next(self._seq), fn)
        self.call_soon(lambda: heapq.heappush(self._timers, entry))

    def _run(self) -> None:
        while self._running:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                else:
                    self._guarded(key.data)
            while self._calls:
                self._guarded(self._calls.popleft())
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                self._guarded(heapq.heappop(self._timers)[2])

    @staticmethod
    def _guarded(fn: Callable[[], object]) -> None:
        # One simulator's broken socket must not stop the loop that serves all the others.
        with contextlib.suppress(OSError, ValueError, KeyError, RuntimeError):
            fn()

    def stop(self) -> None:
        def halt() -> None:
            self._running = False

        self.call_soon(halt)
        self._thread.join(5)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()


_reactor: _Reactor | None = None
_reactor_users = 0
_reactor_lock = threading.Lock()


def _acquire_reactor() -> _Reactor:
    global _reactor, _reactor_users
    with _reactor_lock:
        if _reactor is None:
            _reactor = _Reactor()
        _reactor_users += 1
        return _reactor


def _release_reactor() -> None:
    global _reactor, _reactor_users
    with _reactor_lock:
        _reactor_users -= 1
        if _reactor_users == 0 and _reactor is not None:
            _reactor.stop()
            _reactor = None


_cert_lock = threading.Lock()
_cert_files: tuple[str, str] | None = None


def self_signed_cert() -> tuple[str, str]:
    """Paths of a PEM certificate and key for 127.0.0.1/localhost, made once per process."""
    global _cert_files
    with _cert_lock:
        if _cert_files is None:
            import ipaddress

            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import NameOID

            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "energylab-sim-bmc")])
            now = dt.datetime.now(dt.UTC)
            san = x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            )
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=30))
                .add_extension(san, critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256())
            )
            folder = Path(tempfile.mkdtemp(prefix="energylab-sim-tls-"))
            cert_path, key_path = folder / "cert.pem", folder / "key.pem"
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            key_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            _cert_files = (str(cert_path), str(key_path))
        return _cert_files


class _Handler(BaseHTTPRequestHandler):
    """Parses and answers one request of a connection into memory; the connection sends it.

    Not constructed through ``socketserver`` (whose ``handle()`` loops over a keep-alive
    connection in one thread): :class:`_Connection` keeps the socket and its read buffer.
    """

    protocol_version = "HTTP/1.1"  # keep-alive; with HTTP/1.0 every GET pays a TCP handshake
    disable_nagle_algorithm = True  # applied in _Connection; 44 ms per GET with Nagle on
    server_version = "EnergyLabRedfishSim/1.0"
    sys_version = ""

    def __init__(self, connection: _Connection) -> None:  # no super(): see the class docstring
        self.request = self.connection = connection.sock
        self.client_address = connection.addr
        self.sim = connection.sim
        self.rfile = connection.rfile
        self.wfile: io.BytesIO = io.BytesIO()
        self.close_connection = True
        self.delay = 0.0
        self.hang = False
        self.drip = False
        self.responded = False

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a BMC does not log to our stderr

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        response = self.sim.respond(self.command, path, self.headers, body)
        self.responded = True
        fault = self.sim.fault
        if fault == Fault.HANG:
            self.hang = True
            return
        if fault == Fault.SLOW:
            self.delay = self.sim.slow_seconds
        self.drip = fault == Fault.DRIP
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("OData-Version", "4.0")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve


class _Connection:
    def __init__(self, sim: RedfishSimulator, sock: socket.socket, addr: Any) -> None:
        self.sim = sim
        self.reactor = sim.reactor  # kept: the simulator drops its reference when it stops
        self.sock = sock
        self.addr = addr
        self.rfile: Any = None

    def start(self) -> None:
        """In a worker: TLS handshake if any, then wait for the first request."""
        try:
            self.sock.settimeout(5.0)  # a half-sent request must not hold a worker for ever
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.sim.ssl_context is not None:
                self.sock = self.sim.ssl_context.wrap_socket(self.sock, server_side=True)
            self.rfile = self.sock.makefile("rb")
        except (OSError, ValueError):
            self.close()
            return
        self.reactor.call_soon(self.park)

    def park(self) -> None:
        """On the loop thread: wait (for free) until the client sends its next request."""
        if self.sim.stopped:
            self.close()
            return
        try:
            self.reactor.selector.register(self.sock, selectors.EVENT_READ, self.on_readable)
        except (OSError, ValueError, KeyError):
            self.close()

    def on_readable(self) -> None:
        self.reactor.selector.unregister(self.sock)
        self.reactor.pool.submit(self.serve_one)

    def serve_one(self) -> None:
        """In a worker: read, answer (now, later or never) one request."""
        try:
            handler = _Handler(self)
            handler.handle_one_request()
        except (OSError, ValueError):
            self.close()
            return
        if handler.hang:
            self.sim.hung.append(self)  # read and never answered; closed by stop()
            return
        output = handler.wfile.getvalue()
        keep = not handler.close_connection
        if handler.drip:
            head, separator, body = output.partition(b"\r\n\r\n")
            self.drip(head + separator, body, keep)
        elif handler.delay > 0:
            self.reactor.call_later(
                handler.delay, lambda: self.reactor.pool.submit(self.send, output, keep)
            )
        else:
            self.send(output, keep, handler.responded)

    def send(self, output: bytes, keep: bool, responded: bool = True) -> None:
        if responded:
            self.sim.answered()
        try:
            if output:
                self.sock.sendall(output)
        except (OSError, ValueError):
            keep = False
        if keep:
            self.reactor.call_soon(self.park)
        else:
            self.close()

    def drip(self, now: bytes, rest: bytes, keep: bool) -> None:
        """Send ``now``, then ``rest`` one byte per ``drip_seconds`` (on the loop's timer)."""
        if self.sim.stopped:
            self.close()
            return
        try:
            self.sock.sendall(now)
        except (OSError, ValueError):
            self.close()
            return
        if not rest:
            self.send(b"", keep)
            return
        self.reactor.call_later(
            self.sim.drip_seconds,
            lambda: self.reactor.pool.submit(self.drip, rest[:1], rest[1:], keep),
        )

    def close(self) -> None:
        self.sim.connections.discard(self)
        with contextlib.suppress(OSError):
            self.sock.close()


class RedfishSimulator(Served):
    """One simulated Redfish BMC on ``host:port`` (port 0: any free port, see :attr:`port`).

    :param profile: the power the server draws (a number means a constant profile).
    :param flavour: where the reading lives, one of :data:`FLAVOURS`.
    :param tls: serve HTTPS with a self-signed certificate (:attr:`cert_path`).
    :param numbers: how power numbers are written, one of :data:`NUMBER_STYLES`; default
        ``mixed`` for ``ilo4`` and ``float`` for the others.
    :param sessions: offer a SessionService; False makes a basic-auth-only service.
    :param session_timeout: idle seconds after which a session token stops working.
    :param decoy_chassis: list a ``Card`` chassis with its own 25 W EnvironmentMetrics first.
    :param ilo_legacy_reading: on iLO flavours, False leaves ``PowerConsumedWatts`` out of the
        legacy Power resource (as some iLO 4 firmware does), so only FastPowerMeter has it.
    :param oem_only: on the ``idrac`` and ``lenovo-tsm`` flavours, leave the standard ``Power``
        resource out, so that only the vendor's own resource has the reading.

    :param drip_seconds: with ``Fault.DRIP``, the pause between two bytes of an answer's body.
    :param sensor_averaging_s: the EnvironmentMetrics flavour's power Sensor states its average
        over this many seconds (``AverageReading``, ``AveragingInterval``); None: no average.
    :param metrics_interval_min: the legacy Power resource's ``PowerMetrics.IntervalInMin``: its
        min, max and average are over that many minutes ending now (at most the last minute is
        computed; see :meth:`PowerProfile.statistics`).

    ``fault``, ``slow_seconds``, ``drip_seconds``, ``flavour``, ``numbers`` and ``profile`` are read on every request
    and may be changed while the simulator runs.
    """

    def __init__(
        self,
        profile: PowerProfile | float = 250.0,
        *,
        flavour: str = "environment-metrics",
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "admin",
        password: str = "password",  # noqa: S107 - a simulator's well-known default
        tls: bool = False,
        numbers: str | None = None,
        sessions: bool = True,
        session_timeout: float = 600.0,
        decoy_chassis: bool = False,
        ilo_legacy_reading: bool = True,
        oem_only: bool = False,
        slow_seconds: float = 2.0,
        drip_seconds: float = 0.4,
        error_status: int = 500,
        fault: Fault = Fault.NONE,
        metrics_interval_min: float = 20,
        sensor_averaging_s: float | None = None,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}")
        if numbers is not None and numbers not in NUMBER_STYLES:
            raise ValueError(f"numbers must be one of {NUMBER_STYLES}")
        self.profile = (
            profile if isinstance(profile, PowerProfile) else PowerProfile.constant(profile)
        )
        self.flavour = flavour
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tls = tls
        self.numbers = numbers
        self.sessions = sessions
        self.session_timeout = session_timeout
        self.decoy_chassis = decoy_chassis
        self.ilo_legacy_reading = ilo_legacy_reading
        self.oem_only = oem_only
        self.slow_seconds = slow_seconds
        self.drip_seconds = drip_seconds
        self.error_status = error_status
        self.fault = fault
        self.metrics_interval_min = metrics_interval_min
        self.sensor_averaging_s = sensor_averaging_s
        self.cert_path: str | None = None
        self.ssl_context: ssl.SSLContext | None = None
        # counters for tests
        self.requests = 0
        self.logins = 0
        self.failed_logins = 0
        self.logouts = 0
        self.in_flight = 0  # requests read and not yet answered
        self.peak_in_flight = 0
        #: (bay, Status.State, share of the power); a test may give a disabled supply a share
        self.supplies = SUPPLIES
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, float]] = {}  # token -> (session id, last used)
        self._session_ids = itertools.count(1)
        self._mixed = itertools.count()
        self.connections: set[_Connection] = set()
        self.hung: list[_Connection] = []
        self.stopped = True
        self._listener: socket.socket | None = None
        self._reactor: _Reactor | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def reactor(self) -> _Reactor:
        assert self._reactor is not None, "the simulator is not started"
        return self._reactor

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def active_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def start(self) -> RedfishSimulator:
        if self.tls:
            self.cert_path, key_path = self_signed_cert()
            self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_context.load_cert_chain(self.cert_path, key_path)
        listener = socket.create_server((self.host, self.port), backlog=128)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]  # port 0: record the port we really got
        self._listener = listener
        self.stopped = False
        self._reactor = _acquire_reactor()
        self.reactor.call_soon(
            lambda: self.reactor.selector.register(listener, selectors.EVENT_READ, self._accept)
        )
        return self

    def _accept(self) -> None:
        assert self._listener is not None
        for _ in range(64):  # drain the backlog, but let other sockets have a turn
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn = _Connection(self, sock, addr)
            self.connections.add(conn)
            self.reactor.pool.submit(conn.start)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        done = threading.Event()

        def shutdown() -> None:
            selector = self.reactor.selector
            for sock in [self._listener] + [c.sock for c in list(self.connections)]:
                if sock is not None and sock.fileno() >= 0 and sock in selector.get_map():
                    selector.unregister(sock)
            done.set()

        self.reactor.call_soon(shutdown)
        done.wait(5)
        if self._listener is not None:
            self._listener.close()
        for conn in list(self.connections) + self.hung:
            conn.close()
        self.hung.clear()
        self._reactor = None
        _release_reactor()

    def answered(self) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)

    def expire_sessions(self) -> None:
        """Forget every session token now, as a BMC does after its idle timeout."""
        with self._lock:
            self._sessions.clear()

    # -- the Redfish service --------------------------------------------------------------------

    def respond(self, method: str, path: str, headers: Any, body: bytes) -> Response:
        """Answer one request (called by the handler; pure apart from sessions and counters)."""
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        fault = self.fault
        path = path.rstrip("/") or "/"
        if fault == Fault.ERROR:
            return _error(self.error_status, "InternalError", "The BMC is failing (simulated).")
        if fault == Fault.WRONG_PASSWORD:
            self.expire_sessions()  # a changed password ends the sessions too
        if path in ("/redfish", ROOT):
            if path == "/redfish":
                return Response(200, {"v1": f"{ROOT}/"})
            return Response(200, self._service_root())
        if self.sessions and path == SESSIONS and method == "POST":
            return self._login(body)
        if not self._authorised(headers):
            return _error(401, "NoValidSession", "No valid session or credentials.")
        if self.sessions and path.startswith(SESSIONS + "/") and method == "DELETE":
            return self._logout(path)
        if method not in ("GET", "HEAD"):
            return _error(405, "OperationNotAllowed", f"{method} is not allowed here.")
        resource = self._resource(path)
        if resource is None:
            return _error(404, "ResourceMissingAtURI", f"{path} does not exist.")
        return Response(200, resource)

    def _login(self, body: bytes) -> Response:
        try:
            credentials = json.loads(body or b"{}")
            user, password = str(credentials["UserName"]), str(credentials["Password"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "PropertyMissing", "UserName and Password are required.")
        if self.fault == Fault.WRONG_PASSWORD or not self._valid(user, password):
            with self._lock:
                self.failed_logins += 1
            return _error(401, "InvalidCredentials", "Invalid user name or password.")
        token = secrets.token_hex(16)
        with self._lock:
            session_id = str(next(self._session_ids))
            self._sessions[token] = (session_id, time.monotonic())
            self.logins += 1
        location = f"{SESSIONS}/{session_id}"
        session = {"@odata.id": location, "Id": session_id, "Name": "Session", "UserName": user}
        return Response(201, session, {"X-Auth-Token": token, "Location": location})

    def _logout(self, path: str) -> Response:
        session_id = path.rsplit("/", 1)[1]
        with self._lock:
            for token, (sid, _) in list(self._sessions.items()):
                if sid == session_id:
                    del self._sessions[token]
                    self.logouts += 1
                    return Response(204)
        return _error(404, "ResourceMissingAtURI", "No such session.")

    def _valid(self, user: str, password: str) -> bool:
        return hmac.compare_digest(user.encode(), self.username.encode()) & hmac.compare_digest(
            password.encode(), self.password.encode()
        )

    def _authorised(self, headers: Any) -> bool:
        token = headers.get("X-Auth-Token")
        if token and self.sessions:
            now = time.monotonic()
            with self._lock:
                found = self._sessions.get(token)
                if found is not None and now - found[1] <= self.session_timeout:
                    self._sessions[token] = (found[0], now)
                    return True
                self._sessions.pop(token, None)
        auth = headers.get("Authorization") or ""
        if auth.startswith("Basic ") and self.fault != Fault.WRONG_PASSWORD:
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return False
            return self._valid(user, password)
        return False

    # -- resources ------------------------------------------------------------------------------

    def _num(self, value: float | None) -> Any:
        """A power number as this BMC writes it."""
        if value is None or self.fault == Fault.NULL_READING:
            return None
        style = self.numbers or ("mixed" if self.flavour == "ilo4" else "float")
        if style == "mixed":
            style = ("int", "float", "string")[next(self._mixed) % 3]
        if style == "int":
            return round(value)
        if style == "string":
            return f"{value:.2f}"
        if style == "null":
            return None
        return round(value, 3)

    def _oem_key(self) -> str | None:
        return {"ilo4": "Hp", "ilo5": "Hpe"}.get(self.flavour)

    def _service_root(self) -> Json:
        root: Json = {
            "@odata.id": f"{ROOT}/",
            "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
            "Id": "RootService",
            "Name": "Root Service",
            "RedfishVersion": "1.15.0",
            "Chassis": {"@odata.id": f"{ROOT}/Chassis"},
        }
        if self.sessions:
            root["SessionService"] = {"@odata.id": f"{ROOT}/SessionService"}
            root["Links"] = {"Sessions": {"@odata.id": SESSIONS}}
        if self.flavour == "ilo4":
            root["RedfishVersion"] = "1.0.0"
            root["Oem"] = {
                "Hp": {"Manager": [{"ManagerType": "iLO 4", "ManagerFirmwareVersion": "2.78"}]}
            }
        elif self.flavour == "ilo5":
            root["Vendor"] = "HPE"
            root["Product"] = "ProLiant DL380 Gen10"
            root["Oem"] = {
                "Hpe": {"Manager": [{"ManagerType": "iLO 5", "ManagerFirmwareVersion": "2.81"}]}
            }
        elif self.flavour in redfish_vendors.VENDOR_FLAVOURS:
            root.update(redfish_vendors.service_root_fields(self.flavour))
        else:
            root["Vendor"] = "EnergyLab"
        return root

    def _resource(self, path: str) -> Json | None:
        f = self.flavour
        ilo = f in ("ilo4", "ilo5")
        builders: dict[str, Callable[[], Json]] = {
            f"{ROOT}/SessionService": lambda: {
                "@odata.id": f"{ROOT}/SessionService",
                "ServiceEnabled": True,
                "SessionTimeout": int(self.session_timeout),
                "Sessions": {"@odata.id": SESSIONS},
            },
            f"{ROOT}/Chassis": self._chassis_collection,
            CHASSIS: self._chassis,
        }
        if f in redfish_vendors.VENDOR_FLAVOURS:
            del builders[CHASSIS]
            builders.update(redfish_vendors.resources(self))
            build = builders.get(path)
            return build() if build else None
        if self.decoy_chassis:
            builders[f"{ROOT}/Chassis/Riser1"] = self._decoy
            builders[f"{ROOT}/Chassis/Riser1/EnvironmentMetrics"] = lambda: self._environment(
                f"{ROOT}/Chassis/Riser1", 25.0
            )
        if f == "environment-metrics":
            builders[f"{CHASSIS}/EnvironmentMetrics"] = lambda: self._environment(CHASSIS, None)
            builders[f"{CHASSIS}/Sensors/TotalPower"] = self._power_sensor
        if f in ("power-subsystem", "ilo5"):
            builders[f"{CHASSIS}/PowerSubsystem"] = self._power_subsystem
            builders[f"{CHASSIS}/PowerSubsystem/PowerSupplies"] = self._supplies
            for bay, _, _ in self.supplies:
                supply = f"{CHASSIS}/PowerSubsystem/PowerSupplies/{bay}"
                builders[supply] = functools.partial(self._supply, bay)
                builders[f"{supply}/Metrics"] = functools.partial(self._supply_metrics, bay)
        if f == "legacy-power" or ilo:
            builders[f"{CHASSIS}/Power"] = self._legacy_power
        if f == "ilo4":
            builders["/rest/v1/Chassis/1/PowerMetrics/FastPowerMeter"] = self._fast_power_meter
        if f == "ilo5":
            builders[f"{CHASSIS}/Power/FastPowerMeter"] = self._fast_power_meter
        build = builders.get(path)
        return build() if build else None

    def _chassis_collection(self) -> Json:
        members = [{"@odata.id": CHASSIS}]
        if self.decoy_chassis:
            members.insert(0, {"@odata.id": f"{ROOT}/Chassis/Riser1"})
        return {
            "@odata.id": f"{ROOT}/Chassis",
            "@odata.type": "#ChassisCollection.ChassisCollection",
            "Name": "Chassis Collection",
            "Members@odata.count": len(members),
            "Members": members,
        }

    def _chassis(self) -> Json:
        f = self.flavour
        chassis: Json = {
            "@odata.id": CHASSIS,
            "@odata.type": "#Chassis.v1_21_0.Chassis",
            "Id": "1",
            "Name": "Computer System Chassis",
            "ChassisType": "RackMount",
            "PowerState": "On",
            "Status": {"State": "Enabled", "Health": "OK"},
        }
        if f == "environment-metrics":
            chassis["EnvironmentMetrics"] = {"@odata.id": f"{CHASSIS}/EnvironmentMetrics"}
        if f in ("power-subsystem", "ilo5"):
            chassis["PowerSubsystem"] = {"@odata.id": f"{CHASSIS}/PowerSubsystem"}
        if f in ("legacy-power", "ilo4", "ilo5"):
            chassis["Power"] = {"@odata.id": f"{CHASSIS}/Power"}
        oem = self._oem_key()
        if oem:
            chassis["Oem"] = {
                oem: {
                    "Firmware": {"PlatformDefinitionTable": {"Current": {"VersionString": "8.9.0"}}}
                }
            }
        return chassis

    def _decoy(self) -> Json:
        path = f"{ROOT}/Chassis/Riser1"
        return {
            "@odata.id": path,
            "Id": "Riser1",
            "Name": "PCIe Riser",
            "ChassisType": "Card",
            "EnvironmentMetrics": {"@odata.id": f"{path}/EnvironmentMetrics"},
        }

    def _environment(self, chassis: str, watts: float | None) -> Json:
        now = time.time()
        power = self.profile.watts_at(now) if watts is None else watts
        energy_kwh = self.profile.counter_j(now) / 3.6e6 if watts is None else None
        energy: Any = energy_kwh
        if energy_kwh is not None and self.fault != Fault.NULL_READING:
            # a counter in whole kWh would be useless: only the string style applies to it
            style = self.numbers or "float"
            energy = (
                None
                if style == "null"
                else (f"{energy_kwh:.9f}" if style == "string" else energy_kwh)
            )
        elif self.fault == Fault.NULL_READING:
            energy = None
        return {
            "@odata.id": f"{chassis}/EnvironmentMetrics",
            "@odata.type": "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics",
            "Id": "EnvironmentMetrics",
            "Name": "Chassis Environment Metrics",
            "PowerWatts": {
                "DataSourceUri": f"{chassis}/Sensors/TotalPower",
                "Reading": self._num(power),
            },
            "EnergykWh": {"DataSourceUri": f"{chassis}/Sensors/TotalEnergy", "Reading": energy},
            "TemperatureCelsius": {"Reading": 24.5},
        }

    def _power_sensor(self) -> Json:
        """The Sensor behind EnvironmentMetrics' ``PowerWatts``: with ``sensor_averaging_s``,
        its average over that window ending now, as BMCs that average state it."""
        now = time.time()
        sensor: Json = {
            "@odata.id": f"{CHASSIS}/Sensors/TotalPower",
            "@odata.type": "#Sensor.v1_7_0.Sensor",
            "Id": "TotalPower",
            "Name": "Total Power",
            "ReadingType": "Power",
            "ReadingUnits": "W",
            "Reading": self._num(self.profile.watts_at(now)),
        }
        if self.sensor_averaging_s:
            _, _, average = self.profile.statistics(self.sensor_averaging_s, now)
            sensor["AverageReading"] = self._num(average)
            sensor["AveragingInterval"] = f"PT{self.sensor_averaging_s:g}S"
            sensor["AveragingIntervalAchieved"] = True
        return sensor

    def _power_subsystem(self) -> Json:
        return {
            "@odata.id": f"{CHASSIS}/PowerSubsystem",
            "@odata.type": "#PowerSubsystem.v1_1_0.PowerSubsystem",
            "Id": "PowerSubsystem",
            "Name": "Power Subsystem",
            "CapacityWatts": 2400,
            "Status": {"State": "Enabled", "Health": "OK"},
            "PowerSupplies": {"@odata.id": f"{CHASSIS}/PowerSubsystem/PowerSupplies"},
        }

    def _supplies(self) -> Json:
        base = f"{CHASSIS}/PowerSubsystem/PowerSupplies"
        return {
            "@odata.id": base,
            "@odata.type": "#PowerSupplyCollection.PowerSupplyCollection",
            "Name": "Power Supplies",
            "Members@odata.count": len(self.supplies),
            "Members": [{"@odata.id": f"{base}/{bay}"} for bay, _, _ in self.supplies],
        }

    def _supply(self, bay: str) -> Json:
        state = next(s for b, s, _ in self.supplies if b == bay)
        path = f"{CHASSIS}/PowerSubsystem/PowerSupplies/{bay}"
        supply: Json = {
            "@odata.id": path,
            "@odata.type": "#PowerSupply.v1_5_0.PowerSupply",
            "Id": bay,
            "Name": f"Power Supply Bay {bay}",
            "Status": {"State": state, "Health": "OK" if state != "Absent" else None},
            "PowerCapacityWatts": 1200,
            "Metrics": {"@odata.id": f"{path}/Metrics"},
        }
        oem = self._oem_key()
        if oem:
            supply["Oem"] = {oem: {"BayNumber": int(bay)}}
        return supply

    def _supply_metrics(self, bay: str) -> Json:
        share = next(s for b, _, s in self.supplies if b == bay)
        watts = None if share is None else self.profile.watts_at() * share
        path = f"{CHASSIS}/PowerSubsystem/PowerSupplies/{bay}/Metrics"
        return {
            "@odata.id": path,
            "@odata.type": "#PowerSupplyMetrics.v1_1_0.PowerSupplyMetrics",
            "Id": "Metrics",
            "Name": f"Power Supply {bay} Metrics",
            "InputPowerWatts": {"Reading": self._num(watts)},
            "OutputPowerWatts": {"Reading": self._num(None if watts is None else watts * 0.94)},
            "InputVoltage": {"Reading": 230 if share is not None else None},
        }

    def _legacy_power(self) -> Json:
        now = time.time()
        watts = self.profile.watts_at(now)
        low, high, average = self.profile.statistics(self.metrics_interval_min * 60, now)
        control: Json = {
            "@odata.id": f"{CHASSIS}/Power#/PowerControl/0",
            "MemberId": "0",
            "Name": "System Power Control",
            "PowerCapacityWatts": 1600,
            "PowerMetrics": {
                "IntervalInMin": self.metrics_interval_min,
                "AverageConsumedWatts": self._num(average),
                "MinConsumedWatts": self._num(low),
                "MaxConsumedWatts": self._num(high),
            },
        }
        ilo = self.flavour in ("ilo4", "ilo5")
        if not ilo or self.ilo_legacy_reading:
            control["PowerConsumedWatts"] = self._num(watts)
        power: Json = {
            "@odata.id": f"{CHASSIS}/Power",
            "@odata.type": "#Power.v1_3_0.Power",
            "Id": "Power",
            "Name": "Power",
            "PowerControl": [control],
            "PowerSupplies": [],
        }
        for bay, state, share in self.supplies[:2]:
            psu: Json = {
                "@odata.id": f"{CHASSIS}/Power#/PowerSupplies/{int(bay) - 1}",
                "MemberId": str(int(bay) - 1),
                "LastPowerOutputWatts": self._num(watts * (share or 0) * 0.94),
                "LineInputVoltage": 230,
                "Status": {"State": state, "Health": "OK"},
            }
            power["PowerSupplies"].append(psu)
        oem = self._oem_key()
        if oem:
            links = {
                "FastPowerMeter": {"@odata.id": f"{CHASSIS}/Power/FastPowerMeter"},
                "PowerMeter": {"@odata.id": f"{CHASSIS}/Power/PowerMeter"},
            }
            power["Oem"] = {
                oem: {
                    "@odata.type": f"#{oem}PowerMetricsExt.v2_2_0.{oem}PowerMetricsExt",
                    "HasCpuPowerMetering": True,
                    "HasPowerMetering": True,
                    "MinimumSafelyAchievableCap": None,
                    "Links": links if oem == "Hpe" else {},
                }
            }
        return power

    def _fast_power_meter(self) -> Json:
        """HPE's PowerMeter resource: 20-second averages, oldest first, the latest one last."""
        oem = self._oem_key() or "Hpe"
        now = time.time()
        latest = now - now % 20
        detail = []
        for k in range(FAST_METER_ENTRIES - 1, -1, -1):
            t = latest - 20 * k
            # The latest entry is the mean of the last 20 s, as iLO's is (the driver dates it
            # at the window's middle); older ones are the power at their time.
            watts = (
                self.profile.energy_j(now - 20, now) / 20 if k == 0 else self.profile.watts_at(t)
            )
            stamp = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            detail.append(
                {
                    "Time": stamp,
                    "Average": self._num(watts),
                    "Minimum": self._num(watts),
                    "Peak": self._num(watts),
                    "AmbTemp": 22,
                }
            )
        meter: Json = {
            "@odata.type": f"#{oem}PowerMeter.1.0.0.{oem}PowerMeter",
            "Id": "FastPowerMeter",
            "Name": "FastPowerMeter",
            "PowerDetail": detail,
        }
        if oem == "Hp":
            meter["Type"] = "HpPowerMeter.1.0.0"
            meter["links"] = {"self": {"href": "/rest/v1/Chassis/1/PowerMetrics/FastPowerMeter"}}
        else:
            meter["@odata.id"] = f"{CHASSIS}/Power/FastPowerMeter"
        return meter


def _error(status: int, message_id: str, message: str) -> Response:
    body = {
        "error": {
            "code": f"Base.1.8.{message_id}",
            "message": message,
            "@Message.ExtendedInfo": [{"MessageId": f"Base.1.8.{message_id}", "Message": message}],
        }
    }
    headers = {"WWW-Authenticate": 'Basic realm="Redfish"'} if status == 401 else {}
    return Response(status, body, headers)
