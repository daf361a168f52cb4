"""The scenario page and a running run's page in a real browser (Debian's headless Chromium,
driven by Playwright, as tests/e2e/test_run_page_browser.py does): the history chart draws
every stored run with its commit, and a running run's page reloads itself until it ends."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from collectors.models import Pod
from events import services
from tests.e2e.test_run_page_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.integration.events.test_history_pages import recorded

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
ARTIFACT = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "scenario-page.png"


@pytest.fixture
def session_cookie(client: Client) -> str:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: scripts/system-packages.sh installs chromium")
    user = get_user_model().objects.create_superuser("history", "h@example.org", "x-Pass-123")
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@contextlib.contextmanager
def browser_page(live_server: Any, cookie: str) -> Iterator[tuple[Any, list[str]]]:
    """A logged-in Chromium page on the live server, collecting script errors and failed
    requests in the list yielded beside it. Playwright runs an event loop in this thread: the database
    is for other threads while it is open (Django refuses queries from an async context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
            )
            tab = context.new_page()
            tab.set_default_timeout(20_000)
            problems: list[str] = []
            tab.on("pageerror", lambda exc: problems.append(str(exc)))
            tab.on(
                "console",
                lambda msg: problems.append(msg.text) if msg.type == "error" else None,
            )
            tab.on(
                "response",
                lambda resp: (
                    problems.append(f"{resp.url}: {resp.status}")
                    if resp.status >= 400 and urlsplit(resp.url).path != "/favicon.ico"
                    else None
                ),
            )
            yield tab, problems
        finally:
            browser.close()


def test_the_scenario_page_draws_the_history_of_stored_runs(
    live_server: Any, session_cookie: str
) -> None:
    for day, (boot, load) in enumerate([(1000, 2000), (1100, 2300), (950, 2100), (1020, 2050)]):
        recorded("lab", "smoke", T0 + dt.timedelta(days=day), [boot, load], commit=f"c{day}" * 20)
    recorded("other lab", "smoke", T0, [3000.0, 3000.0], idle_w=200.0)
    query = urlencode({"pod": "lab", "scenario": "smoke"})
    with browser_page(live_server, session_cookie) as (page, problems):
        response = page.goto(f"{live_server.url}/runs/scenario/?{query}")
        assert response is not None
        assert response.status == 200
        page.wait_for_function("document.body.dataset.chartsReady === 'true'")
        drawn = page.evaluate("window.energylabScenarioCharts")
        across = page.locator("[data-testid=across-pods]").inner_text()
        page.screenshot(path=str(ARTIFACT), full_page=True)
    assert drawn["history"]["runs"] == 4
    assert drawn["history"]["datasets"] == 3  # the total and two steps
    assert drawn["history"]["labels"] == ["c0c0c0c0", "c1c1c1c1", "c2c2c2c2", "c3c3c3c3"]
    assert drawn["pods"]["bars"] == 2
    assert "other lab" in across
    assert problems == []


def test_a_running_run_page_reloads_itself_until_the_run_ends(
    live_server: Any, session_cookie: str, influx: Any
) -> None:
    Pod.objects.create(name="live lab", poll_interval=1)  # reloads every 2 s
    started = services.start_run("live lab", "soak", "warm up")
    loads: list[str] = []
    with browser_page(live_server, session_cookie) as (page, problems):
        response = page.goto(f"{live_server.url}/runs/{started.run.id}/")
        assert response is not None
        assert response.status == 200
        assert page.locator("[data-testid=refreshing]").count() == 1
        page.on("load", lambda: loads.append(page.url))
        with ThreadPoolExecutor(1) as pool:  # the database from a thread of its own
            pool.submit(_stop, "live lab").result()
        # The next reload shows the ended run, which reloads no more.
        page.wait_for_selector("[data-testid=refreshing]", state="detached", timeout=15_000)
        meta = page.locator("p.meta").first.inner_text()
    assert loads
    assert "running" not in meta
    assert problems == []


def _stop(pod: str) -> None:
    try:
        services.stop_run(pod)
    finally:
        connection.close()
