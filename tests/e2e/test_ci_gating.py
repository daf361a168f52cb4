"""CI gating end to end: ten recorded runs of a scenario, the last five with a step that draws
more; the server's comparison and `energylab report --compare-to ... --fail-on-regression`
flag the step when it draws 10 % more, and neither does at 1 %.

The runs are recorded by pushing samples with explicit past times through the real buffer,
writer and InfluxDB (no waiting for ten real runs)."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from lxml import etree
from rest_framework.test import APIClient

from access.tokens import issue_token
from collectors.models import BMCType, Pod, Server
from events.ingest.buffer import Sample
from events.ingest.writer import InfluxWriter
from events.models import Run, Step

pytestmark = pytest.mark.django_db(transaction=True)

POD = "gating pod ⚡"
SERVER = "node 1"
SCENARIO = "nightly"
# (step, seconds): the regressed step is a third of the run, so the whole run moves less.
STEPS = [("deploy", 20), ("test | all", 10)]
WATTS = 200.0
CHROMIUM = Path("/usr/bin/chromium")
JUNIT_SCHEMA = etree.XMLSchema(
    etree.parse(Path(__file__).parents[2] / "sdk" / "tests" / "junit" / "JUnit.xsd")
)


def record_runs(buffer, influx, pod: Pod, factor: float) -> list[Run]:
    """Ten runs one minute apart, an hour ago; the last five's second step draws ``factor``
    times the power. Each run's steps vary by about 1 % (a real lab's noise)."""
    noise = random.Random(20)
    origin = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    runs, samples = [], []
    for index in range(10):
        start = origin + dt.timedelta(minutes=index)
        run = Run.objects.create(
            pod=pod,
            scenario=SCENARIO,
            started_at=start,
            ended_at=start + dt.timedelta(seconds=sum(s for _, s in STEPS)),
            branch="main" if index < 5 else "feature",
        )
        at = start
        for position, (name, seconds) in enumerate(STEPS):
            Step.objects.create(
                run=run, name=name, started_at=at, ended_at=at + dt.timedelta(seconds=seconds)
            )
            level = WATTS * noise.gauss(1.0, 0.01)
            if position == 1 and index >= 5:
                level *= factor
            first = int(at.timestamp()) - (5 if position == 0 else 0)
            last = int(at.timestamp()) + seconds + (5 if position else 0)
            samples += [
                Sample(POD, SERVER, level + noise.gauss(0, 1), t * 1_000_000_000, "test")
                for t in range(first, last)
            ]
            at += dt.timedelta(seconds=seconds)
        runs.append(run)
    buffer.push(samples)
    InfluxWriter(buffer, influx, delay=0).flush()
    return runs


@pytest.fixture
def token() -> str:
    return issue_token(User.objects.create_user("ci"))[1]


@pytest.fixture
def pod() -> Pod:
    pod = Pod.objects.create(name=POD, poll_interval=1)
    Server.objects.create(pod=pod, name=SERVER, bmc_type=BMCType.PUSH)
    return pod


def energylab(live_server, token: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``energylab ARGS...`` as a CI job runs it."""
    cli = shutil.which("energylab", path=os.path.dirname(sys.executable))
    assert cli, "the SDK's console script is not installed (make install)"
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ENERGYLAB_", "ENERGY_", "GITHUB_")) and k != "DJANGO_SETTINGS_MODULE"
    }
    environment.update(
        ENERGYLAB_API_URL=live_server.url, ENERGYLAB_POD=POD, ENERGYLAB_API_TOKEN=token, **env
    )
    return subprocess.run([cli, *args], env=environment, capture_output=True, text=True, timeout=90)


def in_chromium(live_server, browser: Client, query: str) -> str:
    """The comparison page in Debian's headless Chromium: the regressed step's result cell."""
    from playwright.sync_api import sync_playwright

    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"], headless=True
        )
        try:
            context = chromium.new_context()
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            response = page.goto(f"{live_server.url}/runs/compare/?{query}")
            assert response is not None
            assert response.status == 200
            row = page.locator("#comparison tr.regression")
            assert row.count() == 1
            assert errors == []
            return row.locator("td").last.inner_text()
        finally:
            chromium.close()


@pytest.mark.parametrize(("factor", "flagged"), [(1.10, True), (1.01, False)])
def test_a_step_drawing_ten_percent_more_fails_ci_and_one_percent_does_not(
    live_server, token: str, pod: Pod, buffer, influx, tmp_path, factor: float, flagged: bool
) -> None:
    runs = record_runs(buffer, influx, pod, factor)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    answer = api.get(
        "/api/v1/energy/change/",
        {"pod": POD, "scenario": SCENARIO, "a": "branch:main", "b": "branch:feature"},
    )
    assert answer.status_code == 200, answer.content
    change = answer.json()
    step = change["steps"][1]
    assert step["name"] == "test | all"
    assert (len(change["a"]["runs"]), len(change["b"]["runs"])) == (5, 5)
    assert change["regressions"] == (["test | all"] if flagged else [])
    if flagged:
        assert step["energy_j"]["significant"] is True
        assert step["energy_j"]["ci_low"] > 0
        assert 7 < step["energy_j"]["difference_pct"] < 13

    browser = Client()
    browser.force_login(User.objects.get(username="ci"))
    page = browser.get(
        "/runs/compare/", {"pod": POD, "scenario": SCENARIO, "a": "branch:main", "b": "last:5"}
    )
    assert page.status_code == 200
    regressed = 'data-step="test | all" class="regression"' in page.content.decode()
    assert regressed is flagged
    if flagged and CHROMIUM.exists():  # scripts/system-packages.sh installs it
        assert in_chromium(live_server, browser, page.request["QUERY_STRING"]) == "regression"

    summary = tmp_path / "summary.md"
    gate = (
        "report", "--scenario", SCENARIO, "--last", "5", "--compare-to", "last:5",
        "--fail-on-regression", "--wait", "0",
    )  # fmt: skip
    done = energylab(live_server, token, *gate, "--format", "junit")
    assert done.returncode == (4 if flagged else 0), done.stderr
    suite = etree.fromstring(done.stdout.encode())
    JUNIT_SCHEMA.assertValid(suite)
    failed = [
        case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None
    ]
    assert failed == (["test | all"] if flagged else [])
    if flagged:
        assert "test | all: regression" in done.stderr

    # A CI job's one run against its branch's history: the prediction interval's test.
    one = energylab(
        live_server, token, "report", "--run", str(runs[-1].pk), "--compare-to", "main",
        "--fail-on-regression", "--wait", "0", "--format", "json",
    )  # fmt: skip
    assert one.returncode == (4 if flagged else 0), one.stderr

    shown = energylab(
        live_server, token, *gate, "--format", "markdown", GITHUB_STEP_SUMMARY=str(summary)
    )
    assert shown.returncode == (4 if flagged else 0), shown.stderr
    assert "| test \\| all |" in summary.read_text()
    assert summary.read_text() == shown.stdout + "\n"
