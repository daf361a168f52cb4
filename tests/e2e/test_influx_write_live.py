"""An agent that writes to InfluxDB 1.x feeds EnergyLab unchanged: the ``influxdb`` Python
client's ``write_points`` against a live EnergyLab's ``/write``, a real writer worker and beat,
and the real InfluxDB; the run's report counts the points, tagged with its scenario and step."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from influxdb import InfluxDBClient
from rest_framework.test import APIClient

from energylab.api.testing import PASSWORD
from energylab.testing import wait_until
from events.influx import make_client
from events.models import Run
from events.reports.report import run_report
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.django_db(transaction=True)

POD = 'telegraf pod, "rack=3" ⚡'
SERVER = "pdu outlet\\7"  # the client doubles the backslash; EnergyLab reads it back as one
STEPS = [("warm up", 100.0), ("load, heavy", 300.0)]
STEP_S = 10


def watts_at(second: int) -> float:
    """The power the PDU reads ``second`` s after the run's start (the steps' outside it)."""
    return STEPS[min(max(second, 0) // STEP_S, len(STEPS) - 1)][1]


@pytest.mark.timeout(120)
def test_points_written_by_the_influxdb_client_are_counted_in_the_runs_report(
    stack: Stack, live_server, settings
) -> None:
    settings.CORRELATION_DELAY = 0.5
    User.objects.create_user("telegraf", password=PASSWORD)
    api = APIClient()
    api.login(username="telegraf", password=PASSWORD)
    t0 = (int(time.time()) - 120) * 10**9  # a run two minutes ago, its events sent with times
    for index, (step, _watts) in enumerate(STEPS):
        event = {"type": "start", "scenario": "nightly"} if index == 0 else {"type": "step"}
        at = t0 + index * STEP_S * 10**9
        answer = api.post(
            "/api/v1/events/", {**event, "pod": POD, "step": step, "at": at}, format="json"
        )
        assert answer.status_code in (200, 201), answer.content
    end = t0 + len(STEPS) * STEP_S * 10**9
    assert (
        api.post(
            "/api/v1/events/", {"type": "stop", "pod": POD, "at": end}, format="json"
        ).status_code
        == 200
    )

    stack.worker("writer,default")
    stack.beat()
    address = urlsplit(live_server.url)
    points = [
        {
            "measurement": "pdu",
            "tags": {"pod": POD, "server": SERVER, "unit": "V"},
            "fields": {"watts": watts_at(s), "volts": 230},
            "time": t0 + s * 10**9,
        }
        for s in range(-2, len(STEPS) * STEP_S + 3)
    ]
    for gzipped, half in ((False, points[::2]), (True, points[1::2])):
        client = InfluxDBClient(
            host=address.hostname,
            port=address.port,
            username="telegraf",
            password=PASSWORD,
            database="telegraf",
            gzip=gzipped,
        )
        assert client.ping().startswith("1.")
        assert client.write_points(half, time_precision="n")

    run = Run.objects.get(pod__name=POD)

    def counts() -> dict[tuple[str, str], int]:
        tagged = make_client().query(
            'SELECT count("watts") FROM "power" WHERE "run" = $run GROUP BY "scenario", "step"',
            bind_params={"run": str(run.pk)},
        )
        return {
            (tags["scenario"], tags["step"]): next(iter(rows))["count"]
            for (_m, tags), rows in tagged.items()
        }

    # a point a second; one at a step's start is in that step, one at the run's end in none
    expected = {("nightly", step): STEP_S for step, _watts in STEPS}
    wait_until(lambda: counts() == expected, 60, "the points in InfluxDB, tagged")
    report = run_report(run)
    assert report["final"]
    for index, (section, (step, _watts)) in enumerate(zip(report["steps"], STEPS, strict=True)):
        assert section["name"] == step
        assert [s["server"] for s in section["servers"]] == [SERVER]
        # the readings a second apart, joined by straight lines (as the report integrates them)
        seconds = range(index * STEP_S, (index + 1) * STEP_S)
        truth = sum((watts_at(s) + watts_at(s + 1)) / 2 for s in seconds)
        assert section["energy_j"] == pytest.approx(truth, rel=0.01), step
        assert section["coverage"] >= 0.95
    volts = make_client().query(
        'SELECT count("value") FROM "sensors" WHERE "run" = $run AND "sensor" = \'volts\'',
        bind_params={"run": str(run.pk)},
    )
    assert next(iter(volts.get_points()))["count"] == len(STEPS) * STEP_S
