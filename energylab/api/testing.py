"""pytest fixtures for API tests (imported by the API test modules of both apps)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from access.tokens import issue_token

PASSWORD = "correct horse battery staple"  # noqa: S105 - test users only


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def ci_user(db: None) -> User:
    """A user without any model permission: what CI's token belongs to."""
    return User.objects.create_user("ci", password=PASSWORD)


@pytest.fixture
def token(ci_user: User) -> str:
    return issue_token(ci_user)[1]


@pytest.fixture
def client(token: str) -> APIClient:
    """A client sending CI's token."""
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


@pytest.fixture
def operator(db: None) -> User:
    """A user with every permission on pods and servers."""
    user = User.objects.create_user("operator", password=PASSWORD)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="collectors", codename__regex="_(pod|server)$"
        )
    )
    return user


@pytest.fixture
def operator_client(operator: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(operator)
    return api


def ago(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
