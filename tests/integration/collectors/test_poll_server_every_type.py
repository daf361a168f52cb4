"""``manage.py poll_server NAME --json`` for every server type, against the simulated lab: one
JSON object with the watts and the source, or, for a push server, one clear error line."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from collectors.models import BMCType, Pod, Server
from energylab.testing import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

POD = "every type"
EXPECTED = {  # server: (type, source)
    f"{POD}-ipmi-1": (BMCType.IPMI, "dcmi"),
    f"{POD}-redfish-1": (BMCType.REDFISH, "ibmc:PowerMetricsExtended"),
    f"{POD}-ilo-1": (BMCType.ILO, "redfish:PowerSubsystem"),
    f"{POD}-snmp-1": (BMCType.SNMP, "snmp:apc#1+apc#2"),
    f"{POD}-modbus-1": (BMCType.MODBUS, "modbus:power"),
    f"{POD}-shelly-1": (BMCType.SHELLY, "shelly:gen2"),
    f"{POD}-shelly-2": (BMCType.SHELLY, "shelly:gen1"),
}


def poll_json(name: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("poll_server", name, "--json", stdout=out)
    answer: dict[str, Any] = json.loads(out.getvalue())
    return answer


def test_poll_server_json_reads_every_polled_type_and_refuses_a_push_server_clearly() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    answers: dict[str, dict[str, Any]] = {}
    types: dict[str, str] = {}

    def poll_once_registered() -> None:
        try:
            wait_until(
                lambda: Server.objects.filter(pod__name=POD, active=True).count() == len(EXPECTED),
                30,
                "the simulated lab to register its servers",
            )
            for server in Server.objects.filter(pod__name=POD):
                types[server.name] = server.bmc_type
                answers[server.name] = poll_json(server.name)
        finally:
            connection.close()  # this thread's own connection, or the test database stays in use
            os.kill(os.getpid(), signal.SIGTERM)

    poller = threading.Thread(target=poll_once_registered)
    poller.start()
    try:
        call_command(
            "simulate_lab",
            *("--pod", POD, "--ipmi", "1", "--redfish", "1", "--redfish-flavour", "ibmc"),
            *("--ilo", "1", "--snmp", "1", "--modbus", "1", "--shelly", "2"),
            *("--profile", "240", "--register"),
            stdout=io.StringIO(),
        )
    finally:
        poller.join()
        signal.signal(signal.SIGTERM, previous)

    assert set(types.values()) == set(BMCType.values) - {BMCType.PUSH}
    assert {name: (types[name], a["source"]) for name, a in answers.items()} == EXPECTED
    for name, answer in answers.items():
        assert answer["watts"] == pytest.approx(240.0, rel=0.01), name
        assert (answer["server"], answer["pod"]) == (name, POD)
        assert answer["read_at"].endswith("Z")
    assert answers[f"{POD}-redfish-1"]["energy_j"] > 0  # Huawei's counter

    pushed = Server.objects.create(
        pod=Pod.objects.get(name=POD), name="pushed", bmc_type=BMCType.PUSH
    )
    with pytest.raises(CommandError, match="pushed: DriverError: pushed is a push server"):
        call_command("poll_server", pushed.name, "--json")
