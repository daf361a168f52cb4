"""``Authorization: Token <key>`` of hashed, scoped, expiring tokens; and basic auth with the
same grants. Both cache what they verified per process (``energylab.api.authentication``),
dropped in every process when access changes (``access.version``)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.authentication import TokenScheme
from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed

from access import tokens, version
from access.grants import grant_of_user
from access.models import ApiToken
from energylab.api.authentication import CachedBasicAuthentication, credentials
from energylab.api.permissions import Grant

#: seconds between two writes of a token's last use (per process; a conditional UPDATE)
LAST_USED_EVERY_S = 60.0
_last_written: dict[int, float] = {}
_written_lock = threading.Lock()


def _forget_writes() -> None:
    # A change of tokens starts afresh (SQLite reuses the ids of deleted rows).
    with _written_lock:
        _last_written.clear()


version.on_change(_forget_writes)


def note_use(token_id: int) -> None:
    """Record that the token was used, at most once a minute per process and in the database:
    a request costs no write."""
    now = time.monotonic()
    with _written_lock:
        if now - _last_written.get(token_id, -LAST_USED_EVERY_S) < LAST_USED_EVERY_S:
            return
        _last_written[token_id] = now
    moment = timezone.now()
    stale = moment - dt.timedelta(seconds=LAST_USED_EVERY_S)
    ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)).filter(
        pk=token_id
    ).update(last_used_at=moment)


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``: a valid (neither expired nor revoked) token of an active
    user; ``request.auth`` is its :class:`Grant`."""

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, Grant]:
        version.sync()
        cache_key = credentials.key("token", key)
        found = credentials.lookup(cache_key)
        if found is not None:
            user, grant = found
            note_use(grant.token_id)
            return user, grant
        token = ApiToken.objects.select_related("user").filter(digest=tokens.digest(key)).first()
        if token is None or not token.is_valid():
            raise AuthenticationFailed("Invalid token.")
        user = token.user
        if not user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        grant = grant_of_user(user, token)
        valid_for = None
        if token.expires_at is not None:
            valid_for = (token.expires_at - timezone.now()).total_seconds()
        credentials.put(cache_key, user, grant, valid_for)
        note_use(token.pk)
        return user, grant


class ApiTokenScheme(TokenScheme):
    target_class = "access.authentication.ApiTokenAuthentication"


class BasicAuthentication(CachedBasicAuthentication):
    """HTTP basic auth of a Django user; ``request.auth`` is the user's :class:`Grant`."""

    def refresh(self) -> None:
        version.sync()

    def auth_for(self, user: Any) -> Grant:
        return grant_of_user(user)
