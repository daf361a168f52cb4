"""`energylab report` (the SDK's CLI, on a CI host) against a live EnergyLab server, with the
samples in the real InfluxDB."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from access.tokens import issue_token
from collectors.models import BMCType, Pod, Server
from events.ingest.buffer import Sample
from events.ingest.writer import InfluxWriter
from events.models import Run, Step

pytestmark = pytest.mark.django_db(transaction=True)

POD = 'report pod, "ci" = ⚡'
SERVER = "node \\ 1"


@pytest.fixture
def token() -> str:
    return issue_token(User.objects.create_user("ci-reader"))[1]


@pytest.fixture
def pod() -> Pod:
    pod = Pod.objects.create(name=POD, poll_interval=1)
    Server.objects.create(pod=pod, name=SERVER, bmc_type=BMCType.PUSH)
    return pod


def recorded_run(
    pod: Pod, buffer, influx, start: dt.datetime, seconds: int = 20, watts: float = 200.0
) -> Run:
    """A run of two steps, with a sample every second from before it to after it."""
    end = start + dt.timedelta(seconds=seconds)
    run = Run.objects.create(pod=pod, scenario="nightly", started_at=start, ended_at=end)
    middle = start + dt.timedelta(seconds=seconds / 2)
    Step.objects.create(run=run, name="deploy, vm", started_at=start, ended_at=middle)
    Step.objects.create(run=run, name="test = all", started_at=middle, ended_at=end)
    first = int(start.timestamp()) - 2
    buffer.push(
        Sample(POD, SERVER, watts, (first + i) * 1_000_000_000, "test")
        for i in range(seconds + 5)
        if first + i <= time.time()
    )
    InfluxWriter(buffer, influx, delay=0).flush()
    return run


def ci_host(live_server, token: str | None) -> dict[str, str]:
    """A CI job's environment: this server, the pod, the token; nothing of the test's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ENERGYLAB_", "ENERGY_")) and k != "DJANGO_SETTINGS_MODULE"
    }
    env.update(ENERGYLAB_API_URL=live_server.url, ENERGYLAB_POD=POD)
    if token:
        env["ENERGYLAB_API_TOKEN"] = token
    return env


def energylab(live_server, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``energylab ARGS...`` run as a CI job would."""
    cli = shutil.which("energylab", path=os.path.dirname(sys.executable))
    assert cli, "the SDK's console script is not installed (make install)"
    return subprocess.run(
        [cli, *args], env=ci_host(live_server, token), capture_output=True, text=True, timeout=90
    )


def test_the_cli_prints_the_servers_report_of_a_run(
    live_server, token: str, pod: Pod, buffer, influx
) -> None:
    run = recorded_run(pod, buffer, influx, timezone.now() - dt.timedelta(minutes=10))
    done = energylab(live_server, token, "report", "--run", str(run.pk), "--format", "json")
    assert done.returncode == 0, done.stderr
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert json.loads(done.stdout) == api.get(f"/api/v1/runs/{run.pk}/energy/").json()
    assert json.loads(done.stdout)["final"] is True

    table = energylab(live_server, token, "report", "--run", str(run.pk))
    assert table.returncode == 0, table.stderr
    assert f"Run {run.pk}: nightly on {POD}" in table.stdout
    for name in ("deploy, vm", "test = all", SERVER, "TOTAL"):
        assert name in table.stdout
    assert table.stderr == ""


def test_the_last_runs_of_a_scenario_on_the_pod_are_compared(
    live_server, token: str, pod: Pod, buffer, influx
) -> None:
    older = recorded_run(pod, buffer, influx, timezone.now() - dt.timedelta(minutes=30))
    newer = recorded_run(
        pod, buffer, influx, timezone.now() - dt.timedelta(minutes=10), watts=300.0
    )
    done = energylab(
        live_server, token, "report", "--scenario", "nightly", "--last", "5", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert [r["run"]["id"] for r in payload["runs"]] == [older.pk, newer.pk]
    assert [r["run"]["id"] for r in payload["comparison"]["runs"]] == [older.pk, newer.pk]

    csv = energylab(
        live_server, token, "report", "--scenario", "nightly", "--last", "2", "--format", "csv"
    )
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines()[0].startswith("run,pod,scenario,step,server")
    assert {line.split(",")[0] for line in csv.stdout.splitlines()[1:]} == {
        str(older.pk),
        str(newer.pk),
    }


def test_a_run_that_just_ended_is_printed_once_its_last_samples_are_in(
    live_server, token: str, pod: Pod, buffer, influx, settings
) -> None:
    settings.CORRELATION_DELAY = 0.0  # the live server runs in this process, with these settings
    run = recorded_run(pod, buffer, influx, timezone.now() - dt.timedelta(seconds=20))
    started = time.monotonic()
    done = energylab(
        live_server, token, "report", "--run", str(run.pk), "--format", "json", "--wait", "30"
    )
    assert done.returncode == 0, done.stderr
    assert "waiting up to 30 s for its last samples" in done.stderr
    assert json.loads(done.stdout)["final"] is True
    assert time.monotonic() - started >= 1.0


def test_without_waiting_a_report_says_its_figures_may_still_change(
    live_server, token: str, pod: Pod, buffer, influx
) -> None:
    run = recorded_run(pod, buffer, influx, timezone.now() - dt.timedelta(seconds=20))
    done = energylab(live_server, token, "report", "--run", str(run.pk), "--wait", "0")
    assert done.returncode == 0, done.stderr
    assert "may not be in InfluxDB yet" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "999999"], "no run with id 999999"),
        (["--scenario", "never ran"], "no run of scenario 'never ran'"),
    ],
)
def test_what_cannot_be_reported_exits_1_with_the_servers_reason(
    live_server, token: str, pod: Pod, args: list[str], message: str
) -> None:
    done = energylab(live_server, token, "report", *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_reports_need_credentials(live_server, pod: Pod) -> None:
    done = energylab(live_server, None, "report", "--run", "1")
    assert done.returncode == 1
    assert "refused the credentials (HTTP 401)" in done.stderr


def test_record_with_report_prints_the_runs_report_after_the_command(
    live_server, token: str, pod: Pod, buffer, influx, settings
) -> None:
    settings.CORRELATION_DELAY = 0.0
    command = [sys.executable, "-c", "print('the job ran'); raise SystemExit(4)"]
    done = energylab(
        live_server, token, "record", "--scenario", "job, nightly", "--report", "--", *command
    )
    assert done.returncode == 4, done.stderr
    run = Run.objects.get(pod__name=POD, scenario="job, nightly")
    lines = done.stdout.splitlines()
    assert lines[0] == "the job ran"
    assert lines[1].startswith(f"Run {run.pk}: job, nightly on {POD}")
    assert "TOTAL" in done.stdout


def test_pytest_with_energylab_report_ends_with_the_runs_report(
    live_server, token: str, pod: Pod, buffer, influx, settings, tmp_path
) -> None:
    settings.CORRELATION_DELAY = 0.0
    (tmp_path / "test_suite.py").write_text("def test_one():\n    assert True\n")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:django", "-p", "no:cacheprovider"),
            *("--energylab-scenario", "unit tests", "--energylab-report", "test_suite.py"),
        ],
        cwd=tmp_path,
        env=ci_host(live_server, token),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    run = Run.objects.get(pod__name=POD, scenario="unit tests")
    assert "energylab" in done.stdout
    assert f"Run {run.pk}: unit tests on {POD}" in done.stdout
    assert "test_suite.py::test_one" in done.stdout
