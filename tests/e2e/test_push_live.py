"""Pushes over HTTP to the live API reach InfluxDB through a real worker and beat, to the
nanosecond, and a resent body adds no point."""

from __future__ import annotations

import time

import pytest
import requests
from django.contrib.auth.models import User

from access.tokens import issue_token
from energylab.testing import wait_until
from events.influx import make_client
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.django_db(transaction=True)

POD = 'e2e push, "lab"=1'


@pytest.mark.timeout(120)
def test_pushed_readings_within_one_microsecond_land_as_distinct_points_once(
    stack: Stack, live_server, settings
) -> None:
    settings.CORRELATION_DELAY = 0.0
    token = issue_token(User.objects.create_user("collector"))[1]
    stack.worker("writer,default")
    stack.beat()
    t = (time.time_ns() // 1_000_000_000 - 5) * 1_000_000_000 + 777_000
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    bulk = {
        "measurements": [
            {"pod": POD, "server": "node 1", "value": 100 + n, "time": t + n} for n in (1, 2)
        ]
    }
    legacy = {"environment": POD, "measurements": [{"value": 103, "time": t + 3}]}
    legacy_url = f"{live_server.url}/resources/equipments/node%201/measurements"
    for expected_new in (2, 0):  # the second time, a client's retry
        answer = session.post(f"{live_server.url}/api/v1/measurements/", json=bulk, timeout=10)
        assert (answer.status_code, answer.json()["new"]) == (200, expected_new)
    for expected_new in (1, 0):
        answer = session.post(legacy_url, json=legacy, timeout=10)
        assert (answer.status_code, answer.json()["new"]) == (200, expected_new)

    influx = make_client()

    def times() -> list[int]:
        query = "SELECT watts FROM power WHERE pod = $pod"
        rows = influx.query(query, bind_params={"pod": POD}, epoch="ns").get_points()
        return [int(r["time"]) for r in rows]

    wait_until(lambda: len(times()) >= 3, 60, "the pushed points in InfluxDB")
    assert times() == [t + 1, t + 2, t + 3]
