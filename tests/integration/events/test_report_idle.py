"""A report's idle power is the pod's while no run runs on it, or says it is unknown."""

from __future__ import annotations

import datetime as dt

import pytest

from collectors.models import BMCType, Pod, Server
from collectors.simulators.profile import PowerProfile
from events.models import Run, Step
from events.reports.report import run_report
from tests.integration.events.test_reports import EPOCH, at, record

pytestmark = pytest.mark.django_db

IDLE_W = 200.0


def busy_profile() -> PowerProfile:
    # Idle 200 W until -700 s, then a 500-W run from -700 s to 0 s, then 480 W (the next run).
    return PowerProfile(
        [(300, IDLE_W), (700, 500), (3600, 480)],
        refresh=1,
        noise=4,
        epoch=EPOCH.timestamp() - 1000,
    )


@pytest.fixture
def pod() -> Pod:
    pod = Pod.objects.create(name="idle pod", poll_interval=1)
    Server.objects.create(pod=pod, name="idle-node", bmc_type=BMCType.PUSH)
    return pod


def run_of(pod: Pod, scenario: str, start: float, end: float) -> Run:
    run = Run.objects.create(pod=pod, scenario=scenario, started_at=at(start), ended_at=at(end))
    Step.objects.create(run=run, name="work", started_at=at(start), ended_at=at(end))
    return run


def test_a_run_right_after_another_gets_the_pods_idle_power_not_the_runs(
    buffer, influx, pod
) -> None:
    run_of(pod, "first", -700, 0)
    second = run_of(pod, "second", 1, 60)
    record(buffer, influx, second, {"idle-node": busy_profile()}, -1000, 70)
    report = run_report(second)
    idle = report["idle"]
    assert idle["watts"] == pytest.approx(IDLE_W, rel=0.03)
    assert idle["source"] == "median while no run ran on the pod"
    # The settled 5 minutes before the first run: from -1000 to -700 s, a sample a second.
    assert idle["ended_at"] == "2026-11-20T07:48:20.000000Z"
    assert idle["duration_s"] == 300
    assert 295 <= idle["sample_count"] <= 300
    assert report["warnings"] == []


def test_a_pod_busy_all_along_has_no_idle_power_and_says_why(buffer, influx, pod) -> None:
    Run.objects.create(pod=pod, scenario="endless", started_at=at(-90_000))  # still running
    second = run_of(pod, "second", 1, 60)
    record(buffer, influx, second, {"idle-node": busy_profile()}, -100, 70)
    report = run_report(second)
    assert report["idle"] is None
    assert report["steps"][0]["energy_above_idle_j"] is None
    assert any("idle power unknown" in w for w in report["warnings"])


def test_a_pods_baseline_wins_and_a_step_below_it_is_explained(buffer, influx, pod) -> None:
    pod.idle_baseline_w = 900
    pod.save()
    second = run_of(pod, "second", 1, 60)
    record(buffer, influx, second, {"idle-node": busy_profile()}, -1000, 70)
    report = run_report(second)
    assert report["idle"]["watts"] == 900
    assert report["idle"]["source"] == "pod baseline"
    step = report["steps"][0]
    assert step["energy_above_idle_j"] < 0
    assert any("less than the idle power of 900.0 W" in w for w in step["warnings"])


def test_idle_of_a_pod_without_samples_before_the_run_is_unknown(buffer, influx, pod) -> None:
    second = run_of(pod, "second", 1, 60)
    record(buffer, influx, second, {"idle-node": busy_profile()}, 0, 70)
    report = run_report(second)
    assert report["idle"] is None
    assert any("no samples while the pod was idle" in w for w in report["warnings"])


def test_the_idle_window_and_settle_margin_are_settings(buffer, influx, pod, settings) -> None:
    settings.IDLE_WINDOW = 60
    settings.IDLE_SETTLE = 200
    run_of(pod, "first", -900, -750)  # settled at -550
    second = run_of(pod, "second", 1, 60)
    record(buffer, influx, second, {"idle-node": busy_profile()}, -1000, 70)
    idle = run_report(second)["idle"]
    assert idle["duration_s"] == 60
    assert idle["ended_at"] == (EPOCH + dt.timedelta(seconds=1)).isoformat().replace(
        "+00:00", ".000000Z"
    )
