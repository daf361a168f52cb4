"""The InfluxDB client EnergyLab builds, against the real influxd."""

from __future__ import annotations

from typing import Any

from events.influx import make_client


def _encoding_of_an_answer() -> str | None:
    client = make_client()
    try:
        answer = client.request("query", params={"q": "SHOW DATABASES"})
        return answer.headers.get("Content-Encoding")
    finally:
        client.close()


def test_influxdb_answers_uncompressed_by_default(influxdb_database: str) -> None:
    assert _encoding_of_an_answer() is None


def test_compressed_answers_can_be_asked_for(influxdb_database: str, settings: Any) -> None:
    settings.INFLUXDB_COMPRESSION = True
    assert _encoding_of_an_answer() == "gzip"
