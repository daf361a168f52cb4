"""The admin's server page shows the connection fields of the server's type only."""

from __future__ import annotations

import pytest
from django.test import Client

from collectors.models import BMCType, Pod, Server

pytestmark = pytest.mark.django_db


def page(admin_client: Client, bmc_type: str, **fields: object) -> str:
    pod = Pod.objects.create(name="p")
    server = Server.objects.create(pod=pod, name="s", bmc_type=bmc_type, host="10.0.0.1", **fields)
    answer = admin_client.get(f"/admin/collectors/server/{server.pk}/change/")
    assert answer.status_code == 200
    return answer.content.decode()


def test_a_modbus_meter_shows_its_settings_and_no_login(admin_client: Client) -> None:
    settings = {"sensors": [{"name": "p", "unit": "W", "register_address": 0}]}
    html = page(admin_client, BMCType.MODBUS, source_settings=settings)
    assert 'name="source_settings"' in html
    assert 'name="accuracy_pct"' in html  # not a connection field: always shown
    for absent in ("username", "password", "privacy_password", "verify_tls"):
        assert f'name="{absent}"' not in html


def test_a_redfish_bmc_shows_its_login_and_no_meter_settings(admin_client: Client) -> None:
    html = page(admin_client, BMCType.REDFISH)
    for present in ("username", "password", "verify_tls"):
        assert f'name="{present}"' in html
    assert 'name="source_settings"' not in html
    assert 'name="privacy_password"' not in html


def test_an_snmp_pdu_shows_the_privacy_phrase(admin_client: Client) -> None:
    html = page(admin_client, BMCType.SNMP, source_settings={"pdu": "apc", "outlets": [1]})
    assert 'name="privacy_password"' in html
    assert 'name="verify_tls"' not in html


def test_a_new_server_shows_every_field(admin_client: Client) -> None:
    html = admin_client.get("/admin/collectors/server/add/").content.decode()
    for name in ("username", "password", "verify_tls", "source_settings", "privacy_password"):
        assert f'name="{name}"' in html


def test_saving_a_meter_keeps_the_fields_its_page_does_not_show(admin_client: Client) -> None:
    settings = {"sensors": [{"name": "p", "unit": "W", "register_address": 0}]}
    page(admin_client, BMCType.MODBUS, source_settings=settings, username="kept")
    server = Server.objects.get()
    answer = admin_client.post(
        f"/admin/collectors/server/{server.pk}/change/",
        {
            "pod": server.pod_id,
            "name": "s",
            "bmc_type": "modbus",
            "active": "on",
            "host": "10.0.0.2",
            "port": "",
            "source_settings": '{"sensors": [{"name": "p", "unit": "W", "register_address": 4}]}',
        },
    )
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    server.refresh_from_db()
    assert (server.host, server.username) == ("10.0.0.2", "kept")
    assert server.source_settings["sensors"][0]["register_address"] == 4
