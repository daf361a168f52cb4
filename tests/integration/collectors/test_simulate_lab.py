"""``manage.py simulate_lab --register``: a lab that stops leaves nothing polled behind."""

from __future__ import annotations

import io
import json
import os
import signal
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django_celery_beat.models import PeriodicTask

from collectors.models import Server
from collectors.polling import read_now
from collectors.schedule import PREFIX
from energylab.testing import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stopped_simulated_lab_is_taken_off_beats_schedule() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    registered = threading.Event()

    def stop_once_registered() -> None:
        try:
            wait_until(
                lambda: Server.objects.filter(pod__name="sim", active=True).count() == 2,
                30,
                "the simulated lab to register its servers",
            )
            registered.set()
        finally:
            connection.close()  # this thread's own connection, or the test database stays in use
            os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_once_registered)
    stopper.start()
    try:
        call_command("simulate_lab", "--pod", "sim", "--ipmi", "1", "--redfish", "1", "--register")
    finally:
        stopper.join()
        signal.signal(signal.SIGTERM, previous)
    assert registered.is_set()
    assert not Server.objects.filter(pod__name="sim", active=True).exists()
    assert not PeriodicTask.objects.filter(name__startswith=PREFIX).exists()


def test_a_simulated_lab_of_meters_registers_servers_that_read_their_power() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    readings: dict[str, tuple[float, str]] = {}
    polled: list[str] = []

    def read_once_registered() -> None:
        try:
            wait_until(
                lambda: Server.objects.filter(pod__name="meters", active=True).count() == 4,
                30,
                "the simulated meters to register",
            )
            for server in Server.objects.filter(pod__name="meters"):
                reading = read_now(server)
                readings[server.name] = (reading.watts, reading.source)
            out = io.StringIO()
            call_command("poll_server", "meters-snmp-1", "--json", stdout=out)
            polled.append(out.getvalue())
        finally:
            connection.close()
            os.kill(os.getpid(), signal.SIGTERM)

    reader = threading.Thread(target=read_once_registered)
    reader.start()
    try:
        call_command(
            "simulate_lab",
            *("--pod", "meters", "--snmp", "1", "--modbus", "1", "--shelly", "2"),
            *("--profile", "240", "--register"),
            stdout=io.StringIO(),
        )
    finally:
        reader.join()
        signal.signal(signal.SIGTERM, previous)
    assert readings == {
        "meters-snmp-1": (240.0, "snmp:apc#1+apc#2"),
        "meters-modbus-1": (240.0, "modbus:power"),
        "meters-shelly-1": (240.0, "shelly:gen2"),
        "meters-shelly-2": (240.0, "shelly:gen1"),
    }
    answer = json.loads(polled[0])
    assert answer["parts"] == [{"name": "apc#1", "watts": 120.0}, {"name": "apc#2", "watts": 120.0}]
