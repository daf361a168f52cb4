"""POST /write and GET /ping: InfluxDB 1.x clients' requests reach the sample buffer (the real
Redis), with the measurements API's credentials, and a refused batch stores nothing."""

from __future__ import annotations

import base64
import gzip
import time
import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from collectors.models import BMCType, Pod, Server
from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.api.testing import PASSWORD
from events import services
from events.ingest.buffer import BufferUnavailable, Sample, SampleBuffer

pytestmark = pytest.mark.django_db

T = time.time_ns() - 60 * 10**9


@pytest.fixture
def pod() -> str:
    # Unique, so that samples of another test process on the same Redis are told apart.
    return f'lab, pod={uuid.uuid4().hex[:6]} "east"'


def tag(name: str) -> str:
    return name.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def buffered(buffer: SampleBuffer, pod: str) -> list[Sample]:
    entries = buffer.read_ready(older_than=0, max_samples=10_000)
    return [s for e in entries for s in e.samples if s.pod == pod]


def write(client: APIClient, body: str | bytes, query: str = "db=telegraf", **headers: Any) -> Any:
    data: Any = body.encode() if isinstance(body, str) else body  # bytes, though stubs say str
    return client.generic(
        "POST", f"/write?{query}", data, content_type="text/plain; charset=utf-8", **headers
    )


def test_points_are_pushed_to_the_buffer_and_answered_204(
    client: APIClient, buffer: SampleBuffer, pod: str
) -> None:
    body = f"pdu,pod={tag(pod)},server=node\\ 1 watts=251.5,temp=38i {T}\n"
    answer = write(client, body)
    assert (answer.status_code, answer.content) == (204, b"")
    assert answer["X-Influxdb-Version"]
    assert buffered(buffer, pod) == [
        Sample(pod, "node 1", 251.5, T, "influx"),
        Sample(pod, "node 1", 38.0, T, "influx", sensor="temp", unit=""),
    ]
    server = Server.objects.select_related("pod").get(name="node 1")
    assert (server.pod.name, server.bmc_type) == (pod, BMCType.PUSH)


def test_the_precision_parameter_scales_timestamps(
    client: APIClient, buffer: SampleBuffer, pod: str
) -> None:
    seconds = T // 10**9
    assert (
        write(client, f"m,pod={tag(pod)},server=s watts=1 {seconds}", "precision=s").status_code
        == 204
    )
    assert [s.measured_at_ns for s in buffered(buffer, pod)] == [seconds * 10**9]


def test_an_unknown_precision_is_a_400(client: APIClient) -> None:
    answer = write(client, "m,pod=p,server=s watts=1", "precision=ps")
    assert answer.status_code == 400
    assert "precision 'ps' is not one of n, u, ms, s, m, h" in answer.json()["error"]


def test_a_malformed_line_refuses_the_whole_batch_naming_it(
    client: APIClient, buffer: SampleBuffer, pod: str
) -> None:
    body = f"m,pod={tag(pod)},server=s watts=1 {T}\nm,pod={tag(pod)},server=s watts= {T}\n"
    answer = write(client, body)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("unable to parse line 2 ")
    assert "missing field value" in answer["X-Influxdb-Error"]
    assert buffered(buffer, pod) == []
    assert not Pod.objects.filter(name=pod).exists()


def test_a_server_of_another_pod_refuses_the_whole_batch(
    client: APIClient, buffer: SampleBuffer, pod: str
) -> None:
    Server.objects.create(pod=Pod.objects.create(name="elsewhere"), name="taken", bmc_type="push")
    body = f"m,pod={tag(pod)},server=free watts=1 {T}\nm,pod={tag(pod)},server=taken watts=2 {T}"
    answer = write(client, body)
    assert answer.status_code == 409
    assert "server 'taken' belongs to pod 'elsewhere'" in answer.json()["error"]
    assert buffered(buffer, pod) == []
    assert not Server.objects.filter(name="free").exists()


def test_one_server_under_two_pods_in_a_batch_refuses_it_whole(
    client: APIClient, buffer: SampleBuffer, pod: str
) -> None:
    body = f"m,pod={tag(pod)},server=s watts=1 {T}\nm,pod={tag(pod)}2,server=s watts=2 {T}"
    answer = write(client, body)
    assert answer.status_code == 409
    assert "server 's' is named under two pods" in answer.json()["error"]
    assert buffered(buffer, pod) == []
    assert not Server.objects.filter(name="s").exists()


