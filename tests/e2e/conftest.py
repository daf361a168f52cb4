"""End-to-end fixtures: a real Celery worker and beat, as separate processes, on the test
database, a Redis database of their own, and the session's InfluxDB database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# A Redis database per test process keeps two test runs on one machine out of each other's
# queues and buffers.
E2E_REDIS_URL = f"redis://127.0.0.1:6379/{10 + os.getpid() % 6}"


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


class Stack:
    """Worker and beat processes, started on demand, stopped at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYLAB_")}
        env.update(
            ENERGYLAB_DEBUG="true",
            ENERGYLAB_DATABASE_URL=_database_url(),
            ENERGYLAB_REDIS_URL=E2E_REDIS_URL,
            ENERGYLAB_REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX,
            ENERGYLAB_INFLUXDB_URL=settings.INFLUXDB_URL,
            ENERGYLAB_INFLUXDB_DATABASE=settings.INFLUXDB_DATABASE,
            ENERGYLAB_CORRELATION_DELAY=str(settings.CORRELATION_DELAY),
            ENERGYLAB_CREDENTIALS_KEY=",".join(settings.CREDENTIALS_KEYS),
            ENERGYLAB_LOG_LEVEL="INFO",
            DJANGO_SETTINGS_MODULE="energylab.settings",
        )
        env.update(extra)
        return env

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "energylab", *args],
            cwd=ROOT,
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((name, process))
        return process

    def worker(
        self, queues: str, name: str = "worker", concurrency: int | None = None
    ) -> subprocess.Popen[bytes]:
        # Pool and concurrency as deployed (the settings': one process, threads) unless told.
        return self.start(
            name,
            "worker",
            "--loglevel=INFO",
            *([f"--concurrency={concurrency}"] if concurrency is not None else []),
            "-Q",
            queues,
            "-n",
            f"{name}-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        )

    def beat(self) -> subprocess.Popen[bytes]:
        return self.start(
            "beat",
            "beat",
            "--loglevel=INFO",
            "--max-interval=1",
            "-s",
            str(self.tmp / "beat-schedule"),
        )

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            self.kill(process)


@pytest.fixture
def e2e_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(E2E_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def stack(
    tmp_path: Path, influxdb_database: str, e2e_redis: redis.Redis, settings
) -> Iterator[Stack]:
    """Worker/beat launcher; the test process itself also points at the e2e Redis."""
    settings.REDIS_URL = E2E_REDIS_URL
    stack = Stack(tmp_path)
    try:
        yield stack
    finally:
        stack.stop()
        for name, _process in stack.processes:
            # Shown by pytest only when the test failed: what the processes said.
            print(f"----- {name} log -----\n{stack.log(name)[-4000:]}")


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, every: float = 0.2
) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
