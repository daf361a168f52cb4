"""The admin's add-server page in a real browser (Debian's headless Chromium driven by
Playwright, as tests/e2e/test_run_page_browser.py): picking a type shows only that type's
connection fields, and a server added that way is saved with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from collectors.admin import CONNECTION_FIELDS, FIELDS_BY_TYPE
from collectors.models import BMCType, Pod, Server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


@pytest.fixture
def session_cookie(client: Client) -> str:
    user = get_user_model().objects.create_superuser("admin-b", "a@example.org", "x-Pass-123")
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def visible_fields(page: Any) -> set[str]:
    """The connection fields whose row, and the section holding it, are displayed."""
    return {
        name
        for name in CONNECTION_FIELDS
        if page.locator(f".form-row.field-{name}").first.is_visible()
    }


def test_the_add_form_shows_only_the_chosen_types_fields_and_saves(
    live_server: Any, session_cookie: str
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: scripts/system-packages.sh installs chromium")
    from playwright.sync_api import sync_playwright

    pod = Pod.objects.create(name="form pod")
    errors: list[str] = []
    seen: dict[str, set[str]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            context = browser.new_context()
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
            page.goto(f"{live_server.url}/admin/collectors/server/add/")
            page.wait_for_function("document.body.dataset.serverTypeFields === 'ready'")
            seen["(none)"] = visible_fields(page)
            for kind in BMCType.values:
                page.select_option("#id_bmc_type", kind)
                seen[kind] = visible_fields(page)
            # the last type is push: the BMC section went with its last field
            bmc_section_shown = page.locator("fieldset:has(.field-host)").is_visible()

            page.select_option("#id_bmc_type", BMCType.MODBUS)
            page.select_option("#id_pod", str(pod.pk))
            page.fill("#id_name", "meter 1")
            page.fill("#id_host", "127.0.0.1")
            page.fill("#id_port", "5020")
            page.fill(
                "#id_source_settings",
                '{"sensors": [{"name": "power", "unit": "W", "register_type": "MBF", '
                '"register_address": 10}]}',
            )
            page.click("input[name=_save]")
            page.wait_for_url("**/admin/collectors/server/")
        finally:
            browser.close()

    assert errors == []
    assert seen["(none)"] == set(CONNECTION_FIELDS)
    for kind in BMCType.values:
        assert seen[kind] == set(FIELDS_BY_TYPE[kind]), kind
    assert BMCType.values[-1] == BMCType.PUSH
    assert not bmc_section_shown
    server = Server.objects.get(name="meter 1")
    assert (server.bmc_type, server.host, server.port) == (BMCType.MODBUS, "127.0.0.1", 5020)
