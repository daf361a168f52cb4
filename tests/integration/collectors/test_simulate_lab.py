"""``manage.py simulate_lab --register``: a lab that stops leaves nothing polled behind."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django_celery_beat.models import PeriodicTask

from collectors.models import Server
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
