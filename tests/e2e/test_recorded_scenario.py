"""The whole job: simulated BMCs with a known power profile are polled by a real worker and beat,
CI records a three-step scenario through the SDK against the live API, the writer correlates
the samples into InfluxDB, and the report's energy per step is within 1 % of the truth."""

from __future__ import annotations

import time

import energylab_sdk as energy
import pytest
from django.contrib.auth.models import User

from access.tokens import issue_token
from collectors.models import BMCType, Pod, Server
from collectors.simulators.ipmi import IPMISimulator
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator
from energylab.testing import wait_until
from events.influx import make_client
from events.ingest.buffer import SampleBuffer
from events.models import Run
from events.reports.report import run_report
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.django_db(transaction=True)

POD = 'e2e "lab", rack=7 ⚡'
STEP_S = 12.0  # each step lasts twelve poll intervals
STEPS = ["boot, cold", "load = heavy", "cool\\down"]
WATTS = {"ipmi": [180, 420, 240], "redfish": [150, 300, 200], "legacy": [220, 260, 500]}
# The legacy BMC holds its reading 3 s (sample-and-hold), polled every second.
REFRESH_S = {"ipmi": 1.0, "redfish": 1.0, "legacy": 3.0}


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
    with (
        IPMISimulator(profiles["ipmi"]) as ipmi,
        RedfishSimulator(profiles["redfish"], flavour="environment-metrics") as redfish,
        RedfishSimulator(profiles["legacy"], flavour="legacy-power") as legacy,
    ):
        pod = Pod.objects.create(name=POD, poll_interval=1)
        for name, kind, host, port in [
            ("node ipmi", BMCType.IPMI, "127.0.0.1", ipmi.port),
            ("node, redfish", BMCType.REDFISH, "http://127.0.0.1", redfish.port),
            ('node "legacy"', BMCType.REDFISH, "http://127.0.0.1", legacy.port),
        ]:
            server = Server(
                pod=pod, name=name, bmc_type=kind, host=host, port=port, username="admin"
            )
            server.password = "password"
            server.save()
        truth = dict(
            zip(["node ipmi", "node, redfish", 'node "legacy"'], profiles.values(), strict=True)
        )

        stack.worker("poll,writer,default")
        stack.beat()
        buffer = SampleBuffer.from_settings()
        wait_until(
            lambda: Server.objects.filter(pod=pod, last_success_at__isnull=False).count() == 3,
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
        # The report itself says when every sample it reads has reached InfluxDB.
        wait_until(lambda: run_report(run)["final"], 60, "the report's figures to be final")

        report = run_report(run)
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
