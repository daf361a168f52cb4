"""Pushed measurements: the native bulk API, nanoseconds to InfluxDB, retries, the server cache."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from collectors.models import BMCType, Pod, Server
from energylab.api.testing import *  # noqa: F403 - fixtures
from events import services
from events.ingest.buffer import Sample, SampleBuffer
from events.ingest.writer import InfluxWriter

pytestmark = pytest.mark.django_db

URL = "/api/v1/measurements/"


@pytest.fixture
def pod() -> str:
    # Unique, so that samples of another test process on the same Redis are told apart.
    return f"push {uuid.uuid4().hex[:6]}"


def at(seconds_ago: float, ns: int = 0) -> int:
    """A time in the recent past, to the nanosecond."""
    return (time.time_ns() // 1_000_000_000 - int(seconds_ago)) * 1_000_000_000 + ns


def buffered(buffer: SampleBuffer, pod: str) -> list[Sample]:
    """The buffered samples of the test's pods (other test processes may share the buffer)."""
    entries = buffer.read_ready(older_than=0, max_samples=10_000)
    return [s for e in entries for s in e.samples if s.pod.startswith(pod)]


def measurement(pod: str, server: str, value: Any, ns: int | str, **more: Any) -> dict[str, Any]:
    return {"pod": pod, "server": server, "value": value, "time": ns, **more}


def test_a_bulk_body_names_many_servers_and_sensors_and_creates_the_unknown_ones(
    client: APIClient, buffer: SampleBuffer, pod: str
) -> None:
    t = at(10)
    body = {
        "measurements": [
            measurement(pod, "a", 100.5, t),
            measurement(pod, "b", "200", str(t + 1)),
            measurement(pod, "b", 41.5, t, sensor="inlet", unit="C"),
            measurement(f"{pod} 2", "c", 7, t),
        ]
    }
    answer = client.post(URL, body, format="json")
    assert (answer.status_code, answer.json()) == (200, {"received": 4, "new": 4})
    assert buffered(buffer, pod) == [
        Sample(pod, "a", 100.5, t, "push"),
        Sample(pod, "b", 200.0, t + 1, "push"),
        Sample(pod, "b", 41.5, t, "push", sensor="inlet", unit="C"),
        Sample(f"{pod} 2", "c", 7.0, t, "push"),
    ]
    servers = Server.objects.order_by("name").values_list("name", "pod__name", "bmc_type")
    assert list(servers) == [
        ("a", pod, BMCType.PUSH),
        ("b", pod, BMCType.PUSH),
        ("c", f"{pod} 2", BMCType.PUSH),
    ]


