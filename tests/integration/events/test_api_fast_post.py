"""The events endpoint's fast path answers as DRF does, and leaves DRF every other request."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError
from rest_framework.test import APIClient
from rest_framework.views import APIView

from energylab.api.authentication import CachedTokenAuthentication
from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.api.testing import ago, rfc3339

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"
# Event times that are the same for both paths (the 409 answers quote them).
TEN_S_AGO, TWENTY_S_AGO = rfc3339(ago(10)), rfc3339(ago(20))
# Values that differ between two equal events: ids and times.
VARYING = re.compile(r'"(id|started_at|ended_at|received_at)":("[^"]*"|\d+)')


@pytest.fixture
def drf_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests DRF's dispatch handled (the fast path never enters it)."""
    calls: list[str] = []
    dispatch = APIView.dispatch

    def counted(self: APIView, request: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(request.method)
        return dispatch(self, request, *args, **kwargs)

    monkeypatch.setattr(APIView, "dispatch", counted)
    return calls


def answer(client: APIClient, body: Any, *, drf: bool, **extra: Any) -> tuple[int, str, dict]:
    """Status, body with ids and times blanked, and headers; ``drf`` sends it DRF's way (a query
    string is the fast path's to leave alone)."""
    response = client.post(URL + ("?via=drf" if drf else ""), body, format="json", **extra)
    text = VARYING.sub(r'"\1":"…"', response.content.decode())
    headers = {k: v for k, v in response.headers.items() if k not in ("Content-Length",)}
    return response.status_code, text, headers


def test_the_everyday_event_is_answered_without_drf_dispatch(
    client: APIClient, drf_calls: list[str]
) -> None:
    assert (
        client.post(URL, {"type": "start", "pod": "p", "scenario": "s"}, format="json").status_code
        == 201
    )
    assert (
        client.post(URL, {"type": "step", "pod": "p", "step": "b"}, format="json").status_code
        == 200
    )
    assert client.post(URL, {"type": "stop", "pod": "p"}, format="json").status_code == 200
    assert drf_calls == []


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([{"type": "start", "pod": "P", "scenario": "s", "step": "a"}], id="start"),
        pytest.param(
            [
                {"type": "start", "pod": "P", "scenario": "s"},
                {"type": "step", "pod": "P", "step": "b"},
            ],
            id="step",
        ),
        pytest.param(
            [{"type": "start", "pod": "P", "scenario": "s"}, {"type": "stop", "pod": "P"}],
            id="stop",
        ),
        pytest.param([{"type": "step", "pod": "P", "step": "b"}], id="step-no-run"),
        pytest.param([{"type": "stop", "pod": "P"}], id="stop-no-run"),
        pytest.param(
            [
                {"type": "start", "pod": "P", "scenario": "s"},
                {"type": "start", "pod": "P", "scenario": "t"},
            ],
            id="start-over-running",
        ),
        pytest.param(
            [
                {"type": "start", "pod": "P", "scenario": "s", "at": TEN_S_AGO},
                {"type": "start", "pod": "P", "scenario": "t", "at": TWENTY_S_AGO},
            ],
            id="start-before-the-running-run",
        ),
        pytest.param(
            [
                {"type": "start", "pod": "P", "scenario": "s", "at": TWENTY_S_AGO},
                {"type": "stop", "pod": "P", "at": TEN_S_AGO},
                {"type": "start", "pod": "P", "scenario": "t", "at": TWENTY_S_AGO},
            ],
            id="start-before-the-last-run-ended",
        ),
    ],
)
def test_fast_and_drf_answers_are_the_same(
    client: APIClient, events: list[dict[str, Any]], drf_calls: list[str]
) -> None:
    answers = {}
    for drf, pod in ((False, "fast pod"), (True, "drf pod")):
        for event in events:
            last = answer(client, {**event, "pod": pod}, drf=drf)
        answers[drf] = (last[0], last[1].replace(pod, "P"), last[2])
    assert answers[False] == answers[True]
    assert len(drf_calls) == len(events)  # only the ?via=drf ones


