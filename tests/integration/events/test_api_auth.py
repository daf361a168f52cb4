"""Who may send events and read runs: tokens, basic auth, the anonymous-events switch, rates."""

from __future__ import annotations

import base64
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from access.models import ApiToken
from access.tokens import digest
from collectors.models import Pod
from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.api.testing import PASSWORD
from events.models import Run

pytestmark = pytest.mark.django_db

START = {"type": "start", "pod": "p", "scenario": "s"}

# (method, path, body): every path that records events, native and legacy.
BAD_POWER = {"environment": "p", "power": "x"}
EVENT_PATHS = [
    ("post", "/api/v1/events/", START),
    ("post", "/api/v1/runs/", {"pod": "p", "scenario": "s"}),
    ("post", "/resources/recorders/environment/p", {"scenario": "s", "step": "t"}),
    ("post", "/resources/recorders/environment/p/step", {"step": "t"}),
    ("get", "/resources/recorders/environment/p", None),
    ("delete", "/resources/recorders/environment/p", None),
    ("post", "/resources/equipments/n/measurements", {"environment": "p", "measurements": []}),
    ("post", "/resources/servers/n/consumption", BAD_POWER),
]
READ_PATHS = ["/api/v1/runs/", "/api/v1/runs/1/", "/api/v1/runs/1/steps/", "/api/v1/pods/"]


def call(client: APIClient, method: str, path: str, body: Any) -> Any:
    return getattr(client, method)(path, body, format="json")


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.parametrize(("method", "path", "body"), EVENT_PATHS)
def test_events_need_credentials(anonymous: APIClient, method: str, path: str, body: Any) -> None:
    answer = call(anonymous, method, path, body)
    assert answer.status_code == 401
    assert "detail" in answer.json()
    assert answer["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "path", "body"), EVENT_PATHS)
def test_anonymous_events_can_be_allowed(
    anonymous: APIClient, settings: Any, method: str, path: str, body: Any
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    Pod.objects.create(name="p", accepts_anonymous_events=True)
    # Past authentication: a 2xx, or a 4xx about the request (no run, bad power), never 401/403.
    assert call(anonymous, method, path, body).status_code not in {401, 403}


@pytest.mark.parametrize(("method", "path", "body"), [p for p in EVENT_PATHS if p[2] != BAD_POWER])
def test_anonymous_events_reach_only_pods_marked_to_accept_them(
    anonymous: APIClient, settings: Any, method: str, path: str, body: Any
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    Pod.objects.create(name="p")  # not marked; and an unknown pod is never created by them
    assert call(anonymous, method, path, body).status_code == 401


@pytest.mark.parametrize("path", READ_PATHS)
def test_reads_need_credentials_even_with_anonymous_events(
    anonymous: APIClient, settings: Any, path: str
) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    assert anonymous.get(path).status_code == 401


def test_a_token_authenticates(token: str) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.post("/api/v1/events/", START, format="json").status_code == 201


def test_a_wrong_token_is_401(anonymous: APIClient) -> None:
    anonymous.credentials(HTTP_AUTHORIZATION="Token nope")
    assert anonymous.post("/api/v1/events/", START, format="json").status_code == 401


def test_basic_auth_authenticates_native_and_legacy_paths(ci_user: User) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=basic("ci", PASSWORD))
    assert api.post("/api/v1/events/", START, format="json").status_code == 201
    legacy = api.post(
        "/resources/recorders/environment/p", {"scenario": "s", "step": "t"}, format="json"
    )
    assert legacy.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=basic("ci", "wrong"))
    assert api.get("/api/v1/runs/").status_code == 401


def test_the_source_of_an_authenticated_sdk_run(client: APIClient) -> None:
    client.post("/api/v1/events/", START, format="json", HTTP_X_ENERGYLAB_SOURCE="sdk")
    assert Run.objects.get().source == "sdk"


def test_events_are_throttled_with_429(client: APIClient, settings: Any) -> None:
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "events": "3/min", "measurements": "1/min"},
    }
    answers = [client.post("/api/v1/events/", START, format="json") for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert "throttled" in answers[-1].json()["detail"]
    assert int(answers[-1]["Retry-After"]) > 0
    # Reads have their own limit (none by default); measurements have their own bucket.
    assert client.get("/api/v1/runs/").status_code == 200
    body = {"environment": "p", "measurements": []}
    url = "/resources/equipments/n/measurements"
    first = client.post(url, body, format="json")
    second = client.post(url, body, format="json")
    assert (first.status_code, second.status_code) == (200, 429)


def test_create_api_token_makes_a_new_token_each_time_and_keeps_only_its_hash(
    ci_user: User,
) -> None:
    out = StringIO()
    call_command("create_api_token", "ci", stdout=out)
    call_command("create_api_token", "ci", stdout=out)
    first, second = out.getvalue().split()
    assert first != second
    kept = {t.digest for t in ApiToken.objects.filter(user=ci_user)}
    assert kept == {digest(first), digest(second)}
    assert not ApiToken.objects.filter(digest__in=[first, second]).exists()


def test_create_api_token_needs_an_existing_user_unless_told() -> None:
    with pytest.raises(CommandError, match="no user 'robot'"):
        call_command("create_api_token", "robot")
    out = StringIO()
    call_command("create_api_token", "robot", "--create-user", stdout=out)
    user = User.objects.get(username="robot")
    assert digest(out.getvalue().strip()) == ApiToken.objects.get(user=user).digest
    assert not user.has_usable_password()


@pytest.mark.parametrize(
    ("username", "message"),
    [("", "cannot be blank"), ("x" * 300, "at most 150"), ("ci\nbot", "Enter a valid username")],
)
def test_create_api_token_refuses_a_bad_new_user_name_with_a_message(
    username: str, message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", username, "--create-user")
    assert not User.objects.exists()
