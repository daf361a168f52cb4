"""What one event costs the database: a few queries, however long its run already is."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from events.api.testing import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.django_db


def queries_of(client: APIClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    with CaptureQueriesContext(connection) as captured:
        answer = client.post("/api/v1/events/", body, format="json")
    assert answer.status_code in {200, 201}, answer.content
    return len(captured.captured_queries), answer.json()


def test_a_step_event_costs_as_many_queries_in_a_long_run_as_in_a_new_one(
    client: APIClient,
) -> None:
    start = {"type": "start", "pod": "p", "scenario": "s", "step": "first"}
    client.post("/api/v1/events/", start, format="json")
    first, _ = queries_of(client, {"type": "step", "pod": "p", "step": "step 0"})
    for i in range(1, 30):
        client.post(
            "/api/v1/events/", {"type": "step", "pod": "p", "step": f"step {i}"}, format="json"
        )
    later, answer = queries_of(client, {"type": "step", "pod": "p", "step": "last"})
    assert later == first
    # Lock the pod, read its run with its running step and count, end that step, insert the
    # new one; plus the token, BEGIN and COMMIT. No read of the run again after the commit.
    assert later <= 8
    assert (answer["step"], answer["step_count"]) == ("last", 32)


def test_a_start_on_a_busy_pod_answers_both_runs_without_reading_them_again(
    client: APIClient,
) -> None:
    start = {"type": "start", "pod": "p", "scenario": "a", "step": "x"}
    client.post("/api/v1/events/", start, format="json")
    client.post("/api/v1/events/", {"type": "step", "pod": "p", "step": "y"}, format="json")
    count, answer = queries_of(client, {"type": "start", "pod": "p", "scenario": "b"})
    assert count <= 10
    assert (answer["scenario"], answer["step"], answer["step_count"]) == ("b", None, 0)
    previous = answer["ended_previous"]
    assert (previous["scenario"], previous["step"], previous["step_count"]) == ("a", None, 2)
    assert previous["ended_at"] == answer["started_at"]
