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
import threading
import time
from collections import Counter

import redis

from collectors.models import BMCType, Pod, Server
from collectors.simulators.ipmi import IPMISimulator
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator
from energylab.testing import wait_until
from events.influx import make_client
from events.ingest.buffer import SampleBuffer
from tests.e2e.conftest import Stack

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
    wait_until(
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
