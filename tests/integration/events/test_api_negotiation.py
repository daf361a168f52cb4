"""The negotiation shortcut answers what DRF answers, and leaves everything else to DRF."""

from __future__ import annotations

import pytest
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from energylab.api.negotiation import ApiClientContentNegotiation
from energylab.api.testing import *  # noqa: F403 - fixtures

RENDERERS = [JSONRenderer(), BrowsableAPIRenderer()]


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/", None),
        ("/", "*/*"),
        ("/", "application/json"),
        ("/", "text/html"),
        ("/", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ("/", "application/json; indent=4"),
        ("/?format=api", None),
        ("/?format=json", "text/html"),
    ],
)
def test_the_renderer_chosen_is_drfs_choice(path: str, accept: str | None) -> None:
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    request = Request(APIRequestFactory().get(path, **headers))

    def choice(negotiation: DefaultContentNegotiation) -> tuple[object, str]:
        try:
            renderer, media_type = negotiation.select_renderer(request, RENDERERS)
        except NotAcceptable:
            return NotAcceptable, ""
        return type(renderer), media_type

    assert choice(ApiClientContentNegotiation()) == choice(DefaultContentNegotiation())


@pytest.mark.django_db
def test_a_browser_still_gets_the_browsable_api(client: APIClient) -> None:
    answer = client.get("/api/v1/runs/", HTTP_ACCEPT="text/html")
    assert answer["Content-Type"].startswith("text/html")
    assert client.get("/api/v1/runs/")["Content-Type"] == "application/json"
