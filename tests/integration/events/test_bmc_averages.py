"""The BMC's own averages end to end: simulated BMCs that state them, the real poller and
drivers, the buffer, InfluxDB and the report (drivers.averaging, docs/collectors.md)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from collectors.models import BMCType, Pod, Server
from collectors.polling import Poller, record_health, samples_from
from collectors.simulators.ipmi import IPMISimulator
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator
from events.ingest.writer import InfluxWriter
from events.models import Run, Step
from events.reports.report import run_report

pytestmark = pytest.mark.django_db


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def test_averages_over_a_poll_are_read_dated_at_their_middle_and_reported_as_such(
    buffer, influx
) -> None:
    # 200 W and 400 W by turns, 2 s each, averaged by the BMCs over 1 s, polled every second.
    start = time.time()
    profile = PowerProfile([(2.0, 200.0), (2.0, 400.0)], refresh=0.0, epoch=start)
    pod = Pod.objects.create(name="averaging BMCs", poll_interval=1)
    poller = Poller(threads=2)
    with (
        IPMISimulator(profile, dcmi_period=1.0) as ipmi,
        RedfishSimulator(profile, sensor_averaging_s=1.0) as redfish,
    ):
        servers = [
            Server(pod=pod, name="dcmi", bmc_type=BMCType.IPMI, host="127.0.0.1", port=ipmi.port),
            Server(
                pod=pod,
                name="sensor",
                bmc_type=BMCType.REDFISH,
                host="http://127.0.0.1",
                port=redfish.port,
            ),
        ]
        for server in servers:
            server.username, server.password = "admin", "password"
            server.save()
            server.pod = pod
        by_id = {s.pk: s for s in servers}
        try:
            while time.time() < start + 6.5:
                outcomes = poller.poll(servers, deadline_s=2.0)
                buffer.push(samples_from(outcomes, by_id))
                record_health(outcomes, by_id, dt.datetime.now(dt.UTC))
                time.sleep(max(0.0, 1.0 - (time.time() - start) % 1.0))
        finally:
            poller.shutdown()
    InfluxWriter(buffer, influx, delay=0).flush()
    run = Run.objects.create(pod=pod, scenario="avg", started_at=at(start), ended_at=at(start + 6))
    Step.objects.create(run=run, name="load", started_at=at(start + 1), ended_at=at(start + 5))

    report = run_report(run)

    truth = profile.energy_j(start + 1, start + 5)
    for name in ("dcmi", "sensor"):
        assert report["sources"][name]["reading"] == "average"
        (server,) = (s for s in report["steps"][0]["servers"] if s["server"] == name)
        assert server["energy_j_low"] <= truth <= server["energy_j_high"]
        assert server["energy_j"] == pytest.approx(truth, rel=0.03), (server, truth)
    assert Server.objects.get(name="dcmi").last_source == "dcmi:average"
    assert Server.objects.get(name="sensor").last_source == "redfish:Sensor:average"
