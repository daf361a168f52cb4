"""The InfluxDB 1.x client, configured from settings, and the database EnergyLab writes to."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from influxdb import InfluxDBClient


def make_client(
    database: str | None = None, timeout: float = 10.0, json_answers: bool = False
) -> InfluxDBClient:
    """A client for ``ENERGYLAB_INFLUXDB_URL`` (http or https), on the configured database.

    It asks for msgpack answers (the client's default, the fastest to decode), or JSON with
    ``json_answers``: a chunked query needs JSON, the client reading its chunks line by line.
    """
    parts = urlsplit(settings.INFLUXDB_URL)
    headers = {"Accept-Encoding": accept_encoding()}
    if json_answers:
        headers["Accept"] = "application/json"
    return InfluxDBClient(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 8086),
        path=parts.path.strip("/"),
        ssl=parts.scheme == "https",
        verify_ssl=parts.scheme == "https",
        username=settings.INFLUXDB_USERNAME or "root",
        password=settings.INFLUXDB_PASSWORD or "root",
        database=database or settings.INFLUXDB_DATABASE,
        timeout=timeout,
        headers=headers,
    )


def accept_encoding() -> str:
    """What to ask InfluxDB's answers in: requests asks for gzip by default, and InfluxDB then
    compresses every answer (``ENERGYLAB_INFLUXDB_COMPRESSION``)."""
    return "gzip" if settings.INFLUXDB_COMPRESSION else "identity"


def ensure_database(client: InfluxDBClient, database: str | None = None) -> None:
    """Create the database and its default retention policy when missing (idempotent).

    The original recorder relied on a setup script it never ran itself; EnergyLab creates what
    it needs on start.
    """
    name = database or settings.INFLUXDB_DATABASE
    client.create_database(name)  # CREATE DATABASE is idempotent in InfluxDB 1.x
    duration = settings.INFLUXDB_RETENTION
    policies = {p["name"]: p for p in client.get_list_retention_policies(name)}
    if "energylab" not in policies:
        client.create_retention_policy("energylab", duration, "1", database=name, default=True)
    elif policies["energylab"]["duration"] != duration and duration.upper() != "INF":
        client.alter_retention_policy("energylab", database=name, duration=duration, default=True)
