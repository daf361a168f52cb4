"""Team tokens made by the command, used over HTTP against a live server (PostgreSQL, Redis):
a CI token of team A records on A's pod only, a dashboard token only reads, and a revoked
token is refused on its next request."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from collectors.models import Pod

pytestmark = pytest.mark.django_db(transaction=True)


def send(url: str, token: str, body: dict[str, Any] | None = None) -> int:
    request = urllib.request.Request(  # noqa: S310 - the live server on loopback
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def token(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip()


def test_team_tokens_over_http(live_server: Any) -> None:
    lab_b = Group.objects.create(name="lab-b")
    Pod.objects.create(name="pod-b", team=lab_b)
    ci = token("ci-a", "--create-user", "--team", "lab-a", "--scope", "events", "--expires", "1")
    Group.objects.get(name="lab-a").permissions.add(Permission.objects.get(codename="add_pod"))
    dashboard = token("ci-a", "--team", "lab-a", "--scope", "read")
    events, runs = f"{live_server.url}/api/v1/events/", f"{live_server.url}/api/v1/runs/"

    assert send(events, ci, {"type": "start", "pod": "pod-a", "scenario": "s"}) == 201
    assert Pod.objects.get(name="pod-a").team == Group.objects.get(name="lab-a")
    assert send(events, ci, {"type": "start", "pod": "pod-b", "scenario": "s"}) == 404
    assert send(runs, ci) == 403  # events only
    assert send(runs, dashboard) == 200
    assert send(events, dashboard, {"type": "stop", "pod": "pod-a"}) == 403

    call_command("create_api_token", "ci-a", "--revoke", ci[:10], stdout=StringIO())
    assert send(events, ci, {"type": "stop", "pod": "pod-a"}) == 401
