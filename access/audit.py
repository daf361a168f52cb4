"""The audit log: who started and stopped runs, and changed servers or credentials.

The services that do these things write the entry in their own transaction (an action and its
entry are committed together, or neither), never the views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from access.models import AuditEntry
from energylab.api.permissions import Grant, grant_of


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (through a token or not), a command, or anonymous."""

    user_id: int | None
    name: str

    @classmethod
    def of(cls, request: Any) -> Actor:
        """The request's user and token (``anonymous`` without credentials)."""
        grant: Grant = grant_of(request)
        return cls(grant.user_id, grant.name)

    @classmethod
    def of_user(cls, user: Any) -> Actor:
        return cls(user.pk, user.get_username())

    @classmethod
    def system(cls, name: str = "command line") -> Actor:
        return cls(None, name)


def record(
    actor: Actor,
    action: str,
    *,
    target: str,
    pod: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    AuditEntry.objects.create(
        user_id=actor.user_id,
        actor=actor.name[:320],
        action=action,
        pod=pod[:255],
        target=target[:320],
        detail=detail or {},
    )


def record_server(actor: Actor, action: str, server: Any, changed: list[str] | None = None) -> None:
    """A server added, changed (``changed``: the fields given, never their values: a password
    is a credential) or deleted."""
    record(
        actor,
        action,
        target=f"server {server.name}",
        pod=server.pod.name,
        detail={"server": server.pk, **({"fields": changed} if changed is not None else {})},
    )
