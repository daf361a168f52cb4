"""Request bodies that are not what an endpoint reads get a 4xx, on every JSON endpoint."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from events.api.testing import *  # noqa: F403 - fixtures
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


def test_deeply_nested_json_is_400_on_the_events_fast_path(client: APIClient) -> None:
    answer = client.post("/api/v1/events/", nested(200_000), content_type="application/json")
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["detail"]
    assert not Run.objects.exists()
