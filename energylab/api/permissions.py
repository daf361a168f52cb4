"""Who may send events, read runs, and read or change the inventory: the one pod check.

Every path that acts on a pod by its name (native events, the legacy ``/resources`` paths,
measurements pushed by any protocol, reports, pages) asks :func:`authorize_pod`; lists filter
with :func:`visible_pods`. What a credential may do is a :class:`Grant`, computed once when the
credential is verified and cached with it (:mod:`access.authentication`); a pod is a
:class:`PodRef` from a per-process cache (:mod:`access.pods`), both invalidated in every process
when a token, user, team or pod changes (:mod:`access.version`). The check itself costs no query
once the pod is cached.

This module imports no app: the ``access`` app registers how a pod and a user's grant are looked
up (:func:`register`), as the lower layer takes callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission, DjangoModelPermissions
from rest_framework.request import Request

#: token scopes: what a credential may do on the pods it may use
SCOPE_ALL = "all"
SCOPE_EVENTS = "events"  # start/step/stop and measurements: CI and collectors
SCOPE_READ = "read"  # runs, reports, servers: dashboards
SCOPES = (SCOPE_ALL, SCOPE_EVENTS, SCOPE_READ)


@dataclass(frozen=True)
class Grant:
    """What one credential may do; immutable, so it may be cached with the credential.

    ``teams``: the ids of the user's teams (Django groups) the credential acts for (a token made
    for one team: that one). ``creating_teams``: those of them whose group has the
    ``collectors.add_pod`` permission (a first event may create a pod there). ``pods``: the only
    pods a per-pod token may use (None: any of its teams'). ``everything``: a superuser's.
    """

    user_id: int | None
    scope: str = SCOPE_ALL
    teams: frozenset[int] = frozenset()
    creating_teams: tuple[int, ...] = ()
    pods: frozenset[int] | None = None
    everything: bool = False
    teamless: bool = False  # a user of no team: acts on unassigned pods only (and creates them)
    token_id: int | None = None
    name: str = ""  # who, for the audit log: the user name, and the token's name

    @property
    def may_write(self) -> bool:
        return self.scope in (SCOPE_ALL, SCOPE_EVENTS)

    @property
    def may_read(self) -> bool:
        return self.scope in (SCOPE_ALL, SCOPE_READ)


#: an anonymous client (``ENERGYLAB_ALLOW_ANONYMOUS_EVENTS``): events only, to pods that accept them
ANONYMOUS = Grant(user_id=None, scope=SCOPE_EVENTS, name="anonymous")


@dataclass(frozen=True)
class PodRef:
    """What the check needs of a pod."""

    id: int
    name: str
    team_id: int | None
    accepts_anonymous_events: bool


PodLookup = Callable[[str], "PodRef | None"]
GrantOfUser = Callable[[Any], Grant]
_lookups: dict[str, Any] = {}


def register(pod_by_name: PodLookup, grant_of_user: GrantOfUser) -> None:
    """Set how pods and a signed-in user's grant are looked up (``AccessConfig.ready``)."""
    _lookups["pod"] = pod_by_name
    _lookups["grant"] = grant_of_user


def grant_of(request: Request | Any) -> Grant:
    """The request's grant: its token's or password's (cached with it), or a signed-in user's
    (computed once per request); :data:`ANONYMOUS` without credentials."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, Grant):
        return auth
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    cached: Grant | None = getattr(request, "_energylab_grant", None)
    if cached is None:
        cached = _lookups["grant"](user)
        setattr(request, "_energylab_grant", cached)  # noqa: B010 - one grant per request
    return cached


def unassigned_pods_open() -> bool:
    return bool(settings.UNASSIGNED_PODS_OPEN)


def may_use(grant: Grant, pod: PodRef) -> bool:
    """Whether the credential may act on (or read) this pod at all, whatever its scope."""
    if grant.user_id is None:
        return pod.accepts_anonymous_events
    if grant.pods is not None and pod.id not in grant.pods:
        return False
    if grant.everything:
        return True
    if pod.team_id is None:
        return unassigned_pods_open()
    return pod.team_id in grant.teams


def hidden(pod_name: str) -> NotFound:
    """The answer about a pod the client may not use: the same whether it exists or not, so
    that no client learns another team's pod names."""
    return NotFound(
        f"no pod {pod_name!r} that this credential may use (a first event creates a pod only "
        "for a credential of a team allowed to create pods)"
    )


def anonymous_refused() -> NotAuthenticated:
    """The same answer for an unknown pod and one that does not accept anonymous events."""
    return NotAuthenticated(
        "this pod needs credentials: only pods marked to accept anonymous events take events "
        "without them"
    )


def creation_team(grant: Grant) -> int | None:
    """The team a pod created by this credential's first event belongs to (None: unassigned).

    :raises PermissionDenied: the credential may not create pods, or its user has several teams
        that may and the token names none.
    """
    if len(grant.creating_teams) == 1:
        return grant.creating_teams[0]
    if len(grant.creating_teams) > 1:
        raise PermissionDenied(
            "this credential's user may create pods in several teams: use a token made for "
            "one team (create_api_token --team)"
        )
    if grant.everything or (grant.teamless and unassigned_pods_open() and grant.pods is None):
        return None
    raise NotFound("this credential may not create pods")


def authorize_pod(
    request: Request | Any,
    pod_name: str,
    *,
    write: bool,
    create: bool = False,
    hidden_as: Exception | None = None,
) -> tuple[PodRef | None, dict[str, Any] | None]:
    """Check that the request's credential may act on the pod named ``pod_name``: the one check
    of every path that names a pod. Costs one per-process cached lookup.

    ``write``: an event or measurements (else a read). ``create``: an unknown pod is created by
    this request (a start, measurements) if the credential may create pods. ``hidden_as``: what
    to raise for a pod the credential may not use: the error an unknown pod gets on that path
    (say, "no run is running on pod 'x'"), so that the answer tells nothing of other teams' pods.

    Returns the pod (None: unknown; the caller answers as for any unknown pod, or creates it)
    and, for a pod to create, the fields it is created with (its team; None: not to create).

    :raises NotAuthenticated: (401) no credentials, and the pod does not accept anonymous events
        (or is unknown: anonymous events never create a pod).
    :raises PermissionDenied: (403) the token's scope does not allow this (a read-only token
        writing, an events-only token reading).
    :raises NotFound: (404, or ``hidden_as``) the pod is another team's (or, when ``create``,
        unknown and the credential may not create pods).
    """
    grant = grant_of(request)
    if grant.user_id is not None:
        if write and not grant.may_write:
            raise PermissionDenied(
                "this token is read-only: it may not send events or measurements"
            )
        if not write and not grant.may_read:
            raise PermissionDenied("this token may only send events and measurements")
    pod: PodRef | None = _lookups["pod"](pod_name)
    if pod is not None:
        if may_use(grant, pod):
            return pod, None
        if grant.user_id is None:
            raise anonymous_refused()
        raise hidden_as or hidden(pod_name)
    if grant.user_id is None:
        if create and settings.ANONYMOUS_EVENTS_CREATE_PODS:
            # The old recorder in a closed lab network: pods appear with their first event.
            return None, {"team_id": None, "accepts_anonymous_events": True}
        if write or create:
            raise anonymous_refused()
    if not create:
        return None, None
    try:
        return None, {"team_id": creation_team(grant)}
    except NotFound:
        raise hidden_as or hidden(pod_name) from None


def authorize_pods(request: Request | Any, pod_names: Any) -> dict[str, dict[str, Any]]:
    """:func:`authorize_pod` for every pod a push names (measurements, ``/write``), as a write
    that may create them; the creation fields of the unknown ones, by name (pass them as
    ``events.services.record_samples(new_pods=...)``).

    :raises: as :func:`authorize_pod`, for the first pod refused (nothing is stored).
    """
    new_pods: dict[str, dict[str, Any]] = {}
    for name in sorted(set(pod_names)):
        _, new_pod = authorize_pod(request, name, write=True, create=True)
        if new_pod is not None:
            new_pods[name] = new_pod
    return new_pods


def may_name(request: Request | Any, pod_name: str) -> bool:
    """Whether an answer to this request may name the pod (it is one the client may use)."""
    try:
        authorize_pod(request, pod_name, write=True)
    except (NotFound, NotAuthenticated, PermissionDenied):
        return False
    return True


def may_read(request: Request | Any, pod_name: str) -> bool:
    """Whether the request's credential may read the pod (an unknown pod: yes, it has nothing)."""
    try:
        authorize_pod(request, pod_name, write=False)
    except (NotFound, NotAuthenticated, PermissionDenied):
        return False
    return True


def visible_pods(request: Request | Any, field: str = "") -> Q:
    """A filter of rows (pods, or rows with a ``pod`` relation named by ``field``, e.g.
    ``"pod__"``) down to the pods the request's credential may read; everything for a superuser.
    """
    grant = grant_of(request)
    return visible_to(grant, field)


def visible_to(grant: Grant, field: str = "") -> Q:
    if grant.user_id is None:
        return Q(pk__in=[])
    allowed = Q()
    if not grant.everything:
        allowed = Q(**{f"{field}team__in": sorted(grant.teams)})
        if unassigned_pods_open():
            allowed |= Q(**{f"{field}team__isnull": True})
    if grant.pods is not None:
        allowed &= Q(**{f"{field}pk__in" if field else "pk__in": sorted(grant.pods)})
    return allowed


class CanSendEvents(BasePermission):
    """Any authenticated client whose token may write; anyone when
    ``ENERGYLAB_ALLOW_ANONYMOUS_EVENTS`` is on (then only pods that accept anonymous events,
    checked by :func:`authorize_pod`).

    Read at request time so that the setting can change without re-importing views (tests).
    """

    message = "sending events needs a token or HTTP basic credentials"

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return bool(settings.ALLOW_ANONYMOUS_EVENTS)
        if not grant_of(request).may_write:
            self.message = "this token is read-only: it may not send events or measurements"
            raise PermissionDenied(self.message)
        return True


class CanSendEventsOrReadThem(CanSendEvents):
    """The legacy recorder's ``GET`` of the running scenario: part of the old clients' protocol,
    sent with the credential they send events with, and a read a dashboard's read-only token
    may make."""

    def has_permission(self, request: Request, view: Any) -> bool:
        # Every scope either reads or sends events; the pod is checked by authorize_pod.
        if request.method in SAFE_METHODS and request.user and request.user.is_authenticated:
            return True
        return super().has_permission(request, view)


class CanRead(BasePermission):
    """An authenticated client whose token may read (not an events-only one)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if not grant_of(request).may_read:
            raise PermissionDenied("this token may only send events and measurements")
        return True


class ModelPermissionsWithView(DjangoModelPermissions):
    """Django's model permissions, including ``view_<model>`` for reads, and the token's scope.

    Servers carry BMC addresses and user names: a token that may only send events must not be
    able to list them.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        allowed = super().has_permission(request, view)
        if allowed and request.user.is_authenticated:
            grant = grant_of(request)
            if request.method in ("GET", "HEAD", "OPTIONS"):
                return grant.may_read
            return grant.scope == SCOPE_ALL
        return allowed


class ModelPermissions(ModelPermissionsWithView):
    """Django's model permissions (reads open to any authenticated client), and the scope."""

    perms_map = DjangoModelPermissions.perms_map
