"""A simulated Shelly plug on loopback (Gen1 or Gen2 HTTP API), playing a power profile.

* ``generation=1``: ``/shelly`` (``type``, ``auth``), ``/status`` with ``meters[0].power`` (W) and
  ``total`` (watt-minutes); HTTP Basic authentication when a password is set.
* ``generation=2``: ``/shelly`` (``gen: 2``, ``auth_en``), ``/rpc/Switch.GetStatus?id=0`` with
  ``apower`` (W) and ``aenergy.total`` (Wh); HTTP Digest authentication with SHA-256 for user
  ``admin`` when a password is set, as Shelly's Gen2 firmware does.

One plug per simulator, served by the standard library's threading HTTP server (a lab has few
plugs, so a thread per connection is fine here, unlike the Redfish simulator's thousand BMCs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collectors.simulators.profile import PowerProfile
from collectors.simulators.serving import Served

REALM = "shellyplugsg3-simulated"


class ShellySimulator(Served):
    """A Shelly plug at ``http://127.0.0.1:port``."""

    def __init__(
        self,
        profile: PowerProfile,
        *,
        generation: int = 2,
        username: str = "admin",
        password: str = "",
    ) -> None:
        if generation not in (1, 2):
            raise ValueError("generation must be 1 or 2")
        self.profile = profile
        self.generation = generation
        self.username = username if generation == 1 else "admin"
        self.password = password
        self.host = "127.0.0.1"
        self.port = 0
        self.requests = 0
        self._nonce = secrets.token_hex(8)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def answer(
        self, method: str, target: str, authorization: str
    ) -> tuple[int, dict[str, str], Any]:
        """Status, extra headers and JSON body for one request (no sockets: testable alone)."""
        parts = urlsplit(target)
        if parts.path == "/shelly":
            if self.generation == 1:
                return 200, {}, {"type": "SHPLG-S", "fw": "sim", "auth": bool(self.password)}
            return 200, {}, {"id": "shellyplugsg3-sim", "gen": 2, "auth_en": bool(self.password)}
        if self.password and not self._authorized(method, parts.path, target, authorization):
            return 401, self._challenge(), {"code": 401, "message": "unauthorized"}
        watts = round(self.profile.watts_at(), 1)
        energy_j = self.profile.counter_j()
        if self.generation == 1 and parts.path == "/status":
            meter = {"power": watts, "is_valid": True, "total": round(energy_j / 60.0)}
            return 200, {}, {"meters": [meter], "relays": [{"ison": True}], "temperature": 31.5}
        if self.generation == 2 and parts.path == "/rpc/Switch.GetStatus":
            channel = parse_qs(parts.query).get("id", ["0"])[0]
            if channel != "0":
                return (
                    400,
                    {},
                    {"code": -105, "message": f"Argument 'id', value {channel} not found!"},
                )
            return (
                200,
                {},
                {
                    "id": 0,
                    "source": "init",
                    "output": True,
                    "apower": watts,
                    "voltage": 230.1,
                    "aenergy": {"total": round(energy_j / 3600.0, 3)},
                    "temperature": {"tC": 31.5},
                },
            )
        return 404, {}, {"code": 404, "message": "not found"}

    def _challenge(self) -> dict[str, str]:
        if self.generation == 1:
            return {"WWW-Authenticate": f'Basic realm="{REALM}"'}
        return {
            "WWW-Authenticate": f'Digest qop="auth", realm="{REALM}", nonce="{self._nonce}", '
            "algorithm=SHA-256"
        }

    def _authorized(self, method: str, path: str, target: str, authorization: str) -> bool:
        if self.generation == 1:
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return hmac.compare_digest(authorization, f"Basic {expected}")
        if not authorization.startswith("Digest "):
            return False
        fields = dict(
            (key.strip(), value.strip().strip('"'))
            for key, _, value in (
                item.partition("=") for item in authorization[len("Digest ") :].split(",")
            )
        )

        def sha(text: str) -> str:
            return hashlib.sha256(text.encode()).hexdigest()

        ha1 = sha(f"admin:{REALM}:{self.password}")
        ha2 = sha(f"{method}:{fields.get('uri', '')}")
        expected = sha(
            f"{ha1}:{fields.get('nonce', '')}:{fields.get('nc', '')}:"
            f"{fields.get('cnonce', '')}:{fields.get('qop', '')}:{ha2}"
        )
        return (
            fields.get("username") == "admin"
            and fields.get("uri") == target
            and hmac.compare_digest(fields.get("response", ""), expected)
        )

    def start(self) -> ShellySimulator:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                simulator.requests += 1
                status, headers, body = simulator.answer(
                    "GET", self.path, self.headers.get("Authorization", "")
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read the simulator's counters instead

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05),
            name=f"shelly-sim-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None
