"""Events, the two wire protocols (native and legacy), and one keep-alive HTTP connection.

Everything here runs on the SDK's background thread, never on the caller's.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from ._config import LEGACY, Config

START = "start"
STEP = "step"
STOP = "stop"

# The old Functest SDK started every scenario in this step; the legacy API requires one.
LEGACY_INITIAL_STEP = "running"

# Errors that mean "the API is not there right now": keep the event and retry.
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)


@dataclass
class Event:
    """One state change, stamped with the local clock when the caller made it."""

    kind: str
    pod: str
    scenario: str | None = None
    step: str | None = None
    local_ns: int = 0
    # Set when the server refused this start with its provenance: it is sent again without.
    without_provenance: bool = False


@dataclass
class Response:
    status: int
    body: bytes
    date: str | None
    retry_after: str | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None


class HttpSession:
    """One keep-alive connection to the API; reconnects after any error."""

    def __init__(self, config: Config) -> None:
        assert config.base_url is not None
        parts = urlsplit(config.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self.prefix = parts.path.rstrip("/")
        self._timeout = config.timeout
        self._conn: http.client.HTTPConnection | None = None
        self._headers = {
            "User-Agent": "energylab-sdk",
            "Accept": "application/json",
            # The server records who started a run (the native API; the legacy one ignores it).
            "X-EnergyLab-Source": config.source,
        }
        if config.token:
            self._headers["Authorization"] = f"Token {config.token}"
        elif config.user:
            pair = f"{config.user}:{config.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")

    def connect(self) -> None:
        """Open the connection if needed. :raises OSError: connection refused, timeout..."""
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        if self._conn.sock is None:
            self._conn.connect()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Response:
        """Send one request and read the whole answer.

        :raises OSError, http.client.HTTPException: transport failure (the connection is closed).
        """
        headers = dict(self._headers)
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            self.connect()
            assert self._conn is not None
            self._conn.request(method, self.prefix + path, body=data, headers=headers)
            answer = self._conn.getresponse()
            payload = answer.read()
            if answer.will_close:
                self.close()
            return Response(
                answer.status, payload, answer.getheader("Date"), answer.getheader("Retry-After")
            )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken socket may fail to close
                conn.close()


CLOCK_READINGS = 3  # readings of the server's clock at most, the shortest round trip kept
GOOD_ROUND_TRIP_NS = 20_000_000  # a reading this quick (±10 ms) needs no other


def _date_offset_ns(date: str | None, t0: int, t1: int) -> int | None:
    """Offset from an HTTP Date header (1 s resolution): only trusted beyond 1 s."""
    if not date:
        return None
    try:
        server_s = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    # The header truncates to the second: the server's clock was somewhere in [s, s+1).
    offset = int((server_s + 0.5) * 1e9) - (t0 + t1) // 2
    return offset if abs(offset) > 1_000_000_000 else 0


class Protocol:
    """Turns events into requests, and learns the server's clock."""

    clock_path = ""
    provenance: Mapping[str, Any]  # what a start event carries besides its scenario and step

    def build(self, event: Event, at_ns: int) -> tuple[str, str, dict[str, Any] | None]:
        raise NotImplementedError

    def learn_offset(self, session: HttpSession) -> int:
        """Server clock minus local clock, in ns (0 when it cannot be told).

        The server read its clock somewhere within the round trip, so a reading is only as
        good as half its round trip: as NTP does, up to ``CLOCK_READINGS`` are taken and the
        one with the shortest round trip kept (a server's first request can be slow: imports,
        a cold connection pool), and an offset within that half round trip is taken as none.

        :raises OSError, http.client.HTTPException: the API is unreachable.
        """
        session.connect()  # so the measured round trip does not include the TCP handshake
        best: tuple[int, int] | None = None  # (round trip, offset)
        for _ in range(CLOCK_READINGS):
            t0 = time.time_ns()
            answer = session.request("GET", self.clock_path)
            t1 = time.time_ns()
            if answer.status >= 500 or answer.status == 429:
                raise http.client.HTTPException(f"HTTP {answer.status} from {self.clock_path}")
            offset = self._offset_from(answer, t0, t1)
            if offset is None:  # the Date header: whole seconds, nothing to gain by repeating
                return _date_offset_ns(answer.date, t0, t1) or 0
            if best is None or t1 - t0 < best[0]:
                best = (t1 - t0, offset)
            if t1 - t0 <= GOOD_ROUND_TRIP_NS:
                break
        assert best is not None  # CLOCK_READINGS >= 1
        round_trip, offset = best
        return offset if abs(offset) > round_trip // 2 else 0

    def _offset_from(self, answer: Response, t0: int, t1: int) -> int | None:
        return None


class NativeProtocol(Protocol):
    clock_path = "/time/"

    def __init__(self, provenance: Mapping[str, Any] | None = None) -> None:
        self.provenance = dict(provenance or {})

    def build(self, event: Event, at_ns: int) -> tuple[str, str, dict[str, Any] | None]:
        body: dict[str, Any] = {"type": event.kind, "pod": event.pod, "at": at_ns}
        if event.kind == START:
            body["scenario"] = event.scenario
            body["step"] = event.step
            if not event.without_provenance:
                body.update(self.provenance)
        elif event.kind == STEP:
            body["step"] = event.step
        return "POST", "/events/", body

    def _offset_from(self, answer: Response, t0: int, t1: int) -> int | None:
        data = answer.json()
        if answer.status == 200 and isinstance(data, dict):
            now_ns = data.get("now_ns")
            if isinstance(now_ns, int) and not isinstance(now_ns, bool):
                return now_ns - (t0 + t1) // 2
        return None


class LegacyProtocol(Protocol):
    """The old recorder's API: it has no provenance, which is therefore not sent."""

    clock_path = "/monitoring/ping"
    provenance: Mapping[str, Any] = {}

    def build(self, event: Event, at_ns: int) -> tuple[str, str, dict[str, Any] | None]:
        path = "/recorders/environment/" + quote(event.pod, safe="")
        if event.kind == START:
            step = event.step if event.step is not None else LEGACY_INITIAL_STEP
            return "POST", path, {"scenario": event.scenario, "step": step, "time": at_ns}
        if event.kind == STEP:
            return "POST", path + "/step", {"step": event.step, "time": at_ns}
        return "DELETE", f"{path}?time={at_ns}", None


def protocol_for(config: Config) -> Protocol:
    return LegacyProtocol() if config.protocol == LEGACY else NativeProtocol(config.provenance)
