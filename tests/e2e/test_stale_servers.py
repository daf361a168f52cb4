"""A pod whose queue no worker reads: its servers turn `stale` (API, /metrics), a report of its
run says which queue to serve, and `energylab report` exits 3 (0 with --allow-empty); a served
pod beside it stays `ok`."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from access.tokens import issue_token
from collectors.models import BMCType, Pod, Server
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator
from energylab.testing import wait_until
from events.models import Run
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.django_db(transaction=True)

FORGOTTEN_QUEUE = "lab-nobody-serves"


def health_by_server(api: APIClient) -> dict[str, str]:
    answer = api.get("/api/v1/servers/", {"limit": 100})
    assert answer.status_code == 200, answer.content
    return {s["name"]: s["health"] for s in answer.json()["results"]}


def energylab_report(live_server, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    cli = shutil.which("energylab", path=os.path.dirname(sys.executable))
    assert cli, "the SDK's console script is not installed (make install)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGYLAB_", "ENERGY_"))}
    env.update(ENERGYLAB_API_URL=live_server.url, ENERGYLAB_API_TOKEN=token)
    return subprocess.run(
        [cli, "report", "--wait", "0", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.timeout(90)
def test_a_pod_with_no_worker_on_its_queue_shows_stale_and_its_empty_run_says_why(
    stack: Stack, live_server
) -> None:
    with (
        RedfishSimulator(PowerProfile.constant(250.0)) as served_bmc,
        RedfishSimulator(PowerProfile.constant(250.0)) as forgotten_bmc,
    ):
        served = Pod.objects.create(name="served", poll_interval=1, queue="poll")
        forgotten = Pod.objects.create(name="forgotten", poll_interval=1, queue=FORGOTTEN_QUEUE)
        for pod, bmc in ((served, served_bmc), (forgotten, forgotten_bmc)):
            server = Server(
                pod=pod,
                name=f"{pod.name}-1",
                bmc_type=BMCType.REDFISH,
                host="http://127.0.0.1",
                port=bmc.port,
                username="admin",
            )
            server.password = "password"  # the simulator's
            server.save()
        now = timezone.now()
        run = Run.objects.create(
            pod=forgotten, scenario="s", started_at=now - dt.timedelta(seconds=5), ended_at=now
        )
        user = User.objects.create_user("ops")
        user.user_permissions.add(Permission.objects.get(codename="view_server"))
        token = issue_token(user)[1]
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

        stack.worker("poll")
        stack.beat()
        wanted = {"served-1": "ok", "forgotten-1": "stale"}
        wait_until(lambda: health_by_server(api) == wanted, 45, f"servers' health {wanted}")

        metrics = Client().get("/metrics").content.decode()
        assert 'energylab_servers_stale{bmc_type="redfish"} 1.0' in metrics

        report = api.get(f"/api/v1/runs/{run.pk}/energy/").json()
        assert any(
            f"no worker seems to read queue '{FORGOTTEN_QUEUE}'" in w for w in report["warnings"]
        ), report["warnings"]
        done = energylab_report(live_server, token, "--run", str(run.pk))
        assert done.returncode == 3, done.stderr
        assert "have no samples" in done.stderr
        assert FORGOTTEN_QUEUE in done.stdout  # the report's warnings say why
        accepted = energylab_report(live_server, token, "--run", str(run.pk), "--allow-empty")
        assert accepted.returncode == 0, accepted.stderr
