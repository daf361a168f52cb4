"""The web pages of runs, as a logged-in user sees them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client

from events import services

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def browser(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("viewer"))
    return client


def test_the_run_list_filters_by_pod_and_scenario(browser: Client) -> None:
    services.start_run("p", "s", None, T0)
    services.start_run("q", "s", None, T0)
    page = browser.get("/runs/", {"pod": "p", "scenario": "s"})
    assert page.status_code == 200
    assert [run.pod.name for run in page.context["page"]] == ["p"]


def test_the_run_list_filters_by_branch_and_shows_commits(browser: Client) -> None:
    services.start_run("p", "s", None, T0, provenance={"branch": "main", "commit": "a" * 40})
    services.start_run("q", "s", None, T0, provenance={"branch": "other"})
    page = browser.get("/runs/", {"branch": "main"})
    assert [run.pod.name for run in page.context["page"]] == ["p"]
    assert f'title="{"a" * 40}"' in page.content.decode()


@pytest.mark.parametrize("param", ["pod", "scenario", "branch"])
@pytest.mark.parametrize("value", ["\x00", "a\nb"])
def test_a_filter_no_name_can_match_is_an_explained_empty_list(
    browser: Client, param: str, value: str
) -> None:
    services.start_run("p", "s", None, T0)
    page = browser.get("/runs/", {param: value})
    assert page.status_code == 400
    assert list(page.context["page"]) == []
    assert f"the {param} filter holds a control character" in page.content.decode()
