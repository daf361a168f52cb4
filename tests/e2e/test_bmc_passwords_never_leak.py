"""A BMC password never shows: not in API answers (lists, details, ``?format=json``, the
schema), not in the database column (raw SQL), not in any log record (every logger at DEBUG,
pyghmi, redfish and urllib3 included) or exception text while IPMI and Redfish BMCs are polled
with a right and a wrong password, and not on any process's command line while a real worker
polls."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from access.tokens import issue_token
from collectors.drivers.base import DriverError
from collectors.models import BMCType, Pod, Server
from collectors.polling import read_now
from collectors.simulators.ipmi import IPMISimulator
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator
from energylab.testing import wait_until
from tests.e2e.conftest import Stack

RIGHT = "Rt-s3cret:pw!42"  # the simulators' password
WRONG = "Wr-s3cret:pw!43"  # a password the simulators refuse
SECRETS = (RIGHT, WRONG)


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def add_server(pod: Pod, name: str, kind: str, port: int, password: str) -> Server:
    host = "127.0.0.1" if kind == BMCType.IPMI else "http://127.0.0.1"
    server = Server(pod=pod, name=name, bmc_type=kind, host=host, port=port, username="admin")
    server.password = password
    server.save()
    return server


@pytest.fixture
def lab(db: None) -> Iterator[dict[str, Server]]:
    profile = PowerProfile.constant(200.0)
    # The wrong password gets a BMC of its own: the simulator keys a session by the client's
    # address, and pyghmi sends every session of a process to one BMC from one socket, so a
    # refused login to a shared simulator replaced the right user's session now and then.
    with (
        IPMISimulator(profile, password=RIGHT) as ipmi,
        IPMISimulator(profile, password=RIGHT) as ipmi_refusing,
        RedfishSimulator(profile, flavour="environment-metrics", password=RIGHT) as redfish,
    ):
        pod = Pod.objects.create(name="security pod", poll_interval=1)
        yield {
            "ipmi right": add_server(pod, "ipmi right", BMCType.IPMI, ipmi.port, RIGHT),
            "ipmi wrong": add_server(pod, "ipmi wrong", BMCType.IPMI, ipmi_refusing.port, WRONG),
            "redfish right": add_server(pod, "redfish right", BMCType.REDFISH, redfish.port, RIGHT),
            "redfish wrong": add_server(pod, "redfish wrong", BMCType.REDFISH, redfish.port, WRONG),
        }


@pytest.mark.django_db
@pytest.mark.timeout(60)
def test_api_answers_and_the_database_never_hold_a_bmc_password(lab) -> None:
    admin = User.objects.create_superuser("sec-admin", password="admin-password")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(admin)[1]}")
    created = client.post(
        "/api/v1/servers/",
        {
            "pod": lab["ipmi right"].pod_id,
            "name": "made by the API",
            "bmc_type": "redfish",
            "host": "http://127.0.0.1",
            "username": "admin",
            "password": RIGHT,
        },
        format="json",
    )
    assert created.status_code == 201
    paths = ["/api/v1/servers/", "/api/v1/servers/?format=json", "/api/schema/"]
    paths += [f"/api/v1/servers/{s.pk}/" for s in Server.objects.all()]
    paths += [f"/api/v1/servers/{s.pk}/?format=json" for s in Server.objects.all()]
    bodies = {"POST /api/v1/servers/": created.content.decode()}
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 200, path
        bodies[path] = answer.content.decode()
    for item in client.get("/api/v1/servers/").json()["results"]:
        assert "password" not in item
        assert item["has_password"] is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT password_encrypted FROM collectors_server")
        column = [row[0] for row in cursor.fetchall()]
    print(
        f"{len(bodies)} API answers, {len(column)} stored passwords: "
        f"{sum(len(leaks(b)) for b in bodies.values())} leaks in answers, "
        f"{sum(len(leaks(c)) for c in column)} in the column"
    )
    assert all(not leaks(body) for body in bodies.values())
    assert all(value and not leaks(value) for value in column)


@pytest.mark.django_db
@pytest.mark.timeout(90)
def test_no_log_record_or_error_text_holds_a_bmc_password(lab, caplog) -> None:
    noisy = ["pyghmi", "redfish", "urllib3", "collectors", "events", "energylab"]
    levels = {name: logging.getLogger(name).level for name in noisy}
    for name in noisy:
        logging.getLogger(name).setLevel(logging.DEBUG)
    texts: list[str] = []
    outcomes = {}
    try:
        with caplog.at_level(logging.DEBUG):  # a handler on the root logger, every record
            for name, server in lab.items():
                for _ in range(2):  # a login, then a session reused (or a second refusal)
                    try:
                        outcomes[name] = f"{read_now(server, timeout=3).watts} W"
                    except DriverError as exc:
                        outcomes[name] = str(exc)
                        texts += [str(exc), repr(exc), repr(exc.args)]
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    records = caplog.records
    texts += [caplog.text]
    texts += [record.getMessage() for record in records]
    texts += [repr(record.args) for record in records]
    print(
        f"{len(records)} log records at DEBUG, {len(texts)} texts scanned; outcomes {outcomes}; "
        f"leaks: {sum(len(leaks(t)) for t in texts)}"
    )
    assert outcomes["ipmi right"] == outcomes["redfish right"] == "200.0 W"
    assert "W" not in outcomes["ipmi wrong"][-2:]  # refused
    assert "W" not in outcomes["redfish wrong"][-2:]
    assert len(records) > 0
    assert [t for t in texts if leaks(t)] == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
def test_no_command_line_holds_a_bmc_password_while_a_worker_polls(lab, stack: Stack) -> None:
    stack.worker("poll", name="poller")
    stack.beat()
    wait_until(
        lambda: Server.objects.filter(last_success_at__isnull=False).count() == 2,
        60,
        "the first polls",
    )
    scanned = 0
    found: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for path in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                cmdline = path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # the process ended meanwhile
            scanned += 1
            found += [f"{path}: {cmdline[:200]}" for _ in leaks(cmdline)]
        time.sleep(0.1)
    refused = dict(
        Server.objects.filter(consecutive_failures__gt=0).values_list("name", "last_error")
    )
    failures = len(refused)
    print(f"{scanned} command lines scanned during polls, refused {refused}, leaks {found}")
    assert failures == 2
    assert found == []
