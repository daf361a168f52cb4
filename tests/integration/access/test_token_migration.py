"""Tokens from before hashed tokens keep working: migration access 0002 hashes them."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from access.models import ApiToken
from access.tokens import digest

pytestmark = pytest.mark.django_db

migration = importlib.import_module("access.migrations.0002_hash_existing_tokens")


def test_an_old_clear_token_becomes_a_hashed_one_that_still_works() -> None:
    old = Token.objects.create(user=User.objects.create_user("old-ci")).key
    migration.hash_tokens(apps, None)
    assert not Token.objects.exists()
    assert ApiToken.objects.get(digest=digest(old)).scope == "all"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert api.get("/api/v1/runs/").status_code == 200
