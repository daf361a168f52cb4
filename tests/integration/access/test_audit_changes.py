"""Every add, change and delete of a pod or server is in the audit log, by the API or the admin
(inline servers and the "delete selected" action included), with the fields never their values."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from access.models import AuditEntry
from access.tokens import issue_token
from collectors.models import BMCType, Pod, Server
from events import services
from events.models import Step

pytestmark = pytest.mark.django_db


def entries() -> list[tuple[str, str, str, list[str] | None]]:
    return [
        (e.action, e.target, e.pod, e.detail.get("fields"))
        for e in AuditEntry.objects.order_by("pk")
        if e.action.startswith(("pod.", "server."))
    ]


@pytest.fixture
def ops() -> APIClient:
    """A token of a user who may add, change and delete pods, in team lab-a."""
    user = User.objects.create_user("ops")
    user.groups.add(Group.objects.create(name="lab-a"))
    codenames = ["add_pod", "change_pod", "delete_pod", "view_pod"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user, 'ops')[1]}")
    return api


def test_pods_added_changed_and_deleted_through_the_api_are_audited(ops: APIClient) -> None:
    created = ops.post("/api/v1/pods/", {"name": "rack 7", "poll_interval": 5}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    changed = ops.patch(f"/api/v1/pods/{pk}/", {"poll_interval": 2, "active": False}, format="json")
    assert changed.status_code == 200, changed.content
    assert ops.delete(f"/api/v1/pods/{pk}/").status_code == 204
    assert entries() == [
        ("pod.create", "pod rack 7", "rack 7", None),
        ("pod.change", "pod rack 7", "rack 7", ["active", "poll_interval"]),
        ("pod.delete", "pod rack 7", "rack 7", None),
    ]


def test_a_pod_delete_refused_for_its_runs_leaves_no_entry(ops: APIClient) -> None:
    pk = ops.post("/api/v1/pods/", {"name": "busy"}, format="json").json()["id"]
    services.start_run("busy", "s", "one")
    assert ops.delete(f"/api/v1/pods/{pk}/").status_code == 409
    assert [action for action, *_ in entries()] == ["pod.create"]


def test_a_pods_team_changed_in_the_admin_is_audited(admin_client: Client) -> None:
    pod = Pod.objects.create(name="pod 1")
    team = Group.objects.create(name="lab-b")
    data = {
        "name": "pod 1",
        "description": "",
        "team": str(team.pk),
        "poll_interval": str(pod.poll_interval),
        "active": "on",
        "queue": "poll",
        "idle_baseline_w": "",
        **inline_management(0),
    }
    answer = admin_client.post(reverse("admin:collectors_pod_change", args=[pod.pk]), data)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert entries() == [("pod.change", "pod pod 1", "pod 1", ["team"])]
    (entry,) = AuditEntry.objects.all()
    assert entry.actor == "admin"


def inline_management(initial: int, total: int | None = None) -> dict[str, str]:
    return {
        "servers-TOTAL_FORMS": str(initial if total is None else total),
        "servers-INITIAL_FORMS": str(initial),
        "servers-MIN_NUM_FORMS": "0",
        "servers-MAX_NUM_FORMS": "1000",
    }


def inline_server(index: int, server: Server, **changes: Any) -> dict[str, str]:
    fields = {
        "id": str(server.pk),
        "pod": str(server.pod_id),
        "name": server.name,
        "bmc_type": server.bmc_type,
        "host": server.host,
        "port": "",
        "username": server.username,
        "password": "",
        "active": "on",
        **changes,
    }
    return {f"servers-{index}-{key}": value for key, value in fields.items()}


def test_servers_edited_inline_on_their_pods_page_are_audited(admin_client: Client) -> None:
    pod = Pod.objects.create(name="pod 2")
    kept = Server.objects.create(pod=pod, name="a", bmc_type=BMCType.IPMI, host="10.0.0.1")
    gone = Server.objects.create(pod=pod, name="b", bmc_type=BMCType.IPMI, host="10.0.0.2")
    data = {
        "name": "pod 2",
        "description": "",
        "poll_interval": str(pod.poll_interval),
        "active": "on",
        "queue": "poll",
        "idle_baseline_w": "",
        **inline_management(2, total=3),
        **inline_server(0, kept, password="new secret"),
        **inline_server(1, gone, DELETE="on"),
        "servers-2-name": "c",
        "servers-2-bmc_type": "ipmi",
        "servers-2-host": "10.0.0.3",
        "servers-2-active": "on",
    }
    answer = admin_client.post(reverse("admin:collectors_pod_change", args=[pod.pk]), data)
    assert answer.status_code == 302, answer.content.decode()[:3000]
    assert sorted(entries()) == [
        ("server.change", "server a", "pod 2", ["password"]),
        ("server.create", "server c", "pod 2", None),
        ("server.delete", "server b", "pod 2", None),
    ]
    assert "new secret" not in str(AuditEntry.objects.values())


def test_servers_deleted_by_the_admins_delete_selected_action_are_audited(
    admin_client: Client,
) -> None:
    pod = Pod.objects.create(name="pod 3")
    servers = [
        Server.objects.create(pod=pod, name=name, bmc_type=BMCType.IPMI, host="10.0.0.1")
        for name in ("x", "y")
    ]
    data = {"action": "delete_selected", "post": "yes", "_selected_action": [s.pk for s in servers]}
    answer = admin_client.post(reverse("admin:collectors_server_changelist"), data)
    assert answer.status_code == 302
    assert not Server.objects.filter(pod=pod).exists()
    assert entries() == [
        ("server.delete", "server x", "pod 3", None),
        ("server.delete", "server y", "pod 3", None),
    ]


def test_runs_and_steps_edited_in_the_admin_are_saved_without_a_pod_or_server_entry(
    admin_client: Client,
) -> None:
    run = services.start_run("pod 4", "s", "one").run
    step = Step.objects.get(run_id=run.id)
    data = {
        "name": "renamed",
        "run": str(run.id),
        "started_at_0": step.started_at.strftime("%Y-%m-%d"),
        "started_at_1": step.started_at.strftime("%H:%M:%S.%f"),
        "ended_at_0": "",
        "ended_at_1": "",
    }
    answer = admin_client.post(reverse("admin:events_step_change", args=[step.pk]), data)
    assert answer.status_code == 302, answer.content.decode()[:3000]
    step.refresh_from_db()
    assert step.name == "renamed"
    assert entries() == []
