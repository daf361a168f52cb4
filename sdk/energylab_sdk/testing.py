"""A fake EnergyLab server for tests: stdlib HTTP on 127.0.0.1, native and legacy contract.

    with FakeEnergyLab() as server:
        energylab_sdk.configure(url=server.root_url, pod="pod-1")
        ...
        energylab_sdk.flush(2)
        assert [e["type"] for e in server.events()] == ["start", "stop"]

``events()`` gives what the SDK sent, in one shape for both protocols, so a test written
against it can also run against a live server that offers the same view. Behaviour knobs:
``mode`` ("ok", "error": 503, "hang": accept and never answer), ``clock_offset_ns`` (the
server's clock is ahead by that much), ``token`` / ``basic_auth`` (credentials required),
``clock_delays_s`` (seconds the next ``/time/`` answers wait before reading the clock, one
per answer, as a server's slow first request does), ``pods`` (None: every pod is known; a set: a start naming another pod creates it and answers
``pod_created`` with the known ``similar_pods``, as the real server does).
"""

from __future__ import annotations

import base64
import difflib
import json
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

OK = "ok"
ERROR = "error"
HANG = "hang"


@dataclass
class ReceivedRequest:
    method: str
    path: str  # raw, as sent (still percent-encoded)
    headers: dict[str, str]
    body: Any
    status: int = 0
    event: dict[str, Any] | None = None  # normalized, when it was a valid event


