"""What one event costs: a few queries, however long its run already is, and an answer built
without a serializer that says the same as the serializer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from energylab.api.testing import *  # noqa: F403 - fixtures
from events import services
from events.api import serializers as s
from events.models import Run

pytestmark = pytest.mark.django_db


def queries_of(client: APIClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The statements an event sends, and its answer. The savepoint around them stands for the
    transaction they run in outside a test (BEGIN and COMMIT, which Django does not log)."""
    with CaptureQueriesContext(connection) as captured:
        answer = client.post("/api/v1/events/", body, format="json")
    assert answer.status_code in {200, 201}, answer.content
    statements = [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    return len(statements), answer.json()


def test_a_step_event_costs_as_many_queries_in_a_long_run_as_in_a_new_one(
    client: APIClient,
) -> None:
    start = {"type": "start", "pod": "p", "scenario": "s", "step": "first"}
    client.post("/api/v1/events/", start, format="json")
    # The first event after the pod's creation reads it once for the access check (then cached).
    client.post("/api/v1/events/", {"type": "step", "pod": "p", "step": "warm"}, format="json")
    first, _ = queries_of(client, {"type": "step", "pod": "p", "step": "step 0"})
    for i in range(1, 30):
        client.post(
            "/api/v1/events/", {"type": "step", "pod": "p", "step": f"step {i}"}, format="json"
        )
    later, answer = queries_of(client, {"type": "step", "pod": "p", "step": "last"})
    assert later == first
    # On PostgreSQL one call of events_set_step, which locks the pod, reads its running run with
    # its running step and count, ends that step and inserts the new one; elsewhere those four
    # statements in one transaction (the token is remembered: see test_api_auth_cache). No read
    # of the run after them.
    assert later == (1 if connection.vendor == "postgresql" else 4)
    assert (answer["step"], answer["step_count"]) == ("last", 33)


def test_a_start_on_a_busy_pod_answers_both_runs_without_reading_them_again(
    client: APIClient,
) -> None:
    start = {"type": "start", "pod": "p", "scenario": "a", "step": "x"}
    client.post("/api/v1/events/", start, format="json")
    client.post("/api/v1/events/", {"type": "step", "pod": "p", "step": "y"}, format="json")
    count, answer = queries_of(client, {"type": "start", "pod": "p", "scenario": "b"})
    assert count <= 8
    assert (answer["scenario"], answer["step"], answer["step_count"]) == ("b", None, 0)
    previous = answer["ended_previous"]
    assert (previous["scenario"], previous["step"], previous["step_count"]) == ("a", None, 2)
    assert previous["ended_at"] == answer["started_at"]


def test_event_answers_say_what_the_run_serializers_say() -> None:
    """Each answer, built from what the event read and wrote, against the serializer on the
    run's rows read right after the event."""
    paris = dt.timezone(dt.timedelta(hours=1))
    t0 = dt.datetime(2026, 11, 25, 9, 0, 0, 0, tzinfo=paris)  # no microseconds: still printed
    first = services.start_run("p", "a", None, t0)
    assert s.run_summary(first.run) == summary_of(first.run.id)
    stepped = services.set_step("p", "one", t0 + dt.timedelta(seconds=1))
    assert s.run_summary(stepped) == summary_of(stepped.id)
    started = services.start_run("p", "b", "x", t0 + dt.timedelta(seconds=2, microseconds=5))
    expected = s.StartedSerializer(
        Run.objects.get(pk=started.run.id),
        context={"ended_previous": Run.objects.get(pk=first.run.id)},
    ).data
    assert s.started_summary(started) == expected
    stopped = services.stop_run("p", t0 + dt.timedelta(seconds=3))
    assert s.run_summary(stopped) == summary_of(stopped.id)
    assert s.started_summary(first)["ended_previous"] is None
    assert s.run_summary(stopped)["ended_at"] == "2026-11-25T08:00:03.000000Z"


def summary_of(run_id: int) -> dict[str, Any]:
    return dict(s.RunSummarySerializer(Run.objects.get(pk=run_id)).data)


@pytest.mark.parametrize("kind", [["step"], {"a": 1}, 3, None, "jump"])
def test_an_event_of_no_known_type_is_a_400_naming_type(client: APIClient, kind: Any) -> None:
    answer = client.post("/api/v1/events/", {"type": kind, "pod": "p"}, format="json")
    assert answer.status_code == 400
    assert "type" in answer.json()


def test_events_reuse_their_validating_serializer(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from energylab.api.fields import NameField

    start = {"type": "start", "pod": "p", "scenario": "s", "step": "first"}
    client.post("/api/v1/events/", start, format="json")
    client.post("/api/v1/events/", {"type": "step", "pod": "p", "step": "warm"}, format="json")
    built: list[object] = []
    init = NameField.__init__

    def counted(self: NameField, **kwargs: Any) -> None:
        built.append(self)
        init(self, **kwargs)

    monkeypatch.setattr(NameField, "__init__", counted)
    _, answer = queries_of(client, {"type": "step", "pod": "p", "step": "again"})
    assert answer["step"] == "again"
    assert built == []
