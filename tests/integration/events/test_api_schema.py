"""The OpenAPI schema is valid and complete; the docs page works without a CDN."""

from __future__ import annotations

import re
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from energylab.api.testing import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.django_db


def test_the_schema_validates_without_warnings() -> None:
    out = StringIO()
    # --fail-on-warn turns any warning (a view it cannot describe...) into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert yaml.safe_load(out.getvalue())["openapi"].startswith("3.")


def test_the_schema_is_served_and_lists_every_path(anonymous: APIClient) -> None:
    answer = anonymous.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert answer.status_code == 200
    paths = set(answer.json()["paths"])
    assert {
        "/api/v1/events/",
        "/api/v1/runs/",
        "/api/v1/runs/{id}/",
        "/api/v1/runs/{id}/steps/",
        "/api/v1/runs/{id}/stop/",
        "/api/v1/time/",
        "/api/v1/pods/",
        "/api/v1/pods/{id}/",
        "/api/v1/servers/",
        "/api/v1/servers/{id}/",
        "/resources/monitoring/ping",
        "/resources/recorders/environment/{environment}",
        "/resources/recorders/environment/{environment}/step",
        "/resources/equipments/{equipment}/measurements",
        "/resources/servers/{server}/consumption",
    } <= paths


def test_the_schema_never_shows_a_password(anonymous: APIClient) -> None:
    schema = anonymous.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    server = schema["components"]["schemas"]["Server"]["properties"]
    assert server["password"]["writeOnly"] is True
    assert server["has_password"]["readOnly"] is True


def test_the_docs_page_uses_local_assets(anonymous: APIClient) -> None:
    answer = anonymous.get("/api/docs/")
    assert answer.status_code == 200
    html = answer.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in a for a in assets)
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    for asset in assets:
        if asset.startswith("/static/"):
            assert anonymous.get(asset).status_code == 200, asset


def test_names_in_the_schema_refuse_what_the_api_refuses(anonymous: APIClient) -> None:
    from energylab.api.fields import NAME_PATTERN

    schema = anonymous.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    pod = schema["components"]["schemas"]["StartEvent"]["properties"]["pod"]
    assert (pod["pattern"], pod["minLength"], pod["maxLength"]) == (NAME_PATTERN, 1, 200)
    pattern = re.compile(NAME_PATTERN)
    assert pattern.match('lab pod 7, "east" \\ é ⚡')
    assert not pattern.match("new\nline")