@dataclass
class _Run:
    scenario: str
    step: str | None
    started_at: int
    id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class FakeEnergyLab:
    """An in-process server that records every request it gets."""

    def __init__(self) -> None:
        self.mode = OK
        self.clock_offset_ns = 0
        self.clock_delays_s: list[float] = []
        self.token: str | None = None
        self.basic_auth: tuple[str, str] | None = None
        # Refuse (400) a start that carries provenance, as a server with stricter limits would.
        self.refuse_provenance = False
        self.requests: list[ReceivedRequest] = []
        self.runs: dict[str, _Run] = {}
        self.pods: set[str] | None = None
        # Served at /api/v1/runs/{id}/energy/ and /api/v1/energy/change/ when set.
        self.reports: dict[int, dict[str, Any]] = {}
        self.change: dict[str, Any] | None = None
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._next_id = 1
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeEnergyLab:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # let hanging handlers go
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeEnergyLab:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def native_url(self) -> str:
        return self.root_url + "/api/v1"

    @property
    def legacy_url(self) -> str:
        return self.root_url + "/resources"

    def now_ns(self) -> int:
        return time.time_ns() + self.clock_offset_ns

    # -- what was received -------------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        """Accepted events: ``{"type", "pod", "scenario", "step", "at", "protocol"}``."""
        with self._cond:
            return [dict(r.event) for r in self.requests if r.event is not None]

    def changes(self) -> list[tuple[str, str | None, str | None]]:
        """``(type, scenario, step)`` of each accepted event: the run's story, in order."""
        return [(e["type"], e["scenario"], e["step"]) for e in self.events()]

    def event_requests(self) -> list[ReceivedRequest]:
        with self._cond:
            return [
                r
                for r in self.requests
                if r.path.split("?")[0].rstrip("/").split("/")[-1] not in ("time", "ping")
            ]

    def wait_for_events(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(r.event is not None for r in self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def clear(self) -> None:
        with self._cond:
            del self.requests[:]

    # -- request handling (called on server threads) -----------------------------------------

    def _record(self, request: ReceivedRequest) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        if self.token is not None:
            return given == f"Token {self.token}"
        if self.basic_auth is not None:
            pair = ":".join(self.basic_auth).encode()
            return given == "Basic " + base64.b64encode(pair).decode()
        return True

    def _handle(self, request: ReceivedRequest) -> tuple[int, Any]:
        if self.mode == ERROR:
            return 503, {"detail": "unavailable"}
        if not self._authorized(request.headers):
            return 401, {"detail": "Invalid token."}
        parts = urlsplit(request.path)
        path = parts.path
        if path.startswith("/api/v1/"):
            return self._native(request, path[len("/api/v1") :])
        if path.startswith("/resources/"):
            return self._legacy(request, path[len("/resources") :], parse_qs(parts.query))
        return 404, {"detail": "Not found."}

    def _native(self, request: ReceivedRequest, path: str) -> tuple[int, Any]:
        if path == "/time/" and request.method == "GET":
            if self.clock_delays_s:
                time.sleep(self.clock_delays_s.pop(0))
            now = self.now_ns()
            iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9))
            return 200, {"now": f"{iso}.{now % 10**9:09d}Z", "now_ns": now}
        if request.method == "GET" and path.startswith("/runs/") and path.endswith("/energy/"):
            report = self.reports.get(int(path.split("/")[2] or 0))
            return (200, report) if report else (404, {"detail": "no such run"})
        if request.method == "GET" and path == "/energy/change/" and self.change is not None:
            return 200, self.change
        if path != "/events/" or request.method != "POST":
            return 404, {"detail": "Not found."}
        body = request.body if isinstance(request.body, dict) else {}
        errors: dict[str, list[str]] = {}
        kind, pod, at = body.get("type"), body.get("pod"), body.get("at")
        if kind not in ("start", "step", "stop"):
            errors["type"] = ["must be start, step or stop"]
        if not isinstance(pod, str) or not pod:
            errors["pod"] = ["required"]
        if not isinstance(at, int) or isinstance(at, bool):
            errors["at"] = ["integer nanoseconds required"]
        if kind == "start" and (not isinstance(body.get("scenario"), str) or not body["scenario"]):
            errors["scenario"] = ["required"]
        if kind == "step" and not isinstance(body.get("step"), str):
            errors["step"] = ["required"]
        if kind == "start" and self.refuse_provenance and "commit" in body:
            errors["commit"] = ["refused (refuse_provenance)"]
        if errors:
            return 400, errors
        assert isinstance(kind, str)
        assert isinstance(pod, str)
        assert isinstance(at, int)
        return self._apply(request, "native", kind, pod, body.get("scenario"), body.get("step"), at)

    def _legacy(
        self, request: ReceivedRequest, path: str, query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        if path == "/monitoring/ping" and request.method == "GET":
            return 200, {"status": "OK"}
        prefix = "/recorders/environment/"
        if not path.startswith(prefix):
            return 404, {"detail": "Not found."}
        rest = request.path.split("?")[0][len("/resources" + prefix) :]  # still encoded
        is_step = rest.endswith("/step")
        raw_env = rest[: -len("/step")] if is_step else rest
        if not raw_env or "/" in raw_env:
            return 404, {"detail": "Not found."}
        env = unquote(raw_env)
        body = request.body if isinstance(request.body, dict) else {}
        at = body.get("time", query.get("time", [None])[0])
        at = int(at) if at is not None else self.now_ns()
        if request.method == "POST" and not is_step:
            if not isinstance(body.get("scenario"), str) or not isinstance(body.get("step"), str):
                return 400, {"detail": "scenario and step are required"}
            return self._apply(request, "legacy", "start", env, body["scenario"], body["step"], at)
        if request.method == "POST" and is_step:
            if not isinstance(body.get("step"), str):
                return 400, {"detail": "step is required"}
            return self._apply(request, "legacy", "step", env, None, body["step"], at)
        if request.method == "DELETE" and not is_step:
            return self._apply(request, "legacy", "stop", env, None, None, at)
        if request.method == "GET" and not is_step:
            run = self.runs.get(env)
            if run is None:
                return 404, {"detail": "no scenario running"}
            return 200, {"environment": env, "scenario": run.scenario, "step": run.step}
        return 405, {"detail": "method not allowed"}

    def _apply(
        self,
        request: ReceivedRequest,
        protocol: str,
        kind: str,
        pod: str,
        scenario: str | None,
        step: str | None,
        at: int,
    ) -> tuple[int, Any]:
        with self._cond:
            run = self.runs.get(pod)
            if kind == "start":
                run = _Run(scenario or "", step, at, id=self._next_id)
                self._next_id += 1
                self.runs[pod] = run
                status = 201 if protocol == "native" else 200
            elif run is None:
                return 404, {"detail": f"no run is running on pod {pod!r}"}
            elif kind == "step":
                run.step = step
                status = 200
            else:
                del self.runs[pod]
                status = 200
            request.event = {
                "type": kind,
                "pod": pod,
                "scenario": scenario if kind == "start" else run.scenario,
                "step": step if kind != "stop" else run.step,
                "at": at,
                "protocol": protocol,
            }
            created, similar = False, []
            if kind == "start" and self.pods is not None and pod not in self.pods:
                created = True
                similar = difflib.get_close_matches(pod.strip().lower(), sorted(self.pods))
                self.pods.add(pod)
            answer = {
                "pod_created": created,
                "similar_pods": similar,
                "id": run.id,
                "pod": pod,
                "environment": pod,
                "scenario": run.scenario,
                "step": run.step,
                "started_at": run.started_at,
                "ended_at": at if kind == "stop" else None,
            }
            return status, answer


def _handler_for(server: FakeEnergyLab) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real server
        disable_nagle_algorithm = True  # headers and body go in two writes

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def date_time_string(self, timestamp: float | None = None) -> str:
            return formatdate(server.now_ns() / 1e9, usegmt=True)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = ReceivedRequest(self.command, self.path, headers, body)
            if server.mode == HANG:
                server._record(request)
                server._release.wait(60)
                self.close_connection = True
                return
            status, answer = server._handle(request)
            request.status = status
            server._record(request)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

    return Handler


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
