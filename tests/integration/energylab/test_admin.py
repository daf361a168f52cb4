"""A superuser registers a lab from the admin, and the BMC password never comes back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from collectors.models import BMCType, Pod, Server
from events.models import Run, Step

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab() -> Server:
    pod = Pod.objects.create(name="pod 1")
    server = Server(pod=pod, name="node-1", bmc_type=BMCType.REDFISH, host="https://10.0.0.9")
    server.password = "hunter2-secret"
    server.save()
    run = Run.objects.create(pod=pod, scenario="smoke", started_at=dt.datetime.now(dt.UTC))
    Step.objects.create(run=run, name="boot", started_at=run.started_at)
    return server


@pytest.mark.parametrize(
    "model", ["collectors_pod", "collectors_server", "events_run", "events_step"]
)
def test_every_admin_page_renders_for_a_superuser(admin_client: Client, lab: Server, model) -> None:
    objects = {
        "collectors_pod": lab.pod,
        "collectors_server": lab,
        "events_run": Run.objects.get(),
        "events_step": Step.objects.get(),
    }
    for url in (
        reverse(f"admin:{model}_changelist"),
        reverse(f"admin:{model}_add"),
        reverse(f"admin:{model}_change", args=[objects[model].pk]),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_the_password_is_never_rendered_back(admin_client: Client, lab: Server) -> None:
    for url in (
        reverse("admin:collectors_server_change", args=[lab.pk]),
        reverse("admin:collectors_pod_change", args=[lab.pod.pk]),
    ):
        body = admin_client.get(url).content.decode()
        assert "hunter2-secret" not in body
        assert lab.password_encrypted not in body


def server_form(server: Server, **changes: str) -> dict[str, str]:
    data = {
        "pod": str(server.pod_id),
        "name": server.name,
        "bmc_type": server.bmc_type,
        "host": server.host,
        "port": "",
        "username": "root",
        "password": "",
        "dc": "",
        "room": "",
        "row": "",
        "rack": "",
        "active": "on",
    }
    data.update(changes)
    return data


def test_a_blank_password_keeps_the_stored_one(admin_client: Client, lab: Server) -> None:
    url = reverse("admin:collectors_server_change", args=[lab.pk])
    response = admin_client.post(url, server_form(lab))
    assert response.status_code == 302
    lab.refresh_from_db()
    assert lab.username == "root"
    assert lab.password == "hunter2-secret"


def test_a_new_password_replaces_the_stored_one(admin_client: Client, lab: Server) -> None:
    url = reverse("admin:collectors_server_change", args=[lab.pk])
    admin_client.post(url, server_form(lab, password="new-pass"))
    lab.refresh_from_db()
    assert lab.password == "new-pass"


def test_a_superuser_registers_a_pod_with_its_servers(admin_client: Client) -> None:
    data = {
        "name": "lab east, rack=3",
        "description": "",
        "poll_interval": "5",
        "active": "on",
        "queue": "poll",
        "idle_baseline_w": "",
        "servers-TOTAL_FORMS": "1",
        "servers-INITIAL_FORMS": "0",
        "servers-MIN_NUM_FORMS": "0",
        "servers-MAX_NUM_FORMS": "1000",
        "servers-0-name": "bmc-a",
        "servers-0-bmc_type": "ipmi",
        "servers-0-host": "127.0.0.1",
        "servers-0-port": "623",
        "servers-0-username": "admin",
        "servers-0-password": "pw",
        "servers-0-active": "on",
    }
    response = admin_client.post(reverse("admin:collectors_pod_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    server = Server.objects.get(name="bmc-a")
    assert server.pod.name == "lab east, rack=3"
    assert server.password == "pw"


def test_a_polled_server_without_host_is_refused(admin_client: Client, lab: Server) -> None:
    url = reverse("admin:collectors_server_change", args=[lab.pk])
    response = admin_client.post(url, server_form(lab, host=""))
    assert response.status_code == 200
    assert "needs its BMC" in response.content.decode()


def test_the_server_list_shows_a_server_nobody_polls_as_stale(
    admin_client: Client, lab: Server
) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    Server.objects.filter(pk=lab.pk).update(
        created=long_ago, last_success_at=long_ago, last_reading_w=123.456789
    )
    body = admin_client.get(reverse("admin:collectors_server_changelist")).content.decode()
    assert ">stale</span>" in body
    assert ">ok</span>" not in body
    assert "123.5" in body  # to 0.1 W
    assert "123.456789" not in body


def test_names_with_leading_or_trailing_spaces_show_them(admin_client: Client) -> None:
    Pod.objects.create(name=" demo-lab  ")
    body = admin_client.get(reverse("admin:collectors_pod_changelist")).content.decode()
    assert "<mark>␣</mark>demo-lab<mark>␣␣</mark>" in body
