"""/api/v1/pods/ and /api/v1/servers/: CRUD with model permissions; passwords are write-only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from collectors.models import Pod, Server
from energylab.api.testing import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.django_db

SECRET = 's3cr3t pass, "quoted"'


@pytest.fixture
def pod() -> Pod:
    return Pod.objects.create(name="lab pod 7")


def server_body(pod: Pod, **extra: Any) -> dict[str, Any]:
    return {
        "pod": pod.pk,
        "name": "node 1",
        "bmc_type": "ipmi",
        "host": "10.0.0.1",
        "username": "admin",
        "password": SECRET,
        **extra,
    }


def test_a_server_is_created_with_an_encrypted_password(
    operator_client: APIClient, pod: Pod
) -> None:
    answer = operator_client.post("/api/v1/servers/", server_body(pod), format="json")
    assert answer.status_code == 201
    assert "password" not in answer.json()
    assert answer.json()["has_password"] is True
    assert answer.json()["pod_name"] == "lab pod 7"
    server = Server.objects.get()
    assert server.password == SECRET
    assert SECRET not in server.password_encrypted


def test_the_password_is_in_no_answer(operator_client: APIClient, pod: Pod) -> None:
    server_id = operator_client.post("/api/v1/servers/", server_body(pod), format="json").json()[
        "id"
    ]
    answers = [
        operator_client.get("/api/v1/servers/"),
        operator_client.get(f"/api/v1/servers/{server_id}/"),
        operator_client.patch(f"/api/v1/servers/{server_id}/", {"active": False}, format="json"),
        operator_client.options("/api/v1/servers/"),
    ]
    for answer in answers:
        text = answer.content.decode()
        assert SECRET not in text
        assert json.dumps(SECRET)[1:-1] not in text
        assert Server.objects.get().password_encrypted not in text


@pytest.mark.parametrize("body", [{}, {"password": ""}, {"active": False, "password": ""}])
def test_a_blank_or_absent_password_keeps_the_stored_one(
    operator_client: APIClient, pod: Pod, body: dict[str, Any]
) -> None:
    server_id = operator_client.post("/api/v1/servers/", server_body(pod), format="json").json()[
        "id"
    ]
    answer = operator_client.patch(f"/api/v1/servers/{server_id}/", body, format="json")
    assert answer.status_code == 200
    assert Server.objects.get().password == SECRET


def test_a_new_password_replaces_and_null_removes(operator_client: APIClient, pod: Pod) -> None:
    server_id = operator_client.post("/api/v1/servers/", server_body(pod), format="json").json()[
        "id"
    ]
    operator_client.patch(f"/api/v1/servers/{server_id}/", {"password": "new"}, format="json")
    assert Server.objects.get().password == "new"
    answer = operator_client.patch(
        f"/api/v1/servers/{server_id}/", {"password": None}, format="json"
    )
    assert answer.json()["has_password"] is False
    assert Server.objects.get().password == ""


def test_a_polled_server_needs_a_host(operator_client: APIClient, pod: Pod) -> None:
    answer = operator_client.post("/api/v1/servers/", server_body(pod, host=""), format="json")
    assert answer.status_code == 400
    assert "host" in answer.json()
    push = server_body(pod, host="", bmc_type="push", password="")
    assert operator_client.post("/api/v1/servers/", push, format="json").status_code == 201


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("http://[::1", "not a valid URL"),
        ("http://a:99999", "not a valid URL"),
        ("http://a:x", "not a valid URL"),
        ("http://a:0", "port must be 1-65535"),
        ("ftp://a", "http:// or https://"),
        ("https://", "http:// or https://"),
        ("https://root:pw@bmc", "may not hold credentials"),
        ("bmc\n1", "spaces or control characters"),
        ("bmc 1", "spaces or control characters"),
        ("bmc1:623", "port field"),
        ("bmc1/redfish", "host name or an IP address"),
        ("[fd00::1]", "host name or an IP address"),
    ],
)
def test_an_unusable_host_is_refused_naming_the_field(
    operator_client: APIClient, pod: Pod, host: str, reason: str
) -> None:
    answer = operator_client.post(
        "/api/v1/servers/", server_body(pod, bmc_type="redfish", host=host), format="json"
    )
    assert answer.status_code == 400
    assert reason in answer.json()["host"][0]
    assert not Server.objects.exists()


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "bmc-1.lab.example",
        "fd00::1",
        "https://bmc",
        "https://[fd00::1]:8443",
        "http://127.0.0.1:8000/redfish/v1",
    ],
)
def test_host_names_addresses_and_urls_are_accepted(
    operator_client: APIClient, pod: Pod, host: str
) -> None:
    answer = operator_client.post(
        "/api/v1/servers/", server_body(pod, bmc_type="redfish", host=host), format="json"
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["host"] == host


def test_a_host_is_checked_on_update_too(operator_client: APIClient, pod: Pod) -> None:
    server = Server.objects.create(pod=pod, name="n", bmc_type="ipmi", host="h")
    answer = operator_client.patch(f"/api/v1/servers/{server.pk}/", {"host": "h\nx"}, format="json")
    assert answer.status_code == 400
    assert "host" in answer.json()


@pytest.mark.parametrize("field", ["dc", "room", "row", "rack"])
def test_a_newline_in_a_topology_field_is_refused(
    operator_client: APIClient, pod: Pod, field: str
) -> None:
    body = server_body(pod, bmc_type="push", host="", **{field: "a\nb"})
    answer = operator_client.post("/api/v1/servers/", body, format="json")
    assert answer.status_code == 400
    assert "control characters" in answer.json()[field][0]
    assert not Server.objects.exists()


def test_a_control_character_in_a_topology_field_is_refused_on_update(
    operator_client: APIClient, pod: Pod
) -> None:
    server = Server.objects.create(pod=pod, name="n", bmc_type="push", dc="Paris")
    answer = operator_client.patch(f"/api/v1/servers/{server.pk}/", {"rack": "R\t7"}, format="json")
    assert answer.status_code == 400
    assert "rack" in answer.json()
    server.refresh_from_db()
    assert server.rack == ""


def test_a_user_without_rights_cannot_read_or_change_servers(client: APIClient, pod: Pod) -> None:
    Server.objects.create(pod=pod, name="n", bmc_type="ipmi", host="h", username="admin")
    assert client.get("/api/v1/servers/").status_code == 403
    assert client.get(f"/api/v1/servers/{Server.objects.get().pk}/").status_code == 403
    assert (
        client.post("/api/v1/servers/", server_body(pod, name="m"), format="json").status_code
        == 403
    )
    assert client.post("/api/v1/pods/", {"name": "new"}, format="json").status_code == 403
    # Pods carry no credentials: any authenticated client may list them.
    assert client.get("/api/v1/pods/").status_code == 200


def test_anonymous_clients_cannot_read_pods_or_servers(anonymous: APIClient, settings: Any) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    assert anonymous.get("/api/v1/pods/").status_code == 401
    assert anonymous.get("/api/v1/servers/").status_code == 401


@pytest.mark.parametrize("name", [" spaced pod ", "a,b=c \"d\" 'e' \\f", "énergie ⚡"])
def test_pod_names_round_trip_exactly(operator_client: APIClient, name: str) -> None:
    answer = operator_client.post("/api/v1/pods/", {"name": name}, format="json")
    assert answer.status_code == 201
    assert answer.json()["name"] == name
    assert operator_client.get("/api/v1/pods/", {"name": name}).json()["results"][0]["name"] == name


@pytest.mark.parametrize(("name", "status"), [("line\nbreak", 400), ("x" * 201, 400), ("", 400)])
def test_bad_pod_names_are_400_naming_the_field(
    operator_client: APIClient, name: str, status: int
) -> None:
    answer = operator_client.post("/api/v1/pods/", {"name": name}, format="json")
    assert answer.status_code == status
    assert "name" in answer.json()


@pytest.mark.parametrize("baseline", [1e308, 10_000_001, -1])
def test_an_impossible_idle_baseline_is_refused_naming_the_field(
    operator_client: APIClient, baseline: float
) -> None:
    body = {"name": "p", "idle_baseline_w": baseline}
    answer = operator_client.post("/api/v1/pods/", body, format="json")
    assert answer.status_code == 400
    assert "idle_baseline_w" in answer.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accuracy_pct", -1),
        ("accuracy_pct", 101),
        ("accuracy_pct", "NaN"),
        ("refresh_s", -0.5),
        ("refresh_s", 1e308),
        ("refresh_s", "Infinity"),
    ],
)
def test_an_impossible_accuracy_or_refresh_period_is_refused_naming_the_field(
    operator_client: APIClient, pod: Pod, field: str, value: float
) -> None:
    body = server_body(pod, **{field: value})
    answer = operator_client.post("/api/v1/servers/", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()


def test_a_servers_accuracy_and_refresh_period_are_stated_through_the_api(
    operator_client: APIClient, pod: Pod
) -> None:
    body = server_body(pod, accuracy_pct=1.5, refresh_s=20)
    answer = operator_client.post("/api/v1/servers/", body, format="json")
    assert answer.status_code == 201, answer.json()
    assert (answer.json()["accuracy_pct"], answer.json()["refresh_s"]) == (1.5, 20.0)
    assert (Server.objects.get().accuracy_pct, Server.objects.get().refresh_s) == (1.5, 20.0)


def test_duplicate_names_are_400(operator_client: APIClient, pod: Pod) -> None:
    answer = operator_client.post("/api/v1/pods/", {"name": pod.name}, format="json")
    assert answer.status_code == 400
    assert "name" in answer.json()


def test_servers_filter_by_pod_type_and_state(operator_client: APIClient, pod: Pod) -> None:
    other = Pod.objects.create(name="other")
    Server.objects.create(pod=pod, name="a", bmc_type="ipmi", host="h")
    Server.objects.create(pod=pod, name="b", bmc_type="push", active=False)
    Server.objects.create(pod=other, name="c", bmc_type="redfish", host="https://h")

    def names(**query: Any) -> list[str]:
        return [s["name"] for s in operator_client.get("/api/v1/servers/", query).json()["results"]]

    assert names(pod=pod.pk) == ["a", "b"]
    assert names(pod_name="other") == ["c"]
    assert names(bmc_type="push") == ["b"]
    assert names(active="true") == ["a", "c"]
    assert operator_client.get("/api/v1/servers/", {"bmc_type": "telnet"}).status_code == 400


def test_health_fields_are_read_only(operator_client: APIClient, pod: Pod) -> None:
    server_id = operator_client.post("/api/v1/servers/", server_body(pod), format="json").json()[
        "id"
    ]
    answer = operator_client.patch(
        f"/api/v1/servers/{server_id}/", {"last_reading_w": 9000, "last_error": "x"}, format="json"
    )
    assert answer.json()["last_reading_w"] is None
    assert answer.json()["last_error"] == ""


def test_a_page_bound_beyond_what_the_database_holds_is_400_naming_it(
    operator_client: APIClient,
) -> None:
    answer = operator_client.get("/api/v1/servers/", {"limit": "99999999999999999999"})
    assert answer.status_code == 400
    assert list(answer.json()) == ["limit"]
