"""pytest fixtures over the real services: PostgreSQL (pytest-django), Redis and InfluxDB.

A test that needs a service gets it from here; when the service does not answer, the test fails
at once with a message naming it and saying how to start it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings

from energylab.services import ServiceUnavailable, check_influxdb, check_redis
from events.influx import ensure_database, make_client


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
