"""The events API goes away between two steps of a recorded scenario (its web server is
SIGKILLed) and comes back a few seconds later: the SDK keeps the events it could not send, sends
them in order once the server answers, and the run's steps are whole: every name, in order, each
starting when the SDK call was made (within a few ms)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import energylab_sdk as energy
import pytest
import requests
from django.contrib.auth.models import User
from energylab_sdk import _client as sdk_client

from access.tokens import issue_token
from energylab.testing import free_port, wait_until
from events.ingest.correlation import to_ns
from events.models import Run
from tests.e2e.conftest import ROOT, Stack

pytestmark = pytest.mark.django_db(transaction=True)

POD = "reliability: API restart"
TOLERANCE_MS = 10.0


class WebServer:
    """gunicorn serving EnergyLab on the test database, on a loopback port of its own."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.stack.tmp / f"web{self.starts}.log", "wb")  # noqa: SIM115 - with the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "energylab.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "4",
            ],
            cwd=ROOT,
            env=self.stack.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.stack.processes.append((f"web{self.starts}", self.process))

        def answers() -> bool:
            try:
                return requests.get(f"{self.url}/api/v1/time/", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(answers, 30, "the web server to answer", every=0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.stack.kill(self.process, signal.SIGKILL)


@pytest.fixture
def web(stack: Stack) -> Iterator[WebServer]:
    server = WebServer(stack)
    server.start()
    try:
        yield server
    finally:
        energy.configure(url=None)


@pytest.mark.timeout(90)
def test_steps_sent_while_the_api_restarts_arrive_whole_and_in_order(web: WebServer) -> None:
    token = issue_token(User.objects.create_user("ci-restart"))[1]
    energy.configure(url=web.url, pod=POD, token=token, timeout=1.0)
    called: dict[str, int] = {}

    def step(name: str) -> None:
        before = time.time_ns()
        energy.Energy.set_step(name)
        called[name] = (before + time.time_ns()) // 2

    with energy.recording("the API restarts", step="one"):
        called["one"] = time.time_ns()
        time.sleep(0.5)
        step("two")
        assert energy.flush(5.0)
        web.kill()
        down = time.monotonic()
        time.sleep(0.5)
        step("three, while down")
        time.sleep(1.0)
        step("four = still down")
        time.sleep(2.0)
        web.start()
        downtime = time.monotonic() - down
        step("five")
        time.sleep(0.3)
    delivered = energy.flush(15.0)
    figures = sdk_client.current().stats  # the SDK's counters, as its own tests read them
    run = Run.objects.get(pod__name=POD)
    steps = list(run.steps.order_by("started_at"))
    offsets_ms = {s.name: (to_ns(s.started_at) - called[s.name]) / 1e6 for s in steps}
    print(
        f"events expected 6 (start in step one, 4 steps, stop), sent {figures.sent}, rejected "
        f"{figures.rejected}, retries {figures.failures}; API down {downtime:.1f} s; steps "
        f"{[s.name for s in steps]}; start offsets vs the calls (ms) "
        + ", ".join(f"{name}: {offset:+.1f}" for name, offset in offsets_ms.items())
    )
    assert delivered
    assert figures.sent == 6
    assert figures.rejected == 0
    assert figures.failures >= 1  # the SDK did meet the dead server
    assert [s.name for s in steps] == [
        "one",
        "two",
        "three, while down",
        "four = still down",
        "five",
    ]
    assert run.ended_at is not None
    for index, current in enumerate(steps[:-1]):
        assert current.ended_at == steps[index + 1].started_at
    assert all(abs(offset) <= TOLERANCE_MS for offset in offsets_ms.values()), offsets_ms
