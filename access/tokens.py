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
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name or user.get_username(),
            digest=digest(key),
            prefix=key[:10],
            scope=scope,
            team=team,
            expires_at=None if expires_in is None else timezone.now() + expires_in,
        )
        pods = list(pods)
        if pods:
            token.pods.set(pods)
        audit.record(
            actor or audit.Actor.system(),
            AuditAction.TOKEN_CREATE,
            target=str(token),
            detail={
                "user": user.get_username(),
                "scope": scope,
                "team": team.name if team is not None else None,
                "pods": sorted(pod.name for pod in pods),
                "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            },
        )
    return token, key


def revoke(token: ApiToken, actor: audit.Actor | None = None) -> None:
    """Refuse the token from now on, in every process (``access.version``)."""
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(actor or audit.Actor.system(), AuditAction.TOKEN_REVOKE, target=str(token))
