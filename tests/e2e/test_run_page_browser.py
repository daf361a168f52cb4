"""The run page in a real browser: Debian's headless Chromium, driven by Playwright, draws the
charts of a run written through the real writer, with no script error and no request leaving
the live server. The screenshot is kept at ``var/test-artifacts/run-page.png`` for people."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from influxdb import InfluxDBClient

from collectors.models import BMCType, Pod, Server
from collectors.simulators.profile import PowerProfile
from events.ingest.buffer import Sample, SampleBuffer
from events.ingest.writer import InfluxWriter
from events.models import Run, Step

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Nothing is excused: the page links its own icon (base.html), so Chromium does not ask for
# /favicon.ico, and every request of the page must succeed.
BROWSER_OWN: set[str] = set()
ARTIFACT = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "run-page.png"

EPOCH = dt.datetime(2026, 11, 22, 14, 0, 0, tzinfo=dt.UTC)
POD = 'browser pod, "b" = ✓'
SERVERS = ["alpha node", "béta\\2", "gamma"]
STEPS = [("boot", 0, 20), ("load, heavy", 20, 50), ("cool=down", 50, 70)]
PROFILE = [(20, 180), (30, 420), (20, 210)]


@pytest.fixture
def run(buffer: SampleBuffer, influx: InfluxDBClient) -> Run:
    pod = Pod.objects.create(name=POD, poll_interval=1)
    for name in SERVERS:
        Server.objects.create(pod=pod, name=name, bmc_type=BMCType.PUSH)
    run = Run.objects.create(pod=pod, scenario="browser s1", started_at=EPOCH, ended_at=at(70))
    for name, a, b in STEPS:
        Step.objects.create(run=run, name=name, started_at=at(a), ended_at=at(b))
    samples = []
    for index, server in enumerate(SERVERS):
        profile = PowerProfile(
            [(s, w + 25 * index) for s, w in PROFILE],
            refresh=1,
            noise=5,
            seed=index,
            epoch=EPOCH.timestamp(),
        )
        t = -10 + 0.37 + index * 0.11
        while t <= 80:
            moment = EPOCH.timestamp() + t
            samples.append(
                Sample(POD, server, profile.watts_at(moment), int(moment * 1e6) * 1000, "test")
            )
            t += 1.0
    buffer.push(samples)
    stats = InfluxWriter(buffer, influx, delay=0).flush()
    assert stats.error is None
    assert stats.samples == len(samples)
    return run


def at(seconds: float) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


@pytest.fixture
def session_cookie(client: Client) -> str:
    user = get_user_model().objects.create_superuser("browser", "b@example.org", "x-Pass-123")
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_the_run_page_draws_its_charts_in_a_real_browser(
    run: Run, live_server: Any, session_cookie: str
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: scripts/system-packages.sh installs chromium")
    from playwright.sync_api import sync_playwright

    origin = urlsplit(live_server.url)
    errors: list[str] = []
    failed: list[str] = []
    foreign: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": session_cookie,
                        "url": live_server.url,
                    }
                ]
            )
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: (
                    errors.append(f"{msg.text} ({msg.location.get('url')})")
                    if msg.type == "error"
                    and urlsplit(msg.location.get("url", "")).path not in BROWSER_OWN
                    else None
                ),
            )
            page.on("requestfailed", lambda req: failed.append(f"{req.url}: {req.failure}"))
            page.on(
                "response",
                lambda resp: (
                    failed.append(f"{resp.url}: {resp.status}")
                    if resp.status >= 400 and urlsplit(resp.url).path not in BROWSER_OWN
                    else None
                ),
            )
            page.on(
                "request",
                lambda req: (
                    foreign.append(req.url) if urlsplit(req.url).netloc != origin.netloc else None
                ),
            )
            response = page.goto(f"{live_server.url}/runs/{run.pk}/")
            assert response is not None
            assert response.status == 200
            assert urlsplit(page.url).path == f"/runs/{run.pk}/"  # not sent to the login page
            page.wait_for_function("document.body.dataset.chartsReady === 'true'")
            drawn = page.evaluate("window.energylabCharts")
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACT), full_page=True)
            table = page.locator("table.report").inner_text()
        finally:
            browser.close()

    assert drawn["power"]["datasets"] == len(SERVERS)
    assert drawn["power"]["points"] >= 60 * len(SERVERS)
    assert drawn["energy"]["bars"] == len(STEPS)
    for name in [*SERVERS, *(n for n, _a, _b in STEPS)]:
        assert name in table
    assert errors == []
    assert failed == []
    assert foreign == []
    assert ARTIFACT.stat().st_size > 10_000
