"""End-to-end fixtures: a real Celery worker and beat, as separate processes, on the test
database, a redis-server of the test's own, and the session's InfluxDB database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from energylab.testing import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]


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

    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.tmp = tmp
        self.redis_url = redis_url
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYLAB_")}
        env.update(
            ENERGYLAB_DEBUG="true",
            ENERGYLAB_DATABASE_URL=_database_url(),
            ENERGYLAB_REDIS_URL=self.redis_url,
            ENERGYLAB_REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX,
            ENERGYLAB_INFLUXDB_URL=settings.INFLUXDB_URL,
            ENERGYLAB_INFLUXDB_DATABASE=settings.INFLUXDB_DATABASE,
            ENERGYLAB_CORRELATION_DELAY=str(settings.CORRELATION_DELAY),
            ENERGYLAB_CREDENTIALS_KEY=",".join(settings.CREDENTIALS_KEYS),
            ENERGYLAB_LOG_LEVEL="INFO",
            # Beat looks for final reports to store every 2 s, not 10: tests wait for them.
            ENERGYLAB_REPORTS_CHECK_INTERVAL="2",
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
def stack(
    tmp_path: Path, influxdb_database: str, private_redis: PrivateRedis, settings
) -> Iterator[Stack]:
    """Worker/beat launcher on the test's private Redis (its Celery queues and keys meet no
    other test run's); the test process itself also points at it."""
    settings.REDIS_URL = private_redis.url
    stack = Stack(tmp_path, private_redis.url)
    try:
        yield stack
    finally:
        stack.stop()
        for name, _process in stack.processes:
            # Shown by pytest only when the test failed: what the processes said.
            print(f"----- {name} log -----\n{stack.log(name)[-4000:]}")
