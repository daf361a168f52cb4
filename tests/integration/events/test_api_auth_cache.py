"""A verified token or password is remembered for a few seconds, never in clear, and forgotten
when its user or token changes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from access.models import ApiToken
from access.tokens import digest, issue_token
from energylab.api import authentication
from energylab.api.authentication import credentials
from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.api.testing import PASSWORD

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/runs/"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def with_auth(header: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)
    return api


def queries(api: APIClient, path: str = RUNS) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(path).status_code == 200
    return len(captured.captured_queries)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(authentication.time, "monotonic", lambda: now[0])
    return now


def token_queries(api: APIClient) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(RUNS).status_code == 200
    return [q["sql"] for q in captured.captured_queries if "access_apitoken" in q["sql"]]


def test_a_token_is_read_from_the_database_once_within_the_cache_time(token: str) -> None:
    api = with_auth(f"Token {token}")
    assert token_queries(api)
    assert token_queries(api) == []


def test_a_password_is_hashed_once_within_the_cache_time(
    ci_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    check_password = User.check_password

    def counting(user: User, raw: str) -> bool:
        checked.append(raw)
        return check_password(user, raw)

    monkeypatch.setattr(User, "check_password", counting)
    api = with_auth(basic("ci", PASSWORD))
    for _ in range(3):
        assert api.get(RUNS).status_code == 200
    assert len(checked) == 1


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords Django's hasher checks, in order."""
    checked: list[str] = []
    check_password = User.check_password

    def counting(user: User, raw: str) -> bool:
        checked.append(raw)
        return check_password(user, raw)

    monkeypatch.setattr(User, "check_password", counting)
    return checked


def test_a_lapsed_password_is_not_hashed_again_while_its_stored_hash_is_unchanged(
    ci_user: User, hashed: list[str], clock: list[float], settings: Any
) -> None:
    settings.AUTH_CACHE_SECONDS = 5
    api = with_auth(basic("ci", PASSWORD))
    for _ in range(3):
        assert api.get(RUNS).status_code == 200
        clock[0] += 6  # past the cache time each time
    assert hashed == [PASSWORD]


def test_a_lapsed_password_changed_without_a_signal_is_hashed_again_and_refused(
    ci_user: User, hashed: list[str], clock: list[float], settings: Any
) -> None:
    # Another process's change (no signal reaches this one), or QuerySet.update.
    settings.AUTH_CACHE_SECONDS = 5
    api = with_auth(basic("ci", PASSWORD))
    assert api.get(RUNS).status_code == 200
    ci_user.set_password("a new password")
    User.objects.filter(pk=ci_user.pk).update(password=ci_user.password)
    clock[0] += 6
    assert api.get(RUNS).status_code == 401
    assert hashed == [PASSWORD, PASSWORD]


def test_a_lapsed_password_of_a_user_deactivated_without_a_signal_is_refused(
    ci_user: User, hashed: list[str], clock: list[float], settings: Any
) -> None:
    settings.AUTH_CACHE_SECONDS = 5
    api = with_auth(basic("ci", PASSWORD))
    assert api.get(RUNS).status_code == 200
    User.objects.filter(pk=ci_user.pk).update(is_active=False)
    clock[0] += 6
    assert api.get(RUNS).status_code == 401


def test_a_cached_password_stops_working_after_a_password_change(ci_user: User) -> None:
    old = with_auth(basic("ci", PASSWORD))
    assert old.get(RUNS).status_code == 200
    ci_user.set_password("a new password")
    ci_user.save()
    assert old.get(RUNS).status_code == 401
    assert with_auth(basic("ci", "a new password")).get(RUNS).status_code == 200


def test_a_deleted_token_stops_working_at_once(token: str) -> None:
    api = with_auth(f"Token {token}")
    assert api.get(RUNS).status_code == 200
    ApiToken.objects.filter(digest=digest(token)).delete()
    assert api.get(RUNS).status_code == 401


def test_a_deactivated_user_is_refused_at_once(ci_user: User, token: str) -> None:
    by_token, by_password = with_auth(f"Token {token}"), with_auth(basic("ci", PASSWORD))
    assert by_token.get(RUNS).status_code == by_password.get(RUNS).status_code == 200
    ci_user.is_active = False
    ci_user.save()
    assert by_token.get(RUNS).status_code == by_password.get(RUNS).status_code == 401


def test_a_wrong_password_is_never_remembered(ci_user: User) -> None:
    wrong = with_auth(basic("ci", "wrong"))
    assert [wrong.get(RUNS).status_code for _ in range(2)] == [401, 401]
    assert len(credentials) == 0


def test_the_cache_keeps_no_credential_in_clear(ci_user: User, token: str) -> None:
    with_auth(f"Token {token}").get(RUNS)
    with_auth(basic("ci", PASSWORD)).get(RUNS)
    kept = repr(credentials._entries).encode()
    assert len(credentials) == 2
    for secret in (token, PASSWORD, base64.b64encode(PASSWORD.encode()).decode()):
        assert secret.encode() not in kept


def test_a_change_that_sends_no_signal_is_seen_after_the_cache_time(
    ci_user: User, token: str, clock: list[float], settings: Any
) -> None:
    # What another process's change looks like to this one: no signal reaches it.
    settings.AUTH_CACHE_SECONDS = 5
    api = with_auth(f"Token {token}")
    assert api.get(RUNS).status_code == 200
    User.objects.filter(pk=ci_user.pk).update(is_active=False)
    clock[0] += 4.9
    assert api.get(RUNS).status_code == 200
    clock[0] += 0.2
    assert api.get(RUNS).status_code == 401


def test_a_cache_time_of_zero_checks_every_request(token: str, settings: Any) -> None:
    settings.AUTH_CACHE_SECONDS = 0
    api = with_auth(f"Token {token}")
    queries(api)  # the first also writes when the token was last used (once a minute)
    assert len(token_queries(api)) == len(token_queries(api)) >= 1
    assert len(credentials) == 0


def test_a_cached_user_brings_no_permission_from_an_earlier_request(
    operator: User, settings: Any
) -> None:
    token = issue_token(operator)[1]
    api = with_auth(f"Token {token}")
    assert api.get("/api/v1/servers/").status_code == 200
    operator.user_permissions.clear()  # no signal on the user: permissions are read per request
    assert api.get("/api/v1/servers/").status_code == 403
