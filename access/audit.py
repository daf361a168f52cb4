"""The audit log: who started and stopped runs, and changed pods, servers or credentials.

Each entry is written in the transaction of what it records (an action and its entry are
committed together, or neither): by the services for runs and tokens, by the pod and server API
and admin for those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from access.models import AuditAction, AuditEntry
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


def record_change(actor: Actor, verb: str, obj: Any, changed: Iterable[str] | None = None) -> None:
    """A pod or server added, changed or deleted (``verb``: create, change, delete).
    ``changed``: the fields given, never their values (a password is a credential; a team is
    who may act on the pod)."""
    kind = obj._meta.model_name  # "pod" or "server"
    pod = obj if kind == "pod" else obj.pod
    record(
        actor,
        AuditAction(f"{kind}.{verb}"),
        target=f"{kind} {obj.name}",
        pod=pod.name,
        detail={kind: obj.pk, **({"fields": sorted(changed)} if changed is not None else {})},
    )
