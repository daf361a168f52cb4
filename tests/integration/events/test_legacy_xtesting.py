"""The real old client: Xtesting 0.80.0's ``xtesting.energy.energy`` against a live server.

Configured only through its environment variables, as CI configures it. Xtesting is a test-only
dependency (requirements/dev.txt: ``pip install --no-deps xtesting==0.80.0``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from energylab.api.testing import PASSWORD
from events.models import Run, RunSource

energy = pytest.importorskip("xtesting.energy.energy")

pytestmark = pytest.mark.django_db(transaction=True)

POD = "lab pod 7, east"  # quote_plus sends "lab+pod+7%2C+east"


@pytest.fixture
def recorder(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("NODE_NAME", POD)
    monkeypatch.setenv("ENERGY_RECORDER_API_URL", f"{live_server.url}/resources")
    monkeypatch.delenv("ENERGY_RECORDER_API_USER", raising=False)
    monkeypatch.delenv("ENERGY_RECORDER_API_PASSWORD", raising=False)
    # The client caches its configuration (and whether the API answered its ping) per process.
    energy.EnergyRecorder.energy_recorder_api = None
    yield energy.EnergyRecorder
    energy.EnergyRecorder.energy_recorder_api = None


class Case:
    """A test case as Xtesting writes them: decorated ``run`` named by ``case_name``."""

    def __init__(self, name: str, inner: Case | None = None) -> None:
        self.case_name = name
        self.inner = inner

    @energy.enable_recording
    def run(self) -> int:
        assert energy.EnergyRecorder.set_step("deploy")
        if self.inner is not None:
            self.inner.run()
        return 0


def runs() -> list[tuple[str, list[str], bool]]:
    return [
        (r.scenario, [s.name for s in r.steps.order_by("started_at", "id")], r.ended_at is None)
        for r in Run.objects.filter(pod__name=POD).order_by("started_at", "id")
    ]


def test_a_recorded_case_with_steps_and_nesting(recorder: Any, settings: Any) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    settings.ANONYMOUS_EVENTS_CREATE_PODS = True
    assert recorder.load_config() is True  # its ping found the API

    assert Case("outer", inner=Case("inner")).run() == 0

    assert runs() == [
        ("outer", ["running", "deploy"], False),
        ("inner", ["running", "deploy"], False),
        ("outer", ["deploy"], False),  # the client restores the outer scenario in its step
    ]
    assert set(Run.objects.values_list("source", flat=True)) == {RunSource.LEGACY}
    assert recorder.get_current_scenario() is None


def test_the_client_reads_back_the_running_scenario(recorder: Any, settings: Any) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    settings.ANONYMOUS_EVENTS_CREATE_PODS = True
    assert recorder.start("smoke")
    assert recorder.set_step("check")
    assert recorder.get_current_scenario() == {
        "environment": POD,
        "scenario": "smoke",
        "step": "check",
    }
    assert recorder.stop()
    assert runs() == [("smoke", ["running", "check"], False)]


def test_basic_auth_from_its_variables(
    recorder: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = False
    User.objects.create_user("ci", password=PASSWORD)
    monkeypatch.setenv("ENERGY_RECORDER_API_USER", "ci")
    monkeypatch.setenv("ENERGY_RECORDER_API_PASSWORD", PASSWORD)
    assert recorder.start("authenticated")
    assert recorder.stop()
    assert runs() == [("authenticated", ["running"], False)]


def test_without_credentials_the_client_is_refused_and_records_nothing(
    recorder: Any, settings: Any
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = False
    assert recorder.start("refused") is False
    assert runs() == []
