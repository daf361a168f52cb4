"""The writer's worker is SIGKILLed while its InfluxDB write is in flight (InfluxDB has stored
the points, the writer never hears so and acknowledges nothing), then a step event arrives late,
moving the step edge before those samples. The next writer writes the batch again: each sample
must still be one point, not one under each step tag.

A proxy in front of InfluxDB forwards the writes and holds back InfluxDB's answer to the first
write of power points, so the kill lands exactly between "InfluxDB has them" and "the buffer
acknowledges them".
"""

from __future__ import annotations

import datetime as dt
import http.client
import signal
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from collectors.models import Pod
from energylab.testing import wait_until
from energylab.timestamps import to_ns
from events import services
from events.ingest.buffer import Sample, SampleBuffer
from tests.e2e.conftest import Stack
from tests.reliability.pipeline import compare, influx_points

pytestmark = pytest.mark.django_db(transaction=True)

POD = "reliability: late step after a killed write"
SERVERS = 20


class HeldWrites(ThreadingHTTPServer):
    """Forwards every request to InfluxDB; answers the first write of power points only when
    released (after InfluxDB stored it)."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 8086)
        self.stored = threading.Event()  # the held write is in InfluxDB
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    server: HeldWrites
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        payload = answer.read()
        upstream.close()
        is_power = self.path.startswith("/write") and b"\npower," in b"\n" + body
        if is_power and not self.server.stored.is_set():
            self.server.stored.set()
            self.server.release.wait(60)  # the writer is killed meanwhile
            return
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _forward


@pytest.mark.timeout(120)
def test_a_late_step_after_a_killed_write_doubles_no_sample(stack: Stack, settings) -> None:
    settings.CORRELATION_DELAY = 1.0
    Pod.objects.create(name=POD, poll_interval=1)
    started = timezone.now()
    services.start_run(POD, "killed write", step="one", at=started)
    buffer = SampleBuffer.from_settings()
    measured = to_ns(started) + 200_000_000  # 0.2 s into step "one"
    samples = [Sample(POD, f"server {s}", 100.0 + s, measured, "test") for s in range(SERVERS)]
    buffer.push(samples)
    real_influxdb = settings.INFLUXDB_URL
    proxy = HeldWrites(real_influxdb)
    threading.Thread(target=proxy.serve_forever, name="influx-proxy", daemon=True).start()
    try:
        settings.INFLUXDB_URL = proxy.url  # the first writer's (Stack.env reads it)
        writer = stack.worker("writer", name="writer-killed", concurrency=1)
        stack.beat()
        wait_until(proxy.stored.is_set, 60, "the first writer's write to reach InfluxDB")
        stack.kill(writer, signal.SIGKILL)
        proxy.release.set()
    finally:
        settings.INFLUXDB_URL = real_influxdb
        proxy.shutdown()
    # A late step: "two" began 0.1 s into the run, before the samples already in InfluxDB.
    services.set_step(POD, "two", at=started + dt.timedelta(milliseconds=100))
    buffer.client.delete(f"{buffer.prefix}:writer:lock")  # its holder is dead (no 10 s wait)
    stack.worker("writer", name="writer-next", concurrency=1)
    wait_until(
        lambda: buffer.depth() == 0 and buffer.client.xlen(buffer.stream_key) == 0,
        60,
        "the next writer to write the batch again",
    )
    expected = Counter({(s.server, s.measured_at_ns // 1000): 1 for s in samples})
    figures = compare(expected, influx_points(POD))
    print(
        f"late step after a killed write: {SERVERS} samples, found {figures['found']}, "
        f"duplicated {figures['duplicated']}, lost {figures['lost']}"
    )
    assert figures["lost"] == figures["extra"] == 0
    assert figures["duplicated"] == 0
