"""The whole job: simulated BMCs and meters (IPMI, Redfish, an SNMP PDU feeding one server from
two outlets, a Modbus meter, a Shelly plug) with a known power profile are polled by a real
worker and beat, CI records a three-step scenario through the SDK against the live API, the
writer correlates the samples into InfluxDB, and the report's energy per step is within 1 % of
the truth."""

from __future__ import annotations

import time

import energylab_sdk as energy
import pytest
from django.contrib.auth.models import User

from access.tokens import issue_token
from collectors.models import BMCType, Pod, Server
from collectors.simulators.ipmi import IPMISimulator
from collectors.simulators.modbus import ModbusSimulator
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator
from collectors.simulators.shelly import ShellySimulator
from collectors.simulators.snmp import SNMPSimulator
from energylab.testing import wait_until
from events.influx import make_client
from events.ingest.buffer import SampleBuffer
from events.models import Run, RunReport
from events.reports.report import run_report
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.django_db(transaction=True)

POD = 'e2e "lab", rack=7 ⚡'
STEP_S = 12.0  # each step lasts twelve poll intervals
STEPS = ["boot, cold", "load = heavy", "cool\\down"]
WATTS = {"ipmi": [180, 420, 240], "redfish": [150, 300, 200], "legacy": [220, 260, 500]}
# The legacy BMC holds its reading 3 s (sample-and-hold), polled every second.
REFRESH_S = {"ipmi": 1.0, "redfish": 1.0, "legacy": 3.0}
# meters; the PDU's server draws through two outlets (one per PSU), each an "outlet" profile
WATTS |= {"outlet a": [90, 210, 120], "outlet b": [95, 200, 130], "modbus": [160, 280, 220]}
WATTS |= {"shelly": [120, 200, 170]}  # loads as large as the BMCs': the same noise (4 W)
REFRESH_S |= {"outlet a": 1.0, "outlet b": 1.0, "modbus": 1.0, "shelly": 1.0}


class Sum:
    """The truth of a server fed by several outlets: their profiles' sum."""

    def __init__(self, *profiles: PowerProfile) -> None:
        self.profiles = profiles

    def energy_j(self, start: float, end: float) -> float:
        return sum(p.energy_j(start, end) for p in self.profiles)


