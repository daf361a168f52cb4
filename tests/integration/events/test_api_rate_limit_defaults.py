"""With the default rates, a burst of 20,000 authenticated pushes from one address gets no 429;
anonymous clients from one address still do, with a message naming the limit and Retry-After.

The 20,000 go through the throttle as DRF's dispatch calls it (``check_throttles`` of the real
views, the real Redis), in-process: through the test client they would take minutes. A smaller
burst goes through HTTP on the legacy measurements path and the native events path; the
anonymous 429 over HTTP is reached with a low rate (an HTTP client slower than the defaults'
refill, 1,000/s for measurements, would never empty the bucket).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from energylab.api import throttling
from energylab.api.testing import *  # noqa: F403 - fixtures
from events.api.legacy.views import EquipmentMeasurementsView
from events.api.views import EventView
from events.ingest.buffer import SampleBuffer

pytestmark = pytest.mark.django_db

BURST = 20_000
ADDRESS = "10.1.2.3"  # one NAT address for the whole burst
MEASUREMENTS = "/resources/equipments/pdu-1/measurements"
EVENTS = "/api/v1/events/"
MEASUREMENT = {"environment": "lab", "measurements": [{"sensor": "power", "unit": "W", "value": 1}]}
STEP = {"type": "step", "pod": "lab", "step": "t"}

# What docs/api.md and docs/configuration.md promise without any ENERGYLAB_*_RATE variable.
DEFAULT_RATES = {
    "events": None,
    "measurements": None,
    "reads": None,
    "anonymous events": "6000/min",
    "anonymous measurements": "1000/s",
    "anonymous reads": "6000/min",
}


@pytest.fixture(autouse=True)
def _defaults(settings: Any, redis_url: str) -> None:
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates == DEFAULT_RATES, "run without ENERGYLAB_*_RATE variables"
    settings.ALLOW_ANONYMOUS_EVENTS = True
    settings.ANONYMOUS_EVENTS_CREATE_PODS = True


def burst(view: APIView, path: str, user: Any, n: int = BURST) -> tuple[int, list[Throttled]]:
    """``n`` requests from ADDRESS through the view's throttles: (allowed, refusals)."""
    request = Request(APIRequestFactory().post(path, REMOTE_ADDR=ADDRESS))
    request.user = user
    allowed, refused = 0, []
    for _ in range(n):
        try:
            view.check_throttles(request)
        except Throttled as exc:
            refused.append(exc)
        else:
            allowed += 1
    return allowed, refused


@pytest.mark.parametrize(
    ("view", "path"), [(EquipmentMeasurementsView, MEASUREMENTS), (EventView, EVENTS)]
)
def test_a_burst_of_authenticated_pushes_from_one_address_is_never_refused(
    view: type[APIView], path: str, ci_user: User
) -> None:
    assert burst(view(), path, ci_user) == (BURST, [])


@pytest.mark.parametrize(
    ("view", "path", "setting", "rate", "per_second"),
    [
        (
            EquipmentMeasurementsView,
            MEASUREMENTS,
            "ENERGYLAB_ANONYMOUS_MEASUREMENTS_RATE",
            "1000/s",
            1000,
        ),
        (EventView, EVENTS, "ENERGYLAB_ANONYMOUS_EVENTS_RATE", "6000/min", 100),
    ],
)
def test_a_burst_of_anonymous_pushes_from_one_address_is_refused_past_its_limit(
    view: type[APIView], path: str, setting: str, rate: str, per_second: int
) -> None:
    began = time.monotonic()
    allowed, refused = burst(view(), path, AnonymousUser())
    took = time.monotonic() - began
    limit = int(rate.split("/")[0])
    # The bucket's burst, plus what refilled while the loop ran (and a second of slack).
    assert limit - throttling.BATCH_MAX <= allowed <= limit + per_second * (took + 1)
    assert len(refused) == BURST - allowed > 0
    assert all(exc.wait is not None and exc.wait >= 1 for exc in refused)
    assert f"{setting} ({rate} per client address without credentials) is reached" in str(
        refused[0].detail
    )


def test_authenticated_pushes_over_http_after_such_a_burst_are_answered(
    client: APIClient, ci_user: User, buffer: SampleBuffer
) -> None:
    # The 20,000 count against the same user and address as the requests below.
    burst(EquipmentMeasurementsView(), MEASUREMENTS, ci_user)
    burst(EventView(), EVENTS, ci_user)
    start = client.post(EVENTS, {**STEP, "type": "start", "scenario": "s"}, format="json")
    assert start.status_code == 201
    codes = {
        client.post(path, body, format="json", REMOTE_ADDR=ADDRESS).status_code
        for _ in range(200)
        for path, body in [(MEASUREMENTS, MEASUREMENT), (EVENTS, STEP)]
    }
    assert codes == {200}


@pytest.mark.parametrize(
    ("path", "body", "setting", "key"),
    [
        (MEASUREMENTS, MEASUREMENT, "ENERGYLAB_ANONYMOUS_MEASUREMENTS_RATE", "measurements"),
        (
            EVENTS,
            {**STEP, "type": "start", "scenario": "s"},
            "ENERGYLAB_ANONYMOUS_EVENTS_RATE",
            "events",
        ),
    ],
)
def test_an_anonymous_client_over_http_gets_429_naming_the_limit_with_retry_after(
    anonymous: APIClient,
    client: APIClient,
    settings: Any,
    buffer: SampleBuffer,
    path: str,
    body: dict[str, Any],
    setting: str,
    key: str,
) -> None:
    # A low anonymous rate, so that a short burst reaches it (the defaults' are above).
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, f"anonymous {key}": "3/min"},
    }
    answers = [anonymous.post(path, body, format="json", REMOTE_ADDR=ADDRESS) for _ in range(5)]
    assert [a.status_code for a in answers][3:] == [429, 429]
    assert {a.status_code for a in answers[:3]} <= {200, 201}
    assert 19 <= int(answers[-1]["Retry-After"]) <= 20  # one every 20 s
    assert answers[-1].json()["detail"] == (
        f"Request was throttled: {setting} (3/min per client address without credentials) is "
        "reached; clients that send a token are counted per user. Expected available in "
        f"{answers[-1]['Retry-After']} seconds."
    )
    # The same address with a token is another client, without a limit.
    assert client.post(path, body, format="json", REMOTE_ADDR=ADDRESS).status_code in {200, 201}
