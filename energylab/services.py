"""Reachability checks of the services EnergyLab depends on.

Used by the legacy ping (``/resources/monitoring/ping``, the web container's health check), the
beat container's health check (``docker/entrypoint.sh``) and the test fixtures, so that a missing
service gives one message naming it and saying how to start it, never a hang or a traceback.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import redis
import requests
from django.conf import settings
from django.db import connection
from django.db.utils import OperationalError


class ServiceUnavailable(Exception):
    """A service does not answer; the message names it and says how to start it."""


def check_influxdb(url: str | None = None, timeout: float = 2.0) -> None:
    url = url or settings.INFLUXDB_URL
    try:
        response = requests.get(f"{url.rstrip('/')}/ping", timeout=timeout)
    except requests.RequestException as exc:
        raise ServiceUnavailable(
            f"InfluxDB does not answer at {url} ({type(exc).__name__}); "
            "start it with `make services`"
        ) from None
    if response.status_code != 204:
        raise ServiceUnavailable(
            f"InfluxDB at {url} answered /ping with HTTP {response.status_code}, not 204"
        )


def check_redis(url: str | None = None, timeout: float = 2.0) -> None:
    url = url or settings.REDIS_URL
    try:
        redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout).ping()
    except redis.RedisError as exc:
        safe = urlsplit(url)._replace(netloc=urlsplit(url).hostname or "").geturl()
        raise ServiceUnavailable(
            f"Redis does not answer at {safe} ({type(exc).__name__}); start it with `make services`"
        ) from None


def check_database() -> None:
    try:
        connection.ensure_connection()
    except OperationalError as exc:
        engine = connection.vendor
        raise ServiceUnavailable(
            f"the {engine} database does not answer ({str(exc).strip().splitlines()[0]}); "
            "check ENERGYLAB_DATABASE_URL"
        ) from None
