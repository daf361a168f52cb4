"""Tokens made and revoked in the admin: the key is shown once, only its hash is kept."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from access.models import ApiToken, AuditEntry
from access.tokens import digest

pytestmark = pytest.mark.django_db


def test_a_token_made_in_the_admin_is_shown_once_and_kept_hashed(admin_client: Client) -> None:
    ci = User.objects.create_user("ci")
    answer = admin_client.post(
        "/admin/access/apitoken/add/",
        {"user": ci.pk, "name": "nightly", "scope": "events", "expires_in_days": "30"},
        follow=True,
    )
    assert answer.status_code == 200
    key = re.search(r"elt_[A-Za-z0-9_-]{43}", answer.content.decode())
    assert key is not None
    token = ApiToken.objects.get(name="nightly")
    assert token.digest == digest(key.group())
    assert token.expires_at is not None
    assert key.group() not in str(list(ApiToken.objects.values()))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key.group()}")
    assert (
        api.post(
            "/api/v1/events/", {"type": "start", "pod": "p", "scenario": "s"}, format="json"
        ).status_code
        == 201
    )

    admin_client.post(
        "/admin/access/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert (
        api.post("/api/v1/events/", {"type": "stop", "pod": "p"}, format="json").status_code == 401
    )
    assert list(
        AuditEntry.objects.filter(target__startswith="nightly")
        .values_list("action", flat=True)
        .order_by("id")
    ) == ["token.create", "token.revoke"]