def test_a_buffer_refusal_after_some_servers_says_how_many_were_stored(
    client: APIClient, pod: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def record(
        pod_name: str, server: str, samples: Any, topology: Any = None, **kwargs: Any
    ) -> int:
        calls.append(server)
        if len(calls) == 2:
            raise BufferUnavailable("Redis refused the connection")
        return len(samples)

    monkeypatch.setattr(services, "record_measurements", record)
    body = "\n".join(f"m,pod={tag(pod)},server=s{i} watts=1 {T}" for i in range(3))
    answer = write(client, body)
    assert answer.status_code == 503
    assert (
        "after the samples of 1 of 3 servers were stored; send the batch again"
        in (answer.json()["error"])
    )


def test_gzip_bodies_are_read(client: APIClient, buffer: SampleBuffer, pod: str) -> None:
    body = gzip.compress(f"m,pod={tag(pod)},server=s watts=7 {T}".encode())
    assert write(client, body, HTTP_CONTENT_ENCODING="gzip").status_code == 204
    assert [s.watts for s in buffered(buffer, pod)] == [7.0]


def test_a_gzip_body_larger_than_the_limit_once_decompressed_is_a_413(
    client: APIClient, settings
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = write(client, gzip.compress(b"#" * 5000), HTTP_CONTENT_ENCODING="gzip")
    assert answer.status_code == 413
    assert "decompressed body exceeds the limit of 1000 bytes" in answer.json()["error"]


def test_a_body_larger_than_the_limit_is_a_413(client: APIClient, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = write(client, b"#" * 5000)
    assert answer.status_code == 413
    assert "exceeds the limit of 1000 bytes" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "encoding", "status", "message"),
    [
        (b"not gzip", "gzip", 400, "not valid gzip"),
        # mtime=0: the same bytes in every process (pytest-xdist compares the test ids).
        (gzip.compress(b"m f=1", mtime=0)[:-10], "gzip", 400, "truncated"),
        (b"m f=1", "br", 415, "content encoding 'br'"),
        (b"m,pod=p,server=s watts=1 \xff", "identity", 400, "not UTF-8"),
    ],
    ids=["not-gzip", "truncated-gzip", "brotli", "not-utf8"],
)
def test_bodies_that_cannot_be_read_are_refused(
    client: APIClient, body: bytes, encoding: str, status: int, message: str
) -> None:
    answer = write(client, body, HTTP_CONTENT_ENCODING=encoding)
    assert answer.status_code == status
    assert message in answer.json()["error"]


def test_basic_auth_and_the_u_and_p_parameters_are_credentials(
    anonymous: APIClient, ci_user: Any, buffer: SampleBuffer, pod: str
) -> None:
    # Two readings a nanosecond apart: the same point sent twice would be one (a retry).
    line = f"m,pod={tag(pod)},server=s watts=1 {T}"
    basic = base64.b64encode(f"ci:{PASSWORD}".encode()).decode()
    assert write(anonymous, line, HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 204
    line = f"m,pod={tag(pod)},server=s watts=1 {T + 1}"
    assert write(anonymous, line, f"db=x&u=ci&p={PASSWORD.replace(' ', '+')}").status_code == 204
    assert len(buffered(buffer, pod)) == 2


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("db=x", {}),
        ("u=ci&p=wrong", {}),
        ("db=x", {"HTTP_AUTHORIZATION": "Token not-a-token"}),
    ],
)
def test_writes_without_valid_credentials_are_refused(
    anonymous: APIClient, ci_user: Any, query: str, headers: dict[str, str]
) -> None:
    answer = write(anonymous, "m,pod=p,server=s watts=1", query, **headers)
    assert answer.status_code == 401
    assert set(answer.json()) == {"error"}


def test_anonymous_writes_pass_when_anonymous_events_are_allowed(
    anonymous: APIClient, buffer: SampleBuffer, pod: str, settings
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    settings.ANONYMOUS_EVENTS_CREATE_PODS = True
    assert write(anonymous, f"m,pod={tag(pod)},server=s watts=1 {T}").status_code == 204
    assert len(buffered(buffer, pod)) == 1


@pytest.mark.parametrize("method", ["get", "head"])
def test_ping_answers_204_with_a_version_to_anyone(anonymous: APIClient, method: str) -> None:
    answer = getattr(anonymous, method)("/ping")
    assert answer.status_code == 204
    assert answer["X-Influxdb-Version"].startswith("1.")


def test_anonymous_writes_are_rate_limited_per_address_with_an_influx_error(
    anonymous: APIClient, buffer: SampleBuffer, pod: str, settings
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    settings.ANONYMOUS_EVENTS_CREATE_PODS = True
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anonymous measurements": "1/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    line = f"m,pod={tag(pod)},server=s watts=1 {T}"
    assert write(anonymous, line).status_code == 204
    refused = write(anonymous, line)
    assert refused.status_code == 429
    assert refused["Retry-After"]
    assert "ENERGYLAB_ANONYMOUS_MEASUREMENTS_RATE" in refused.json()["error"]


def test_a_body_sent_as_a_form_is_read_as_line_protocol(
    client: APIClient, buffer: SampleBuffer, pod: str
) -> None:
    # curl --data-binary sends application/x-www-form-urlencoded unless told otherwise
    line: Any = f"m,pod={tag(pod)},server=s watts=1 {T}".encode()
    answer = client.generic(
        "POST", "/write?db=x", line, content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 204
    assert len(buffered(buffer, pod)) == 1