@pytest.mark.timeout(180)
def test_a_recorded_scenario_reports_each_steps_energy_within_one_percent(
    stack: Stack, live_server, settings
) -> None:
    settings.CORRELATION_DELAY = 2.0  # the SDK sends asynchronously: samples wait for events
    user = User.objects.create_user("ci")
    token = issue_token(user)[1]
    epoch = float(int(time.time()) + 6)  # the profiles and the steps start together
    profiles = {
        kind: PowerProfile(
            [(30.0, 150.0)] + [(STEP_S, w) for w in watts] + [(600.0, 150.0)],
            refresh=REFRESH_S[kind],
            noise=4.0,
            seed=index,
            epoch=epoch - 30.0,
        )
        for index, (kind, watts) in enumerate(WATTS.items())
    }
    modbus_power = {"name": "power", "unit": "W", "register_address": 10, "register_type": "MBF"}
    with (
        IPMISimulator(profiles["ipmi"]) as ipmi,
        RedfishSimulator(profiles["redfish"], flavour="environment-metrics") as redfish,
        RedfishSimulator(profiles["legacy"], flavour="legacy-power") as legacy,
        SNMPSimulator([profiles["outlet a"], profiles["outlet b"]]) as pdu,
        ModbusSimulator(profiles["modbus"]) as meter,
        ShellySimulator(profiles["shelly"], generation=2, password="password") as plug,
    ):
        pod = Pod.objects.create(name=POD, poll_interval=1)
        for name, kind, host, port, settings_ in [
            ("node ipmi", BMCType.IPMI, "127.0.0.1", ipmi.port, {}),
            ("node, redfish", BMCType.REDFISH, "http://127.0.0.1", redfish.port, {}),
            ('node "legacy"', BMCType.REDFISH, "http://127.0.0.1", legacy.port, {}),
            ("node pdu", BMCType.SNMP, "127.0.0.1", pdu.port, {"pdu": "apc", "outlets": [1, 2]}),
            ("switch modbus", BMCType.MODBUS, "127.0.0.1", meter.port, {"sensors": [modbus_power]}),
            ("box shelly", BMCType.SHELLY, "http://127.0.0.1", plug.port, {}),
        ]:
            server = Server(
                pod=pod,
                name=name,
                bmc_type=kind,
                host=host,
                port=port,
                username="admin",
                source_settings=settings_,
            )
            server.password = "public" if kind == BMCType.SNMP else "password"
            server.full_clean()
            server.save()
        truth = {
            "node ipmi": profiles["ipmi"],
            "node, redfish": profiles["redfish"],
            'node "legacy"': profiles["legacy"],
            "node pdu": Sum(profiles["outlet a"], profiles["outlet b"]),
            "switch modbus": profiles["modbus"],
            "box shelly": profiles["shelly"],
        }

        stack.worker("poll,writer,default")
        stack.beat()
        buffer = SampleBuffer.from_settings()
        wait_until(
            lambda: Server.objects.filter(pod=pod, last_success_at__isnull=False).count() == 6,
            60,
            "first polls",
        )

        energy.configure(url=live_server.url, pod=POD, token=token)
        time.sleep(max(0.0, epoch - time.time()))
        with energy.recording("e2e scenario", step=STEPS[0]):
            for name in STEPS[1:]:
                time.sleep(max(0.0, epoch + STEP_S * (STEPS.index(name)) - time.time()))
                energy.Energy.set_step(name)
            time.sleep(max(0.0, epoch + STEP_S * len(STEPS) - time.time()))
        assert energy.flush(5.0)

        run = Run.objects.get(pod=pod)
        assert run.ended_at is not None
        assert [s.name for s in run.steps.order_by("started_at")] == STEPS
        # Once every sample it reads has reached InfluxDB, beat's check has the worker store
        # the final report; run_report serves it from the database then.
        wait_until(
            lambda: RunReport.objects.filter(run=run, stale=False).exists(),
            60,
            "the worker to store the run's final report",
        )
        report = run_report(run)
        assert report == RunReport.objects.get(run=run).document
        assert report["final"] is True
        print("report:", [(s["name"], s["energy_j"], s["coverage"]) for s in report["steps"]])
        for step_report, step in zip(
            report["steps"], run.steps.order_by("started_at"), strict=True
        ):
            a, b = step.started_at.timestamp(), step.ended_at.timestamp()
            expected = sum(p.energy_j(a, b) for p in truth.values())
            assert step_report["energy_j"] == pytest.approx(expected, rel=0.01), step.name
            assert step_report["coverage"] >= 0.95
            assert step_report["energy_j_low"] <= expected <= step_report["energy_j_high"]
            for server in step_report["servers"]:
                one = truth[server["server"]].energy_j(a, b)
                assert server["energy_j"] == pytest.approx(one, rel=0.01), (
                    step.name,
                    server["server"],
                )
                assert server["energy_j_low"] <= one <= server["energy_j_high"], server
            # The PDU's server: each outlet's share of its energy, against each outlet's truth.
            (pdu,) = (s for s in step_report["servers"] if s["server"] == "node pdu")
            outlets = {part["name"]: part["energy_j"] for part in pdu["parts"]}
            assert outlets == pytest.approx(
                {
                    "apc#1": profiles["outlet a"].energy_j(a, b),
                    "apc#2": profiles["outlet b"].energy_j(a, b),
                },
                rel=0.02,
            ), step.name
        assert report["sources"]['node "legacy"']["refresh_from"] == "learned"
        counters = {s["server"]: s["method"] for s in report["steps"][1]["servers"]}
        assert counters["node, redfish"] == "counter"  # EnvironmentMetrics keeps an energy counter

        # The writer tagged samples inside each step with it (Grafana relies on these tags).
        tagged = make_client().query(
            'SELECT count("watts") FROM "power" WHERE "run" = $run GROUP BY "step"',
            bind_params={"run": str(run.pk)},
        )
        steps_seen = {tags["step"] for (_m, tags), _points in tagged.items()}
        assert steps_seen == set(STEPS)
        assert buffer.dropped() == 0
