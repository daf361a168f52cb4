"""The SDK, its CLI and the old Functest usage against a live EnergyLab server (the real
API, in-process) and against a dead port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import energylab_sdk as energy
import pytest
from django.contrib.auth.models import User
from energylab_sdk import _api

from access.tokens import issue_token
from events.models import Run

pytestmark = pytest.mark.django_db(transaction=True)

POD = 'sdk pod, "live" = ⚡'


@pytest.fixture
def token() -> str:
    return issue_token(User.objects.create_user("ci-bot"))[1]


@pytest.fixture(autouse=True)
def fresh_sdk() -> Iterator[None]:
    _api._reset_state()
    yield
    energy.flush(5)
    energy.configure(url=None)
    _api._reset_state()


def steps_of(run: Run) -> list[str]:
    return list(run.steps.order_by("started_at").values_list("name", flat=True))


def test_decorators_record_a_test_case_with_its_steps(live_server, token: str) -> None:
    energy.configure(url=live_server.url, pod=POD, token=token)

    class Case:
        case_name = "vping, ssh"

        @energy.enable_recording
        def run(self) -> str:
            self.boot()
            energy.Energy.set_step("ping = 1")
            return "ok"

        @energy.set_step("boot \\ vm")
        def boot(self) -> None:
            time.sleep(0.01)

    assert Case().run() == "ok"
    assert energy.flush(5)
    run = Run.objects.get(pod__name=POD)
    assert run.scenario == "vping, ssh"
    assert run.source == "sdk"
    assert run.ended_at is not None
    assert steps_of(run)[-2:] == ["boot \\ vm", "ping = 1"]


def test_nested_recordings_restore_the_outer_scenario(live_server, token: str) -> None:
    energy.configure(url=live_server.url, pod=POD, token=token)
    with energy.recording("outer", step="first"):
        with energy.recording("inner"):
            pass
        energy.Energy.set_step("after inner")
    assert energy.flush(5)
    scenarios = list(
        Run.objects.filter(pod__name=POD).order_by("started_at").values_list("scenario", flat=True)
    )
    assert scenarios == ["outer", "inner", "outer"]
    assert steps_of(Run.objects.filter(scenario="outer").latest("started_at"))[-1] == "after inner"


def test_two_sequential_step_blocks_give_exactly_two_steps(live_server, token: str) -> None:
    # The README's pattern recorded a third, 0-s step "build" when "test" ended.
    energy.configure(url=live_server.url, pod=POD, token=token)
    with energy.recording("smoke"):
        with energy.step("build"):
            time.sleep(0.01)
        with energy.step("test"):
            time.sleep(0.01)
    assert energy.flush(5)
    run = Run.objects.get(pod__name=POD)
    assert steps_of(run) == ["build", "test"]
    assert run.ended_at is not None


def test_a_nested_step_block_returns_to_the_enclosing_one(live_server, token: str) -> None:
    energy.configure(url=live_server.url, pod=POD, token=token)
    with energy.recording("smoke"), energy.step("deploy"):
        with energy.step("wait"):
            time.sleep(0.01)
        time.sleep(0.01)
    assert energy.flush(5)
    assert steps_of(Run.objects.get(pod__name=POD)) == ["deploy", "wait", "deploy"]


def test_a_legacy_url_drives_energylabs_legacy_api(live_server, settings) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True  # as old labs ran their recorder
    settings.ANONYMOUS_EVENTS_CREATE_PODS = True
    energy.configure(url=f"{live_server.url}/resources", pod="lab pod 7")
    with energy.recording("legacy scenario"):
        energy.Energy.set_step("step, two")
    assert energy.flush(5)
    run = Run.objects.get(pod__name="lab pod 7")
    assert run.source == "legacy"
    assert "step, two" in steps_of(run)


def test_the_old_functest_variables_are_enough(live_server, monkeypatch) -> None:
    User.objects.create_user("functest", password="opnfv-pass")
    monkeypatch.setenv("ENERGY_RECORDER_API_URL", f"{live_server.url}/resources")
    monkeypatch.setenv("NODE_NAME", "pod from env")
    monkeypatch.setenv("ENERGY_RECORDER_API_USER", "functest")
    monkeypatch.setenv("ENERGY_RECORDER_API_PASSWORD", "opnfv-pass")
    for name in ("ENERGYLAB_API_URL", "ENERGYLAB_POD", "ENERGYLAB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    energy.configure()  # everything from the environment

    @energy.enable_recording(scenario="healthcheck")
    def run() -> None:
        energy.Energy.set_step("api_check")

    run()
    assert energy.flush(5)
    assert steps_of(Run.objects.get(pod__name="pod from env"))[-1] == "api_check"


def test_a_dead_api_never_slows_or_breaks_the_test() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    energy.configure(url=f"http://127.0.0.1:{port}", pod=POD, token="x", flush_timeout=0.5)
    started = time.perf_counter()
    for _ in range(100):
        energy.Energy.set_step("s")
    per_call = (time.perf_counter() - started) / 100
    assert per_call < 0.001  # a call never waits on the network
    assert energy.flush(0.5) is False  # nothing could be sent, and flush says so


def test_the_cli_records_a_command_and_keeps_its_exit_code(live_server, token: str) -> None:
    cli = shutil.which("energylab", path=os.path.dirname(sys.executable))
    assert cli, "the SDK's console script is not installed (make install)"
    env = {
        **os.environ,
        "ENERGYLAB_API_URL": live_server.url,
        "ENERGYLAB_POD": POD,
        "ENERGYLAB_API_TOKEN": token,
    }
    result = subprocess.run(
        [
            cli,
            "record",
            "--scenario",
            "shell job",
            "--",
            sys.executable,
            "-c",
            "raise SystemExit(3)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    run = Run.objects.get(pod__name=POD, scenario="shell job")
    assert run.ended_at is not None
    assert run.source == "cli"
    for args in (["start", "--scenario", "script"], ["step", "compile"], ["stop"]):
        step = subprocess.run(
            [cli, *args, "--strict"], env=env, capture_output=True, text=True, timeout=60
        )
        assert step.returncode == 0, step.stderr
    assert steps_of(Run.objects.get(pod__name=POD, scenario="script"))[-1] == "compile"
