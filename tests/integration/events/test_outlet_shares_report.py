"""A server fed by two PDU outlets, end to end: the SNMP PDU simulator, the real poller and
driver, the buffer, the writer, InfluxDB, the report and its stored copy (events.reports.parts).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from energylab_sdk import report_format

from collectors.models import BMCType, Pod, Server
from collectors.polling import Poller, samples_from
from collectors.simulators.profile import PowerProfile
from collectors.simulators.snmp import SNMPSimulator
from events.ingest.writer import InfluxWriter
from events.models import Run, Step
from events.reports import stored
from events.reports.report import run_report

pytestmark = pytest.mark.django_db


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def test_the_report_names_each_outlets_share_of_the_servers_energy(buffer, influx) -> None:
    # Outlet 1 draws 100 W then 300 W, outlet 2 a steady 200 W: shares 1/3 then 3/5.
    start = time.time()
    one = PowerProfile([(1.5, 100.0), (60.0, 300.0)], refresh=0.0, epoch=start)
    two = PowerProfile.constant(200.0, refresh=0.0, epoch=start)
    pod = Pod.objects.create(name="pdu lab", poll_interval=1)
    poller = Poller(threads=2)
    with SNMPSimulator([one, two]) as pdu:
        server = Server(
            pod=pod,
            name="node on two outlets",
            bmc_type=BMCType.SNMP,
            host="127.0.0.1",
            port=pdu.port,
            source_settings={"pdu": "apc", "outlets": [1, 2]},
        )
        server.password = "public"
        server.save()
        try:
            while time.time() < start + 3.2:
                buffer.push(
                    samples_from(poller.poll([server], deadline_s=1.0), {server.pk: server})
                )
                time.sleep(0.2)
        finally:
            poller.shutdown()
    InfluxWriter(buffer, influx, delay=0).flush()
    run = Run.objects.create(pod=pod, scenario="pdu", started_at=at(start), ended_at=at(start + 3))
    Step.objects.create(run=run, name="low", started_at=at(start), ended_at=at(start + 1.5))
    Step.objects.create(run=run, name="high", started_at=at(start + 1.5), ended_at=at(start + 3))

    report = run_report(run)

    for step, share in zip(report["steps"], (1 / 3, 3 / 5), strict=True):
        (node,) = step["servers"]
        assert [p["name"] for p in node["parts"]] == ["apc#1", "apc#2"]
        assert node["parts"][0]["share"] == pytest.approx(share, abs=0.04), step["name"]
        # the server's energy is the sum's, and the outlets' energies add up to it
        truth = one.energy_j(*step_edges(step)) + two.energy_j(*step_edges(step))
        assert node["energy_j"] == pytest.approx(truth, rel=0.05)
        assert sum(p["energy_j"] for p in node["parts"]) == pytest.approx(node["energy_j"])
    (node,) = report["total"]["servers"]
    assert sum(p["share"] for p in node["parts"]) == pytest.approx(1.0, abs=1e-3)
    # Stored reports keep the whole JSON: the shares too.
    stored.store(run, report, timezone.now())
    assert run_report(run)["total"]["servers"][0]["parts"] == node["parts"]
    # The run's page: a row per outlet after its server's, in each step and in the total.
    browser = Client()
    browser.force_login(User.objects.create_user("viewer"))
    page = browser.get(f"/runs/{run.pk}/").content.decode()
    assert page.count('data-testid="outlet-share"') == 6
    shown = report_format.percent(node["parts"][0]["share"])
    assert f"node on two outlets · apc#1: {shown}" in page


def step_edges(step: dict[str, Any]) -> tuple[float, float]:
    return (
        dt.datetime.fromisoformat(step["started_at"]).timestamp(),
        dt.datetime.fromisoformat(step["ended_at"]).timestamp(),
    )
