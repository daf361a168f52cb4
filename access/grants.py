"""What a user, or one of its tokens, may do: a :class:`~energylab.api.permissions.Grant`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from access.models import ApiToken
from energylab.api.permissions import SCOPE_ALL, Grant


def grant_of_user(user: Any, token: ApiToken | None = None) -> Grant:
    """The grant of ``user`` signed in, or through ``token`` (its scope, team and pods).

    Two queries (three for a per-pod token); cached with the credential by the callers.
    """
    teams = frozenset(user.groups.values_list("pk", flat=True))
    teamless = not teams
    if token is not None and token.team_id is not None:
        teams = teams & {token.team_id}
    creating = tuple(
        Group.objects.filter(
            pk__in=teams,
            permissions__content_type__app_label="collectors",
            permissions__codename="add_pod",
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()
    )
    if user.is_superuser and token is not None and token.team_id is not None:
        creating = (token.team_id,)
    pods = None
    if token is not None:
        pod_ids = frozenset(token.pods.values_list("pk", flat=True))
        pods = pod_ids or None
    name = user.get_username()
    return Grant(
        user_id=user.pk,
        scope=token.scope if token is not None else SCOPE_ALL,
        teams=teams,
        creating_teams=creating,
        pods=pods,
        everything=bool(user.is_superuser),
        teamless=teamless and (token is None or token.team_id is None),
        token_id=None if token is None else token.pk,
        name=name if token is None else f"{name} (token {token.name!r})",
    )