@pytest.mark.parametrize(
    "case",
    [
        pytest.param({"body": "{not json", "code": 400}, id="malformed JSON"),
        pytest.param({"body": {"type": "step", "pod": "p"}, "code": 400}, id="missing field"),
        pytest.param({"body": {"type": "jump", "pod": "p"}, "code": 400}, id="unknown type"),
        pytest.param(
            {"body": {"type": "step", "pod": "p\n", "step": "s"}, "code": 400},
            id="control character",
        ),
        pytest.param({"body": [1, 2], "code": 400}, id="not an object"),
        pytest.param({"token": "wrong", "code": 401}, id="unknown token"),
        pytest.param({"token": None, "code": 401}, id="no credentials"),
        pytest.param({"accept": "text/html", "code": 201}, id="a browser's Accept"),
        pytest.param({"accept": "application/xml", "code": 406}, id="an Accept no renderer has"),
        pytest.param(
            {"accept": "application/json; indent=4", "code": 201}, id="an Accept with parameters"
        ),
        pytest.param({"body": "", "code": 400}, id="an empty body"),
        pytest.param(
            {"body": '{"type": "start", "pod": "p", "scenario": "s"}', "charset": "latin-1"},
            id="a charset other than utf-8",
        ),
    ],
)
def test_every_other_request_is_drfs_to_answer(
    client: APIClient, token: str, case: dict[str, Any], drf_calls: list[str]
) -> None:
    body = case.get("body", {"type": "start", "pod": "p", "scenario": "s"})
    extra: dict[str, Any] = {}
    if "accept" in case:
        extra["HTTP_ACCEPT"] = case["accept"]
    if "token" in case:
        client.credentials(
            **({"HTTP_AUTHORIZATION": f"Token {case['token']}"} if case["token"] else {})
        )
    if isinstance(body, str):
        content_type = "application/json"
        if "charset" in case:
            content_type += f"; charset={case['charset']}"
        response = client.generic("POST", URL, body, content_type=content_type, **extra)
    else:
        response = client.post(URL, body, format="json", **extra)
    assert drf_calls == ["POST"]
    assert response.status_code == case.get("code", 201)


def test_basic_credentials_take_the_fast_path(ci_user: User, drf_calls: list[str]) -> None:
    ci_user.set_password("pw")
    ci_user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"ci:pw").decode())
    response = client.post(URL, {"type": "start", "pod": "p", "scenario": "s"}, format="json")
    assert response.status_code == 201
    assert drf_calls == []


def test_a_session_client_goes_the_drf_way_with_its_csrf_check(
    ci_user: User, drf_calls: list[str]
) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(ci_user)
    response = client.post(URL, {"type": "start", "pod": "p", "scenario": "s"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert drf_calls == ["POST"]


def test_a_throttled_client_is_refused_once_and_counted_once(
    client: APIClient, settings: Any, drf_calls: list[str]
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"events": "2/min", "measurements": "60/min"},
    }
    start = {"type": "start", "pod": "p", "scenario": "s"}
    codes = [client.post(URL, start, format="json").status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert drf_calls == ["POST"]  # the refused one, answered by DRF with its Retry-After


def test_a_database_failure_before_the_event_is_answered_as_drf_answers_it(
    client: APIClient, monkeypatch: pytest.MonkeyPatch, drf_calls: list[str]
) -> None:
    def down(self: Any, key: str) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(CachedTokenAuthentication, "authenticate_credentials", down)
    response = client.post(URL, {"type": "start", "pod": "p", "scenario": "s"}, format="json")
    assert response.status_code == 503
    assert "database" in response.json()["detail"]
    assert drf_calls == ["POST"]


def test_a_service_failure_after_the_throttle_is_answered_by_the_fast_path(
    client: APIClient, drf_calls: list[str]
) -> None:
    response = client.post(URL, {"type": "step", "pod": "nowhere", "step": "s"}, format="json")
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
    assert drf_calls == []
