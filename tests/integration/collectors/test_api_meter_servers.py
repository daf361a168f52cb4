"""/api/v1/servers/ for meters: source settings validated naming the key, the SNMPv3 privacy
pass phrase write-only like the password."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from collectors.models import Pod, Server
from energylab.api.testing import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.django_db

PRIVACY = "priv-s3cret-phrase"


@pytest.fixture
def pod() -> Pod:
    return Pod.objects.create(name="meters")


def snmp_body(pod: Pod, **settings: Any) -> dict[str, Any]:
    return {
        "pod": pod.pk,
        "name": "pdu-fed node",
        "bmc_type": "snmp",
        "host": "10.0.0.9",
        "username": "nrj",
        "password": "auth-s3cret-phrase",
        "privacy_password": PRIVACY,
        "source_settings": {
            "version": "v3",
            "auth_protocol": "SHA",
            "privacy_protocol": "AES",
            "pdu": "raritan",
            "outlets": [3, 4],
            **settings,
        },
    }


def test_an_snmp_server_is_created_with_its_settings_and_a_hidden_privacy_phrase(
    operator_client: APIClient, pod: Pod
) -> None:
    answer = operator_client.post("/api/v1/servers/", snmp_body(pod), format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["source_settings"]["outlets"] == [3, 4]
    assert PRIVACY not in answer.content.decode()
    server = Server.objects.get()
    assert server.privacy_password == PRIVACY
    assert PRIVACY not in server.privacy_password_encrypted
    assert server.endpoint().options["pdu"] == "raritan"


def test_bad_source_settings_are_a_400_naming_the_key(operator_client: APIClient, pod: Pod) -> None:
    answer = operator_client.post("/api/v1/servers/", snmp_body(pod, pdu="acme"), format="json")
    assert answer.status_code == 400
    assert "pdu: 'acme' is not one of" in answer.json()["source_settings"][0]


def test_a_bmc_with_source_settings_is_refused(operator_client: APIClient, pod: Pod) -> None:
    body = {"pod": pod.pk, "name": "n", "bmc_type": "redfish", "host": "https://bmc"}
    answer = operator_client.post(
        "/api/v1/servers/", {**body, "source_settings": {"pdu": "apc"}}, format="json"
    )
    assert answer.status_code == 400
    assert "takes no source settings" in answer.json()["source_settings"][0]
