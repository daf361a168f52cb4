"""What the reliability tests share: a tap on the sample buffer (the producers' side of the
count), the points InfluxDB holds (the other side), a lab of simulated BMCs, and a private
redis-server a test may restart.

Why a tap: the poller runs in a worker process, so the test cannot count what it pushed from
inside. Every push is one entry of the buffer's Redis stream, and the writer deletes an entry
only after the correlation delay has passed *and* InfluxDB accepted it; a thread that reads the
stream with ``XREAD`` as entries arrive therefore sees every pushed sample, as long as it lags
less than the delay (it records its worst lag, and the tests assert it).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from collectors.models import BMCType, Pod, Server
from collectors.simulators.ipmi import IPMISimulator
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator
from events.influx import make_client
from events.ingest.buffer import SampleBuffer
from tests.e2e.conftest import Stack, wait_for

Key = tuple[str, int]  # (server, time in µs): a point's identity in one series


class StreamTap:
    """Counts every sample pushed to a buffer stream, by (server, µs)."""

    def __init__(self, client: redis.Redis, stream_key: str) -> None:
        self.client = client
        self.stream_key = stream_key
        self.samples: Counter[Key] = Counter()
        self.entries = 0
        self.max_lag_s = 0.0
        self.gaps: list[str] = []  # Redis went away while tapping
        self._stop = threading.Event()
        self._last = "0-0"
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="stream-tap", daemon=True)

    def __enter__(self) -> StreamTap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def count(self) -> int:
        with self._lock:
            return sum(self.samples.values())

    def snapshot(self) -> Counter[Key]:
        with self._lock:
            return Counter(self.samples)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                reply = self.client.xread({self.stream_key: self._last}, count=500, block=100)
            except redis.RedisError as exc:
                self.gaps.append(type(exc).__name__)
                time.sleep(0.05)
                continue
            now = time.time()
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                    self._last = text
                    rows = json.loads(fields[b"s"])
                    lag = now - int(text.split("-", 1)[0]) / 1000.0
                    with self._lock:
                        self.entries += 1
                        self.max_lag_s = max(self.max_lag_s, lag)
                        for row in rows:
                            self.samples[(str(row[1]), int(row[3]) // 1000)] += 1


def influx_points(pod: str) -> Counter[Key]:
    """How many points InfluxDB holds for each (server, µs) of a pod, across all its series
    (a sample written twice with different run/step tags counts twice)."""
    client = make_client(timeout=60)
    try:
        result = client.query(
            'SELECT "watts" FROM "power" WHERE "pod" = $pod GROUP BY *',
            bind_params={"pod": pod},
            epoch="u",
        )
        found: Counter[Key] = Counter()
        for (_measurement, tags), points in result.items():
            for point in points:
                found[(tags["server"], int(point["time"]))] += 1
        return found
    finally:
        client.close()


def stop_polling_and_drain(stack: Stack, buffer: SampleBuffer, timeout: float = 60) -> None:
    """Kill the stack's poller, so no sample comes any more, and wait until the writer has
    written and acknowledged every buffered one (the stream is empty, not only the count)."""
    stack.kill(next(process for name, process in stack.processes if name == "poller"))
    wait_for(
        lambda: buffer.depth() == 0 and buffer.client.xlen(buffer.stream_key) == 0,
        timeout,
        "the writer to drain the buffer",
    )


def compare(expected: Counter[Key], found: Counter[Key]) -> dict[str, int]:
    """The figures every reliability test prints: expected, found, lost, duplicated, extra."""
    return {
        "expected": sum(expected.values()),
        "found": sum(found.values()),
        "lost": sum(1 for key in expected if key not in found),
        "duplicated": sum(n - 1 for n in found.values() if n > 1),
        "extra": sum(1 for key in found if key not in expected),
        "pushed_twice": sum(n - 1 for n in expected.values() if n > 1),
    }


class Lab(contextlib.ExitStack):
    """Simulated BMCs (IPMI and Redfish, alternately) registered as servers of one pod."""

    def __init__(self, pod: Pod, count: int, watts: float = 250.0) -> None:
        super().__init__()
        self.pod = pod
        self.count = count
        self.watts = watts
        self.servers: dict[str, Server] = {}
        self.simulators: dict[str, IPMISimulator | RedfishSimulator] = {}

    def __enter__(self) -> Lab:
        super().__enter__()
        for index in range(self.count):
            profile = PowerProfile.constant(self.watts + index)
            if index % 2 == 0:
                sim: IPMISimulator | RedfishSimulator = self.enter_context(IPMISimulator(profile))
                kind, host = BMCType.IPMI, "127.0.0.1"
            else:
                sim = self.enter_context(RedfishSimulator(profile, flavour="environment-metrics"))
                kind, host = BMCType.REDFISH, "http://127.0.0.1"
            self.add(f"node {index}, {kind}", kind, host, sim)
        return self

    def add(
        self,
        name: str,
        kind: str,
        host: str,
        sim: IPMISimulator | RedfishSimulator,
        password: str = "password",
    ) -> Server:
        server = Server(
            pod=self.pod, name=name, bmc_type=kind, host=host, port=sim.port, username="admin"
        )
        server.password = password
        server.save()
        self.servers[name] = server
        self.simulators[name] = sim
        return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own, on a free loopback port, with the shared one's
    flags: nothing on disk (``--save "" --appendonly no``), so a restart loses everything."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            time.sleep(0.05)
        raise AssertionError(f"a private redis-server did not start within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
