"""A run that received no event for ENERGYLAB_RUN_MAX_IDLE is closed at its last event and
marked abandoned, in the API, the pages and the report."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from energylab.api.testing import *  # noqa: F403 - fixtures
from events import services
from events.models import Run, Step
from events.reports.report import run_report
from events.tasks import close_abandoned_runs

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(hours=24)
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def received_hours_ago(hours: float, run_id: int) -> None:
    """As if the run's events had been received that long ago."""
    then = timezone.now() - dt.timedelta(hours=hours)
    Run.objects.filter(pk=run_id).update(received_at=then)
    Step.objects.filter(run_id=run_id).update(received_at=then)


def test_a_silent_run_is_closed_at_its_last_step_and_marked_abandoned(settings) -> None:
    settings.RUN_MAX_IDLE = DAY.total_seconds()
    started = services.start_run("p", "nightly", "build", at(0))
    services.set_step("p", "test", at(5))
    received_hours_ago(25, started.run.id)
    assert close_abandoned_runs() == [started.run.id]
    run = Run.objects.get(pk=started.run.id)
    assert (run.ended_at, run.abandoned) == (at(5), True)
    steps = Step.objects.filter(run=run).order_by("started_at")
    assert [(s.name, s.ended_at) for s in steps] == [("build", at(5)), ("test", at(5))]
    assert close_abandoned_runs() == []  # closed once


def test_a_run_that_received_an_event_lately_or_stopped_is_left_alone(settings) -> None:
    settings.RUN_MAX_IDLE = DAY.total_seconds()
    busy = services.start_run("busy", "s", "build", at(0))
    received_hours_ago(30, busy.run.id)
    services.set_step("busy", "test", at(1))  # received now, though stamped long ago
    done = services.start_run("done", "s", "build", at(0))
    services.stop_run("done", at(1))
    received_hours_ago(30, done.run.id)
    assert close_abandoned_runs() == []
    assert not Run.objects.filter(abandoned=True).exists()


def test_an_event_after_the_check_found_the_run_wins() -> None:
    started = services.start_run("p", "s", "build", at(0))
    received_hours_ago(30, started.run.id)
    found = services.abandoned_run_ids(DAY)
    services.set_step("p", "late", at(1))
    assert found == [started.run.id]
    assert services.close_abandoned_run(started.run.id, DAY) is None
    assert Run.objects.get(pk=started.run.id).ended_at is None


def test_the_api_the_pages_and_the_report_say_abandoned(
    client: APIClient, admin_client: Client, influx
) -> None:
    started = services.start_run("p", "nightly", "build", at(0))
    received_hours_ago(30, started.run.id)
    services.close_abandoned_run(started.run.id, DAY)
    run_id = started.run.id
    assert client.get(f"/api/v1/runs/{run_id}/").json()["abandoned"] is True
    assert client.get("/api/v1/runs/").json()["results"][0]["abandoned"] is True
    report = run_report(Run.objects.get(pk=run_id))
    assert report["run"]["abandoned"] is True
    assert any(w.startswith("abandoned:") for w in report["warnings"])
    assert "abandoned" in admin_client.get("/runs/").content.decode()
    assert "abandoned" in admin_client.get(f"/runs/{run_id}/").content.decode()
