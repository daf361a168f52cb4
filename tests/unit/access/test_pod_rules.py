"""The rules of the one pod check, without a database: who may use which pod, who creates pods."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.exceptions import NotFound, PermissionDenied

from energylab.api.permissions import (
    ANONYMOUS,
    SCOPE_EVENTS,
    SCOPE_READ,
    Grant,
    PodRef,
    creation_team,
    may_use,
)

POD_A = PodRef(1, "pod-a", team_id=10, accepts_anonymous_events=False)
POD_B = PodRef(2, "pod-b", team_id=20, accepts_anonymous_events=True)
UNASSIGNED = PodRef(3, "old", team_id=None, accepts_anonymous_events=False)
MEMBER_OF_A = Grant(user_id=5, teams=frozenset({10}))


@pytest.fixture(autouse=True)
def _open(settings: Any) -> None:
    settings.UNASSIGNED_PODS_OPEN = True


def test_a_member_uses_their_teams_pods_only() -> None:
    assert may_use(MEMBER_OF_A, POD_A)
    assert not may_use(MEMBER_OF_A, POD_B)


def test_unassigned_pods_are_everyones_until_closed(settings: Any) -> None:
    assert may_use(MEMBER_OF_A, UNASSIGNED)
    settings.UNASSIGNED_PODS_OPEN = False
    assert not may_use(MEMBER_OF_A, UNASSIGNED)
    assert may_use(Grant(user_id=1, everything=True), UNASSIGNED)


def test_a_superuser_uses_every_pod() -> None:
    root = Grant(user_id=1, everything=True)
    assert may_use(root, POD_A)
    assert may_use(root, POD_B)


def test_a_per_pod_token_uses_only_its_pods_even_for_a_superuser() -> None:
    assert not may_use(Grant(user_id=1, everything=True, pods=frozenset({2})), POD_A)
    assert may_use(Grant(user_id=5, teams=frozenset({10}), pods=frozenset({1})), POD_A)


def test_anonymous_clients_use_only_pods_that_accept_them() -> None:
    assert may_use(ANONYMOUS, POD_B)
    assert not may_use(ANONYMOUS, POD_A)
    assert not may_use(ANONYMOUS, UNASSIGNED)


def test_scopes_say_who_writes_and_who_reads() -> None:
    assert Grant(user_id=5, scope=SCOPE_READ).may_read
    assert not Grant(user_id=5, scope=SCOPE_READ).may_write
    assert Grant(user_id=5, scope=SCOPE_EVENTS).may_write
    assert not Grant(user_id=5, scope=SCOPE_EVENTS).may_read


def test_a_pod_is_created_in_the_one_team_allowed_to_create_pods() -> None:
    assert creation_team(Grant(user_id=5, teams=frozenset({10}), creating_teams=(10,))) == 10


def test_a_member_of_a_team_without_the_permission_creates_no_pod() -> None:
    with pytest.raises(NotFound):
        creation_team(MEMBER_OF_A)


def test_a_user_of_several_creating_teams_must_name_one() -> None:
    with pytest.raises(PermissionDenied, match="--team"):
        creation_team(Grant(user_id=5, teams=frozenset({10, 20}), creating_teams=(10, 20)))


def test_a_user_of_no_team_creates_unassigned_pods_only_while_they_are_open(
    settings: Any,
) -> None:
    teamless = Grant(user_id=5, teamless=True)
    assert creation_team(teamless) is None
    settings.UNASSIGNED_PODS_OPEN = False
    with pytest.raises(NotFound):
        creation_team(teamless)