def test_a_resent_body_adds_nothing_and_says_so(
    client: APIClient, buffer: SampleBuffer, pod: str
) -> None:
    t = at(5)
    body = {"measurements": [measurement(pod, "a", 1, t + n) for n in (1, 2, 2)]}
    assert client.post(URL, body, format="json").json() == {"received": 3, "new": 2}
    assert client.post(URL, body, format="json").json() == {"received": 3, "new": 0}
    assert [s.measured_at_ns for s in buffered(buffer, pod)] == [t + 1, t + 2]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"server": "a", "value": 1}, "pod"),
        ({"pod": "p", "value": 1}, "server"),
        ({"pod": "p", "server": "a"}, "value"),
        ({"pod": "p", "server": "a", "value": True}, "value"),
        ({"pod": "p", "server": "a", "value": "x"}, "value"),
        ({"pod": "p", "server": "a", "value": -1}, "value"),
        ({"pod": "p", "server": "a\nb", "value": 1}, "server"),
        ({"pod": "p", "server": "a", "value": 1, "time": 1.5e18}, "time"),
        ({"pod": "p", "server": "a", "value": 1, "time": 1_700_000_000}, "time"),
        ({"pod": "p", "server": "a", "value": 1, "time": "soon"}, "time"),
    ],
)
def test_a_bad_measurement_is_400_naming_index_and_field_and_nothing_is_stored(
    client: APIClient, buffer: SampleBuffer, pod: str, item: dict[str, Any], field: str
) -> None:
    if item.get("pod") == "p":
        item = {**item, "pod": pod}
    body = {"measurements": [{"pod": pod, "server": "ok", "value": 1}, item]}
    answer = client.post(URL, body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["measurements"]["1"]
    assert buffered(buffer, pod) == []
    assert not Server.objects.exists()


def test_a_body_that_is_not_json_is_400(client: APIClient) -> None:
    answer = client.post(URL, b"{nope", content_type="application/json")
    assert answer.status_code == 400


def test_anonymous_pushes_are_refused(anonymous: APIClient, pod: str) -> None:
    body = {"measurements": [measurement(pod, "a", 1, at(1))]}
    assert anonymous.post(URL, body, format="json").status_code in (401, 403)


def test_a_known_server_pushes_without_sql(buffer: SampleBuffer, pod: str) -> None:
    services.record_samples([Sample(pod, "a", 1.0, at(3), "push")])  # creates it, caches it
    services.record_samples([Sample(pod, "a", 2.0, at(2), "push")])  # health written once
    with CaptureQueriesContext(connection) as queries:
        assert services.record_samples([Sample(pod, "a", 3.0, at(1), "push")]) == 1
    assert queries.captured_queries == []


def test_a_server_moved_to_another_pod_is_pushed_there_once_the_directory_changes(
    buffer: SampleBuffer, pod: str
) -> None:
    services.record_samples([Sample(pod, "a", 1.0, at(3), "push")])
    other = Pod.objects.create(name=f"{pod} new")
    Server.objects.filter(name="a").update(pod=other)
    buffer.bump_directory_version()  # what collectors.signals does once a change commits
    assert services.record_samples([Sample(other.name, "a", 2.0, at(2), "push")]) == 1
    with pytest.raises(services.ServerOfAnotherPod):
        services.record_samples([Sample(pod, "a", 3.0, at(1), "push")])


def test_a_change_of_a_server_bumps_the_directory_version_on_commit(
    buffer: SampleBuffer, pod: str, django_capture_on_commit_callbacks: Any
) -> None:
    before = buffer.directory_version()
    with django_capture_on_commit_callbacks(execute=True):
        Server.objects.create(pod=Pod.objects.create(name=pod), name="a", bmc_type=BMCType.PUSH)
    assert int(buffer.directory_version()) > int(before)


def test_the_last_reading_of_a_pushing_server_is_written_at_most_every_health_interval(
    buffer: SampleBuffer, pod: str, settings: Any
) -> None:
    settings.POLL_HEALTH_INTERVAL = 3600
    services.record_samples([Sample(pod, "a", 1.0, at(3), "push")])
    services.record_samples([Sample(pod, "a", 2.0, at(2), "push")])
    assert Server.objects.get(name="a").last_reading_w == 1.0
    settings.POLL_HEALTH_INTERVAL = 0
    services.record_samples([Sample(pod, "a", 3.0, at(1), "push")])
    assert Server.objects.get(name="a").last_reading_w == 3.0


def test_readings_within_one_microsecond_are_distinct_points_and_a_resent_batch_adds_none(
    client: APIClient, buffer: SampleBuffer, influx: Any, pod: str
) -> None:
    t = at(30, 123_456_000)
    body = {"measurements": [measurement(pod, "a", 10 + n, t + n) for n in (1, 5, 999)]}
    assert client.post(URL, body, format="json").json()["new"] == 3
    assert client.post(URL, body, format="json").json()["new"] == 0
    InfluxWriter(buffer, influx, delay=0).flush()
    query = "SELECT watts FROM power WHERE pod = $pod"
    rows = list(influx.query(query, bind_params={"pod": pod}, epoch="ns").get_points())
    assert [(r["time"], r["watts"]) for r in rows] == [
        (t + 1, 11.0),
        (t + 5, 15.0),
        (t + 999, 1009.0),
    ]
    # Written again past the check (a writer replaying a batch after a crash): still three.
    buffer.push([Sample(pod, "a", 11.0, t + 1, "push")])
    InfluxWriter(buffer, influx, delay=0).flush()
    assert len(list(influx.query(query, bind_params={"pod": pod}).get_points())) == 3
