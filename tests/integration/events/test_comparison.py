"""Comparisons over the real InfluxDB: the ranking of a pod's scenarios, badges, and the clear
4xx answers to sets that are not sets."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from collectors.models import BMCType, Pod, Server
from events.ingest.buffer import Sample
from events.ingest.writer import InfluxWriter
from events.models import Run, Step

pytestmark = pytest.mark.django_db

POD = "lab/ä 1"
SERVER = "node"


def record(buffer, influx, pod: Pod, scenario: str, watts: list[float]) -> None:
    """One 10 s run of ``scenario`` per figure of ``watts``, a minute apart, an hour ago."""
    origin = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    samples = []
    for index, level in enumerate(watts):
        start = origin + dt.timedelta(minutes=index + 10 * Run.objects.count())
        run = Run.objects.create(
            pod=pod, scenario=scenario, started_at=start, ended_at=start + dt.timedelta(seconds=10)
        )
        Step.objects.create(run=run, name="all", started_at=run.started_at, ended_at=run.ended_at)
        first = int(start.timestamp()) - 2
        samples += [Sample(POD, SERVER, level, (first + i) * 10**9, "test") for i in range(15)]
    buffer.push(samples)
    InfluxWriter(buffer, influx, delay=0).flush()


@pytest.fixture
def pod() -> Pod:
    pod = Pod.objects.create(name=POD, poll_interval=1)
    Server.objects.create(pod=pod, name=SERVER, bmc_type=BMCType.PUSH)
    return pod


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.create_user("reader"))
    return client


def test_the_ranking_puts_the_costliest_scenario_first(buffer, influx, pod, api) -> None:
    record(buffer, influx, pod, "vFW", [200, 210])
    record(buffer, influx, pod, "vRouter ⚡", [400, 390])
    answer = api.get("/api/v1/energy/ranking/", {"pod": POD})
    assert answer.status_code == 200, answer.content
    ranked = answer.json()["scenarios"]
    assert [row["scenario"] for row in ranked] == ["vRouter ⚡", "vFW"]
    assert ranked[0]["runs"] == 2
    assert ranked[0]["energy_j"]["mean"] == pytest.approx(3950, rel=0.02)
    assert ranked[0]["mean_w"] == pytest.approx(395, rel=0.02)

    browser = Client()
    browser.force_login(User.objects.get(username="reader"))
    page = browser.get("/runs/ranking/", {"pod": POD})
    assert page.status_code == 200
    assert page.content.decode().index("vRouter ⚡") < page.content.decode().index("vFW")


def test_a_badge_shows_the_last_energy_and_its_trend_to_anyone(buffer, influx, pod) -> None:
    record(buffer, influx, pod, "night/ly ✓", [200, 200, 200, 260])
    answer = Client().get(f"/badges/{quote(POD, safe='')}/{quote('night/ly ✓', safe='')}.svg")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("image/svg+xml")
    svg = answer.content.decode()
    assert "night/ly ✓" in svg
    assert "2600 J ↑ 30 %" in svg

    for name in ("nothing", "nul\x00"):
        unknown = Client().get(f"/badges/{quote(POD, safe='')}/{quote(name)}.svg")
        assert unknown.status_code == 200
        assert "no runs" in unknown.content.decode()


def test_badges_ask_for_a_login_when_not_public(settings, pod) -> None:
    settings.PUBLIC_BADGES = False
    assert Client().get("/badges/p/s.svg").status_code == 302


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"a": "main"}, "expected branch:NAME, last:N or runs:ID"),
        ({"a": "last:0"}, "whole number from 1 to 100"),
        ({"a": "runs:1,x"}, "run ids"),
        ({"a": "last:5", "threshold_pct": "-1"}, "threshold_pct"),
        ({}, "a"),
        ({"a": "branch:x\x00"}, "Null characters are not allowed"),
    ],
)
def test_a_set_that_is_not_a_set_gets_a_400_that_says_why(api, query, message) -> None:
    answer = api.get("/api/v1/energy/change/", {"pod": POD, "scenario": "s", **query})
    assert answer.status_code == 400
    assert message in str(answer.json())


def test_the_comparison_page_says_what_is_wrong_with_a_set(pod) -> None:
    browser = Client()
    browser.force_login(User.objects.create_user("viewer"))
    page = browser.get("/runs/compare/", {"pod": POD, "scenario": "s", "a": "main"})
    assert page.status_code == 400
    assert "set A" in page.content.decode()
    page = browser.get("/runs/compare/", {"pod": POD, "scenario": "s", "a": "branch:\x00"})
    assert page.status_code == 400
    assert "control character" in page.content.decode()
    assert browser.get("/runs/compare/").status_code == 200


def test_a_comparison_without_runs_in_the_change_is_a_404_that_says_so(api, pod) -> None:
    answer = api.get("/api/v1/energy/change/", {"pod": POD, "scenario": "s", "a": "last:5"})
    assert answer.status_code == 404
    assert "no ended run of scenario 's'" in answer.json()["detail"]
