"""Legacy measurements reach the sample buffer (the real Redis), all or nothing."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from rest_framework.test import APIClient

from collectors.models import BMCType, Pod, Server
from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.api.testing import ago
from energylab.timestamps import to_ns
from events.ingest.buffer import Sample, SampleBuffer

pytestmark = pytest.mark.django_db


@pytest.fixture
def env() -> str:
    # Unique, so that samples of another test process on the same Redis are told apart.
    return f'lab, pod={uuid.uuid4().hex[:6]} "east"'


def buffered(buffer: SampleBuffer, env: str) -> list[Sample]:
    entries = buffer.read_ready(older_than=0, max_samples=10_000)
    return [s for e in entries for s in e.samples if s.pod == env]


def measurements_url(equipment: str) -> str:
    return f"/resources/equipments/{quote(equipment, safe='')}/measurements"


def post(client: APIClient, equipment: str, body: dict[str, Any]) -> Any:
    return client.post(measurements_url(equipment), body, format="json")


def test_measurements_are_pushed_to_the_buffer(
    client: APIClient, buffer: SampleBuffer, env: str
) -> None:
    t0 = ago(10)
    ns = to_ns(t0)
    answer = post(
        client,
        "node 1",
        {
            "environment": env,
            "measurements": [
                {"sensor": "power", "unit": "W", "value": 251.5, "time": ns},
                {"sensor": "temperature", "unit": "C", "value": "38", "time": str(ns)},
            ],
        },
    )
    assert (answer.status_code, answer.json()) == (200, {"status": "OK", "received": 2, "new": 2})
    assert buffered(buffer, env) == [
        Sample(env, "node 1", 251.5, ns, "legacy"),
        Sample(env, "node 1", 38.0, ns, "legacy", sensor="temperature", unit="C"),
    ]


def test_an_unknown_equipment_becomes_a_push_server_of_a_new_pod(
    client: APIClient, buffer: SampleBuffer, env: str
) -> None:
    body = {
        "environment": env,
        "topology": {"dc": "Paris", "rack": "R7"},
        "measurements": [{"sensor": "power", "unit": "W", "value": 100}],
    }
    post(client, 'srv "1", rack=2', body)
    server = Server.objects.select_related("pod").get()
    assert (server.name, server.pod.name, server.bmc_type) == ('srv "1", rack=2', env, BMCType.PUSH)
    assert (server.dc, server.room, server.rack) == ("Paris", "", "R7")
    assert server.last_reading_w == 100
    post(client, 'srv "1", rack=2', {**body, "topology": {"room": "B"}})
    server.refresh_from_db()
    assert (server.dc, server.room, server.rack) == ("Paris", "B", "R7")
    assert Server.objects.count() == 1


def test_a_measurement_without_time_is_stamped_on_receipt(
    client: APIClient, buffer: SampleBuffer, env: str
) -> None:
    before = to_ns(dt.datetime.now(dt.UTC))
    post(client, "n", {"environment": env, "measurements": [{"value": 1}]})
    [sample] = buffered(buffer, env)
    assert before <= sample.measured_at_ns <= to_ns(dt.datetime.now(dt.UTC))
    assert (sample.sensor, sample.unit) == ("power", "W")


def test_measurements_outside_any_run_are_kept(
    client: APIClient, buffer: SampleBuffer, env: str
) -> None:
    post(client, "n", {"environment": env, "measurements": [{"value": 1}, {"value": 2}]})
    assert len(buffered(buffer, env)) == 2


@pytest.mark.parametrize(
    ("measurement", "field"),
    [
        ({"value": "lots"}, "value"),
        ({"value": None}, "value"),
        ({"value": True}, "value"),
        ({"value": "nan"}, "value"),
        ({"value": "1e999"}, "value"),
        ({}, "value"),
        ({"value": 1, "time": 1.5e18}, "time"),
        ({"value": 1, "time": "2026-11-25T10:00:00Z"}, "time"),
        ({"value": 1, "time": 1_700_000_000}, "time"),
        ({"value": 1, "sensor": "po\nwer"}, "sensor"),
    ],
)
def test_a_bad_measurement_is_400_naming_index_and_field_and_nothing_is_pushed(
    client: APIClient, buffer: SampleBuffer, env: str, measurement: dict[str, Any], field: str
) -> None:
    body = {"environment": env, "measurements": [{"value": 1}, measurement]}
    answer = post(client, "n", body)
    assert answer.status_code == 400
    assert field in answer.json()["measurements"]["1"]
    assert buffered(buffer, env) == []
    assert not Server.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"measurements": [{"value": 1}]}, "environment"),
        ({"environment": "p"}, "measurements"),
        ({"environment": "p", "measurements": {"value": 1}}, "measurements"),
        ({"environment": "p", "measurements": [], "topology": "rack 1"}, "topology"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(
    client: APIClient, body: dict[str, Any], field: str
) -> None:
    answer = post(client, "n", body)
    assert answer.status_code == 400
    assert field in answer.json()


def test_the_deprecated_consumption_path_is_one_power_measurement(
    client: APIClient, buffer: SampleBuffer, env: str
) -> None:
    ns = to_ns(ago(5))
    answer = client.post(
        "/resources/servers/node%201/consumption",
        {"power": "312.5", "environment": env, "time": ns},
        format="json",
    )
    assert (answer.status_code, answer.json()) == (200, {"status": "OK", "received": 1, "new": 1})
    assert buffered(buffer, env) == [Sample(env, "node 1", 312.5, ns, "legacy")]


def test_a_bad_consumption_is_400(client: APIClient) -> None:
    answer = client.post(
        "/resources/servers/n/consumption", {"power": "x", "environment": "p"}, format="json"
    )
    assert answer.status_code == 400
    assert "power" in answer.json()


def test_redis_down_is_503_and_nothing_is_half_written(
    client: APIClient, settings: Any, env: str
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/9"
    answer = post(client, "n", {"environment": env, "measurements": [{"value": 1}]})
    assert answer.status_code == 503
    assert "sample buffer" in answer.json()["detail"]
    assert not Pod.objects.filter(name=env).exists()
    assert not Server.objects.exists()


@pytest.mark.parametrize(
    ("topology", "field"),
    [
        ({"dc": "dc\nnext", "room": "a"}, "dc"),
        ({"room": "a\tb"}, "room"),
        ({"row": "r\x00"}, "row"),
        ({"rack": "a\u2028b"}, "rack"),
    ],
)
def test_a_control_character_in_a_topology_field_is_refused(
    client: APIClient, buffer: SampleBuffer, env: str, topology: dict[str, str], field: str
) -> None:
    body = {"environment": env, "topology": topology, "measurements": [{"value": 77}]}
    answer = post(client, "topo1", body)
    assert answer.status_code == 400
    assert "control characters" in answer.json()["topology"][field][0]
    assert buffered(buffer, env) == []
    assert not Server.objects.exists()


def test_printable_topology_labels_are_stored_as_sent(
    client: APIClient, buffer: SampleBuffer, env: str
) -> None:
    topology = {"dc": 'Paris, "east"=1', "room": "salle \\ 2", "row": "⚡", "rack": "R 7"}
    body = {"environment": env, "topology": topology, "measurements": [{"value": 77}]}
    assert post(client, "topo2", body).status_code == 200
    assert Server.objects.get(name="topo2").topology == topology


@pytest.mark.parametrize(
    ("measurement", "reason"),
    [
        ({"value": 1e308}, "more than"),
        ({"value": "1e308"}, "more than"),
        ({"value": 10_000_001}, "more than"),
        ({"value": -1}, "may not be negative"),
        ({"sensor": "power", "unit": "kW", "value": 2e7}, "more than"),
        ({"sensor": "psu1", "unit": "W", "value": -3}, "may not be negative"),
        ({"sensor": "temperature", "unit": "C", "value": 2e9}, "beyond"),
        ({"sensor": "temperature", "unit": "C", "value": -1e300}, "beyond"),
    ],
)
def test_an_absurd_reading_is_400_naming_its_value_and_nothing_is_pushed(
    client: APIClient, buffer: SampleBuffer, env: str, measurement: dict[str, Any], reason: str
) -> None:
    body = {"environment": env, "measurements": [{"value": 1}, measurement]}
    answer = post(client, "hugesrv", body)
    assert answer.status_code == 400
    assert reason in answer.json()["measurements"]["1"]["value"][0]
    assert buffered(buffer, env) == []
    assert not Server.objects.exists()


def test_readings_up_to_the_bounds_are_kept(
    client: APIClient, buffer: SampleBuffer, env: str
) -> None:
    measurements = [
        {"value": 0},
        {"value": 10_000_000},
        {"sensor": "temperature", "unit": "C", "value": -40},
        {"sensor": "counter", "unit": "x", "value": -1e9},
    ]
    answer = post(client, "bigsrv", {"environment": env, "measurements": measurements})
    assert answer.status_code == 200
    assert [s.watts for s in buffered(buffer, env)] == [0, 10_000_000, -40, -1e9]


@pytest.mark.parametrize("power", [1e308, -0.5, "2e7"])
def test_an_absurd_consumption_is_400_naming_power(client: APIClient, power: Any) -> None:
    answer = client.post(
        "/resources/servers/n/consumption", {"power": power, "environment": "p"}, format="json"
    )
    assert answer.status_code == 400
    assert "power" in answer.json()
    assert not Server.objects.exists()


@pytest.mark.parametrize("path", ["equipments/ns1/measurements", "servers/ns1/consumption"])
def test_a_known_server_pushed_under_another_environment_is_409_naming_its_pod(
    client: APIClient, buffer: SampleBuffer, env: str, path: str
) -> None:
    pod = Pod.objects.create(name="np2")
    Server.objects.create(pod=pod, name="ns1", bmc_type=BMCType.PUSH, dc="Paris")
    body = {
        "environment": env,
        "topology": {"dc": "pwned"},
        "measurements": [{"value": 77}],
        "power": 77,
    }
    answer = client.post(f"/resources/{path}", body, format="json")
    assert answer.status_code == 409
    assert "'ns1' belongs to pod 'np2'" in answer.json()["detail"]
    assert buffered(buffer, env) == []
    assert not Pod.objects.filter(name=env).exists()
    server = Server.objects.get(name="ns1")
    assert (server.pod.name, server.dc, server.last_reading_w) == ("np2", "Paris", None)


def test_a_known_server_pushed_under_its_own_pod_is_recorded(
    client: APIClient, buffer: SampleBuffer, env: str
) -> None:
    pod = Pod.objects.create(name=env)
    Server.objects.create(pod=pod, name="ns1", bmc_type=BMCType.IPMI, host="h")
    answer = post(client, "ns1", {"environment": env, "measurements": [{"value": 77}]})
    assert answer.status_code == 200
    assert [s.server for s in buffered(buffer, env)] == ["ns1"]


@pytest.mark.django_db(transaction=True)
def test_two_first_pushes_of_a_new_server_under_two_pods_cannot_both_pass(
    buffer: SampleBuffer,
) -> None:
    import threading

    from django.db import connection

    from events import services

    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def push(pod: str) -> None:
        barrier.wait()
        try:
            sample = Sample(pod, "racer", 5.0, time.time_ns(), "legacy")
            services.record_measurements(pod, "racer", [sample])
            outcomes[pod] = "recorded"
        except services.ServerOfAnotherPod:
            outcomes[pod] = "409"
        finally:
            connection.close()

    for _ in range(5):
        Server.objects.filter(name="racer").delete()
        threads = [threading.Thread(target=push, args=(pod,)) for pod in ("pod a", "pod b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes.values()) == ["409", "recorded"], outcomes
        winner = next(pod for pod, outcome in outcomes.items() if outcome == "recorded")
        assert Server.objects.get(name="racer").pod.name == winner
        loser = "pod b" if winner == "pod a" else "pod a"
        assert buffered(buffer, loser) == []
        buffer.clear()
