"""The unit tier runs without any service: a unit test that reaches PostgreSQL, Redis or InfluxDB
fails, naming what it touched, instead of passing on a developer's machine and failing in a
clean one (docs/testing.md).

- The database: pytest-django already refuses a test without the ``django_db`` mark; a test with
  it (or the ``db`` fixture) fails here at set-up instead of creating a test database.
- Redis and InfluxDB (and PostgreSQL over TCP): a connection to their ports (the settings' and
  the defaults) raises :class:`ServiceAccess` and fails the test even when the code under test
  catches the error. Subprocesses cannot be watched from here: ``make test-fast`` also points
  ``ENERGYLAB_*_URL`` at closed ports.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings


class ServiceAccess(AssertionError):
    """A unit test opened a connection to a service."""


def _service_ports() -> dict[int, str]:
    ports = {5432: "PostgreSQL", 6379: "Redis", 8086: "InfluxDB"}
    database = settings.DATABASES["default"]
    if database.get("PORT"):
        ports[int(database["PORT"])] = "PostgreSQL"
    for url, name in ((settings.REDIS_URL, "Redis"), (settings.INFLUXDB_URL, "InfluxDB")):
        port = urlsplit(url).port
        if port:
            ports[port] = name
    return ports


@pytest.fixture
def django_db_setup() -> None:
    pytest.fail(
        "a unit test asked for the database (django_db mark or db fixture): "
        "it belongs in tests/integration/",
        pytrace=False,
    )


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    """Throttle buckets live in Redis, which unit tests do not reach: nothing to reset."""


@pytest.fixture(autouse=True)
def _no_service_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    ports = _service_ports()
    touched: list[str] = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(address: Any) -> None:
        if isinstance(address, tuple) and len(address) >= 2 and address[1] in ports:
            what = f"{ports[address[1]]} at {address[0]}:{address[1]}"
            touched.append(what)
            raise ServiceAccess(f"a unit test connected to {what}: move it to tests/integration/")

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        refuse(address)
        connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        refuse(address)
        return connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield
    if touched:
        pytest.fail(
            f"a unit test connected to {', '.join(sorted(set(touched)))}: "
            "move it to tests/integration/",
            pytrace=False,
        )
