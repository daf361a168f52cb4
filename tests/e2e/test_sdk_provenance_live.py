"""A run recorded by the SDK under GitHub Actions' variables, against a live server, shows its
commit, branch and job link in the API and on its page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import energylab_sdk as energy
import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client
from energylab_sdk import _api, _provenance

from access.tokens import issue_token

pytestmark = pytest.mark.django_db(transaction=True)

POD = "provenance pod"
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SHA": SHA,
    "GITHUB_REF_NAME": "main",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/lab",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_RUN_NUMBER": "99",
}
JOB = "https://github.com/acme/lab/actions/runs/4242"


@pytest.fixture(autouse=True)
def github_actions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (*_provenance.ENV_VARS.values(), *_provenance.CI_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    _provenance._forget_detected()
    _api._reset_state()
    yield
    energy.flush(5)
    energy.configure(url=None)
    _api._reset_state()
    _provenance._forget_detected()


def test_a_run_recorded_under_github_actions_shows_where_it_comes_from(
    live_server: Any, influxdb_database: str, buffer: Any
) -> None:
    user = User.objects.create_user("ci-bot")
    token = issue_token(user)[1]
    energy.configure(url=live_server.url, pod=POD, token=token, labels={"vnf": "vFW"})
    with energy.recording("smoke", step="boot"):
        pass
    assert energy.flush(5)

    headers = {"Authorization": f"Token {token}"}
    listed = requests.get(
        f"{live_server.url}/api/v1/runs/",
        params={"commit": SHA[:8], "branch": "main", "label": "vnf:vFW", "ci_system": "github"},
        headers=headers,
        timeout=10,
    ).json()["results"]
    assert [r["pod"] for r in listed] == [POD]
    run = requests.get(
        f"{live_server.url}/api/v1/runs/{listed[0]['id']}/", headers=headers, timeout=10
    ).json()
    assert (run["commit"], run["branch"], run["ci_url"], run["build"]) == (SHA, "main", JOB, "99")
    assert (run["ci_system"], run["labels"], run["source"]) == ("github", {"vnf": "vFW"}, "sdk")

    # Its samples stream over real HTTP (none were polled here: the header alone).
    samples = requests.get(
        f"{live_server.url}/api/v1/runs/{run['id']}/samples/?format=csv",
        headers=headers,
        timeout=10,
        stream=True,
    )
    assert samples.status_code == 200
    assert samples.headers["Content-Type"].startswith("text/csv")
    assert next(samples.iter_lines()).startswith(b"time,time_ns,server,sensor")

    browser = Client()
    browser.force_login(user)
    page = browser.get(f"/runs/{run['id']}/").content.decode()
    assert f'title="{SHA}"' in page
    assert '<code data-testid="branch">main</code>' in page
    assert f'<a href="{JOB}"' in page
    assert "github job #99" in page
    assert f"/api/v1/runs/{run['id']}/samples/?format=csv" in page
