"""Request bodies: read whole however they are framed, or refused with a 4xx, on every JSON
endpoint."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from energylab.api.testing import *  # noqa: F403 - fixtures
from events.models import Run

pytestmark = pytest.mark.django_db

# Every endpoint that parses a JSON body, native and legacy.
JSON_ENDPOINTS = [
    "/api/v1/events/",
    "/api/v1/runs/",
    "/api/v1/pods/",
    "/resources/recorders/environment/d",
    "/resources/recorders/environment/d/step",
    "/resources/servers/x/consumption",
    "/resources/equipments/x/measurements",
]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize("depth", [200_000, 5_000, 900])
def test_deeply_nested_json_is_400_not_a_recursion_error(
    operator_client: APIClient, path: str, depth: int
) -> None:
    answer = operator_client.post(path, nested(depth), content_type="application/json")
    assert answer.status_code == 400
    assert isinstance(answer.json(), dict)


def test_deeply_nested_json_to_the_events_endpoint_says_so(client: APIClient) -> None:
    answer = client.post("/api/v1/events/", nested(200_000), content_type="application/json")
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["detail"]
    assert not Run.objects.exists()


def chunked(body: bytes, *, terminated: bool) -> dict[str, Any]:
    """The WSGI environ of a body sent with Transfer-Encoding: chunked, as a server passes it:
    no Content-Length, the decoded body in wsgi.input when the server terminates the input
    (gunicorn sets wsgi.input_terminated)."""
    return {
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": terminated,
    }


START = json.dumps({"type": "start", "pod": "p", "scenario": "s"}).encode()


def test_a_chunked_event_is_read_when_the_server_terminates_the_input(client: APIClient) -> None:
    answer = client.generic(
        "POST", "/api/v1/events/", b"", "application/json", **chunked(START, terminated=True)
    )
    assert answer.status_code == 201
    assert Run.objects.get().scenario == "s"


def test_a_chunked_legacy_start_is_read_when_the_server_terminates_the_input(
    client: APIClient,
) -> None:
    body = json.dumps({"scenario": "s", "step": "one"}).encode()
    answer = client.generic(
        "POST", "/resources/recorders/environment/p", b"", **chunked(body, terminated=True)
    )
    assert answer.status_code == 200
    assert Run.objects.get().steps.get().name == "one"


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_a_chunked_body_the_server_does_not_terminate_is_411_not_an_empty_body(
    operator_client: APIClient, path: str
) -> None:
    answer = operator_client.generic(
        "POST", path, b"", "application/json", **chunked(START, terminated=False)
    )
    assert answer.status_code == 411
    assert "Content-Length" in answer.json()["detail"]
    assert not Run.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_a_chunked_body_over_the_limit_is_413(client: APIClient) -> None:
    body = json.dumps({"type": "start", "pod": "p", "scenario": "s" * 200}).encode()
    answer = client.generic(
        "POST", "/api/v1/events/", b"", "application/json", **chunked(body, terminated=True)
    )
    assert answer.status_code == 413
    assert not Run.objects.exists()


def test_a_chunked_form_to_a_plain_django_view_is_read_too() -> None:
    # The admin's login form, chunked: read, the user is logged in (blank, it would not be).
    from django.contrib.auth.models import User
    from django.test import Client

    User.objects.create_superuser("root", password="chunked-pass")
    body = b"username=root&password=chunked-pass&next=/admin/"
    answer = Client().generic(
        "POST",
        "/admin/login/",
        b"",
        # (The test client sets no Content-Type for an empty body: it is set here.)
        CONTENT_TYPE="application/x-www-form-urlencoded",
        **chunked(body, terminated=True),
    )
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/"
