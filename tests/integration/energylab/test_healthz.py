"""/healthz: the database, Redis, InfluxDB and the writer's lag, as JSON; 200 or 503; no auth,
no secret in it."""

from __future__ import annotations

import socket

import pytest

from events.ingest.buffer import SampleBuffer

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_it_answers_200_when_every_service_answers(client, buffer: SampleBuffer) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "influxdb", "writer"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["writer"]["oldest_sample_waiting_s"] == 0


def test_it_answers_503_naming_the_service_that_does_not_answer_and_no_secret(
    client, buffer: SampleBuffer, settings
) -> None:
    settings.INFLUXDB_URL = f"http://influx-user:s3cret-in-url@127.0.0.1:{closed_port()}"
    settings.INFLUXDB_PASSWORD = "s3cret-influx-password"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["influxdb"]["ok"] is False
    assert body["checks"]["influxdb"]["error"] == "ConnectionError: the influxdb check failed"
    assert body["checks"]["database"]["ok"] is True
    assert "s3cret" not in response.content.decode()
    assert "127.0.0.1" not in response.content.decode()


def test_a_writer_that_falls_behind_makes_it_fail(client, buffer: SampleBuffer, settings) -> None:
    settings.HEALTH_MAX_WRITER_LAG = 60
    buffer.client.xadd(buffer.stream_key, {"s": "[]"}, id="1000-0")  # pushed long ago
    response = client.get("/healthz")
    assert response.status_code == 503
    writer = response.json()["checks"]["writer"]
    assert writer["ok"] is False
    assert "no writer runs" in writer["error"]


def test_it_needs_no_credentials_and_only_answers_get(client, buffer: SampleBuffer) -> None:
    assert client.get("/healthz").status_code == 200  # the test client sends none
    assert client.post("/healthz").status_code == 405
