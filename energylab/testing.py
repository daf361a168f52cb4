"""pytest fixtures over the real services: PostgreSQL (pytest-django), Redis and InfluxDB, and
the helpers every test tier shares.

A test that needs a service gets it from here; when the service does not answer, the test fails
at once with a message naming it and saying how to start it. A test that must stop a service, or
start processes that share one, gets a private one (:class:`PrivateRedis`,
:class:`PrivateInfluxDB`) on free ports, so that two test runs on one machine never meet. A test
that waits for something waits with :func:`wait_until`, never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from django.conf import settings
from influxdb import InfluxDBClient

from energylab.services import ServiceUnavailable, check_influxdb, check_redis
from events.influx import ensure_database, make_client
from events.ingest.buffer import SampleBuffer

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, message: str, every: float = 0.1) -> T:
    """Call ``condition`` every ``every`` seconds until it returns a true value, and return it.

    :raises AssertionError: ``"timed out after <timeout> s waiting for <message>"`` when it is
        still false after ``timeout`` seconds (it is called once more at the deadline).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(every)


# Not the random module's generator: tests seed it (hypothesis, pytest-randomly), the same way
# in every process of a run, which would then pick the same ports.
_port_choice = random.SystemRandom()


def ephemeral_ports() -> range:
    """The kernel's ephemeral port range, where outgoing connections take their local ports
    (Linux's default when it cannot be read)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listened on a moment ago, outside the ephemeral
    range: a server a test stops and starts again (a private influxd, its RPC port included)
    finds its ports free, where an outgoing connection could have taken one of that range in
    between ("address already in use"). The kernel's own choice (a bind to port 0) is in it.

    :raises RuntimeError: no free port found in 200 tries.
    """
    ephemeral = ephemeral_ports()
    candidates = [
        *range(10_000, max(10_000, ephemeral.start)),
        *range(max(10_000, ephemeral.stop), 65_536),
    ]
    for _ in range(200):
        port = _port_choice.choice(candidates)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free TCP port outside the ephemeral range after 200 tries")


def _django_is_set_up() -> bool:
    # The SDK's own tests run without Django too (`pytest sdk/tests -p no:django`, as its
    # README says): the autouse fixtures below then have nothing to reset.
    from django.apps import apps

    return apps.ready


@pytest.fixture(autouse=True)
def _fresh_credentials() -> Iterator[None]:
    """No test accepts a credential another test verified, nor a pod it made: rolled-back rows
    send no signal."""
    if not _django_is_set_up():
        yield
        return
    from access.version import clear_local

    clear_local()
    yield
    clear_local()


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    """One test's requests never count against another's rate limit (buckets live in Redis)."""
    if not _django_is_set_up():
        yield
        return
    from energylab.api.throttling import reset_buckets

    reset_buckets()
    yield
    reset_buckets()


@pytest.fixture(autouse=True)
def _fresh_server_directory() -> Iterator[None]:
    """No test pushes against servers another test created: rolled-back rows send no signal."""
    if not _django_is_set_up():
        yield
        return
    from events.ingest.directory import DIRECTORY

    DIRECTORY.reset(None)
    yield
    DIRECTORY.reset(None)


@pytest.fixture(scope="session")
def influxdb_database() -> Iterator[str]:
    """A fresh InfluxDB database on the real influxd for this test session, dropped after."""
    try:
        check_influxdb()
    except ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    name = f"energylab_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    client = make_client(database=name)
    ensure_database(client, name)
    previous = settings.INFLUXDB_DATABASE
    settings.INFLUXDB_DATABASE = name
    try:
        yield name
    finally:
        settings.INFLUXDB_DATABASE = previous
        client.drop_database(name)
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis (database 9 by default in tests), checked once."""
    try:
        check_redis()
    except ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    return str(settings.REDIS_URL)


@pytest.fixture
def buffer(redis_url: str) -> Iterator[SampleBuffer]:
    """The sample buffer as the app builds it (this test run's key prefix), empty before and
    after, with the writer's step-export watermark and record of its last write forgotten."""
    buf = SampleBuffer.from_settings()
    buf.clear()
    buf.client.delete(f"{buf.prefix}:writer:steps-since", f"{buf.prefix}:writer:attempt")
    yield buf
    buf.clear()


@pytest.fixture
def influx(influxdb_database: str) -> InfluxDBClient:
    """A client on the session's InfluxDB database, with EnergyLab's measurements dropped."""
    client = make_client()
    for measurement in ("power", "sensors", "steps", "PowerMeasurement", "SensorMeasurement"):
        client.query(f'DROP MEASUREMENT "{measurement}"')
    return client


class PrivateInfluxDB:
    """An ``influxd`` of the test's own, on free ports, that a test may stop and start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port, self.rpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "influxdb.conf"
        self.config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{directory}/meta"
[data]
  dir = "{directory}/data"
  wal-dir = "{directory}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        influxd = shutil.which("influxd")
        if influxd is None:
            pytest.fail("influxd is not installed: run `make services`", pytrace=False)
        log = open(self.directory / "influxd.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            [influxd, "run", "-config", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )

        def answers() -> bool:
            try:
                check_influxdb(self.url, timeout=0.5)
            except ServiceUnavailable:
                return False
            return True

        wait_until(answers, timeout, "a private influxd to start", every=0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture
def private_influxdb(tmp_path: Path) -> Iterator[PrivateInfluxDB]:
    """An influxd only this test uses, so it may stop it without disturbing others."""
    server = PrivateInfluxDB(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
            pytest.fail("redis-server is not installed: run `make services`", pytrace=False)
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

        def answers() -> bool:
            with contextlib.suppress(redis.RedisError):
                return bool(client.ping())
            return False

        try:
            wait_until(answers, timeout, "a private redis-server to start", every=0.05)
        finally:
            client.close()

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
    """A redis-server only this test (and the processes it starts) uses: its broker queues and
    keys cannot meet another test run's, and the test may stop and start it."""
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
