"""Making API tokens: a random key shown once, its SHA-256 kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from access import audit
from access.models import ApiToken, AuditAction, TokenScope

#: every key starts with it: secret scanners (and people) recognise a leaked one
KEY_PREFIX = "elt_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def set_key(token: ApiToken, key: str) -> None:
    """Give an unsaved token this key: its digest and prefix (never the key itself)."""
    token.digest = digest(key)
    token.prefix = key[: len(KEY_PREFIX) + 6]


def record_creation(token: ApiToken, actor: audit.Actor, pods: Iterable[Any]) -> None:
    audit.record(
        actor,
        AuditAction.TOKEN_CREATE,
        target=str(token),
        detail={
            "user": token.user.get_username(),
            "scope": token.scope,
            "team": token.team.name if token.team is not None else None,
            "pods": sorted(pod.name for pod in pods),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        },
    )


def issue_token(
    user: Any,
    name: str = "",
    *,
    scope: str = TokenScope.ALL,
    team: Any = None,
    pods: Iterable[Any] = (),
    expires_in: dt.timedelta | None = None,
    actor: audit.Actor | None = None,
) -> tuple[ApiToken, str]:
    """A new token of ``user`` and its key, the only time the key exists in clear."""
    key = new_key()
    token = ApiToken(
        user=user,
        name=name or user.get_username(),
        scope=scope,
        team=team,
        expires_at=None if expires_in is None else timezone.now() + expires_in,
    )
    set_key(token, key)
    with transaction.atomic():
        token.save()
        pods = list(pods)
        if pods:
            token.pods.set(pods)
        record_creation(token, actor or audit.Actor.system(), pods)
    return token, key


def revoke(token: ApiToken, actor: audit.Actor | None = None) -> None:
    """Refuse the token from now on, in every process (``access.version``)."""
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(actor or audit.Actor.system(), AuditAction.TOKEN_REVOKE, target=str(token))
