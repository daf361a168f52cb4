"""Who may do what over the API: writes need credentials (unless anonymous events are switched
on), a user without model permissions can neither read servers nor change their credentials,
one with ``view_server`` sees ``has_password`` and never a password, and a burst of events is
throttled with 429 once a user's rate is set (by default a user has no limit)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from rest_framework.test import APIClient

from access.tokens import issue_token
from collectors.models import BMCType, Pod, Server

pytestmark = pytest.mark.django_db

SECRET = "Ac-s3cret:pw!44"
WRITES = [
    ("post", "/api/v1/events/", {"type": "start", "pod": "p", "scenario": "s"}),
    ("post", "/api/v1/runs/", {"pod": "p", "scenario": "s"}),
    ("post", "/resources/recorders/environment/p", {"scenario": "s", "step": "t"}),
    ("post", "/resources/recorders/environment/p/step", {"step": "t"}),
    ("delete", "/resources/recorders/environment/p", None),
    ("post", "/resources/equipments/n/measurements", {"environment": "p", "measurements": []}),
    ("post", "/api/v1/pods/", {"name": "new pod"}),
    ("post", "/api/v1/servers/", {"name": "n", "bmc_type": "push", "pod": 1}),
]


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user)[1]}")
    return client


@pytest.fixture
def server(redis_url: str) -> Server:
    pod = Pod.objects.create(name="another team's pod")
    server = Server(pod=pod, name="their node", bmc_type=BMCType.IPMI, host="10.0.0.9")
    server.username = "admin"
    server.password = SECRET
    server.save()
    return server


@pytest.mark.timeout(30)
def test_writes_without_credentials_are_refused(server, settings) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = False
    anonymous = client_for(None)
    answers = {
        f"{m.upper()} {p}": getattr(anonymous, m)(p, b, format="json").status_code
        for m, p, b in WRITES
    }
    print(f"anonymous writes: {answers}")
    assert all(code in (401, 403) for code in answers.values()), answers
    assert not Pod.objects.filter(name__in=["p", "new pod"]).exists()


@pytest.mark.timeout(30)
def test_anonymous_events_are_accepted_only_when_switched_on(server, settings) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    Pod.objects.create(name="p", accepts_anonymous_events=True)
    anonymous = client_for(None)
    event = anonymous.post(
        "/api/v1/events/", {"type": "start", "pod": "p", "scenario": "s"}, format="json"
    )
    inventory = anonymous.post("/api/v1/pods/", {"name": "new pod"}, format="json")
    print(f"with anonymous events: event {event.status_code}, inventory {inventory.status_code}")
    assert event.status_code == 201
    assert inventory.status_code in (401, 403)  # the switch is for events, not the inventory


@pytest.mark.timeout(30)
def test_a_user_without_rights_can_neither_read_nor_change_a_servers_credentials(server) -> None:
    nobody = client_for(User.objects.create_user("no-rights"))
    viewer_user = User.objects.create_user("viewer")
    viewer_user.user_permissions.add(Permission.objects.get(codename="view_server"))
    viewer = client_for(viewer_user)
    detail = f"/api/v1/servers/{server.pk}/"
    answers = {
        "nobody GET list": nobody.get("/api/v1/servers/").status_code,
        "nobody GET detail": nobody.get(detail).status_code,
        "nobody PATCH password": nobody.patch(detail, {"password": "x"}, format="json").status_code,
        "nobody PUT": nobody.put(detail, {"name": "x"}, format="json").status_code,
        "nobody DELETE": nobody.delete(detail).status_code,
        "viewer PATCH password": viewer.patch(detail, {"password": "x"}, format="json").status_code,
        "viewer DELETE": viewer.delete(detail).status_code,
    }
    seen = viewer.get(detail)
    print(f"answers {answers}; viewer sees {sorted(seen.json())}")
    assert all(code == 403 for code in answers.values()), answers
    assert seen.status_code == 200
    assert "password" not in seen.json()
    assert seen.json()["has_password"] is True
    assert SECRET not in seen.content.decode()
    server.refresh_from_db()
    assert server.password == SECRET  # unchanged


@pytest.mark.timeout(30)
def test_a_burst_of_events_is_throttled_with_429(settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"events": "5/min", "measurements": "5/min"},
    }
    cache.clear()
    client = client_for(User.objects.create_user("bursty"))
    codes = [
        client.post(
            "/api/v1/events/", {"type": "start", "pod": "burst", "scenario": f"s{i}"}, format="json"
        ).status_code
        for i in range(12)
    ]
    cache.clear()
    print(f"12 events at 5/min: {codes}")
    assert codes[:5] == [201] * 5
    assert set(codes[5:]) == {429}
