"""A start that creates its pod says so, with the known pods whose names are closest (a typo's
likely meaning), on the native and the legacy paths; names are stored as sent."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from collectors.models import Pod
from collectors.pod_names import similar_pod_names
from energylab.api.testing import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.django_db


def start(client: APIClient, pod: str) -> dict[str, object]:
    body = {"type": "start", "pod": pod, "scenario": "s"}
    answer = client.post("/api/v1/events/", body, format="json")
    assert answer.status_code == 201, answer.content
    return dict(answer.json())


def test_a_start_on_an_unknown_pod_answers_pod_created_and_the_closest_names(
    client: APIClient,
) -> None:
    Pod.objects.create(name="demo-lab")
    Pod.objects.create(name="unrelated")
    answer = start(client, "Demo Lab ")
    assert (answer["pod_created"], answer["similar_pods"]) == (True, ["demo-lab"])
    assert Pod.objects.filter(name="Demo Lab ").exists()  # stored as sent


def test_a_start_on_a_known_pod_answers_pod_created_false(client: APIClient) -> None:
    Pod.objects.create(name="demo-lab")
    answer = start(client, "demo-lab")
    assert (answer["pod_created"], answer["similar_pods"]) == (False, [])


def test_the_legacy_start_answers_pod_created_beside_the_contract_fields(
    client: APIClient,
) -> None:
    Pod.objects.create(name="lab-7")
    answer = client.post(
        "/resources/recorders/environment/lab%207",
        {"scenario": "s", "step": "running"},
        format="json",
    ).json()
    assert answer == {
        "environment": "lab 7",
        "scenario": "s",
        "step": "running",
        "pod_created": True,
        "similar_pods": ["lab-7"],
    }


def test_similar_names_ignore_case_and_separators_and_leave_far_names_out() -> None:
    for name in ("demo-lab", "Demo_Lab2", "ci-pod-12", "x"):
        Pod.objects.create(name=name)
    assert similar_pod_names("DEMO LAB") == ["demo-lab", "Demo_Lab2"]
    assert similar_pod_names("zzzz") == []
