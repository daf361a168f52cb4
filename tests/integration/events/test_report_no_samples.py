"""A report of a run without samples says why, from the pod as it is now."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from collectors.models import BMCType, Pod, Server
from events.models import Run
from events.reports.report import run_report

pytestmark = pytest.mark.django_db


def empty_run(pod: Pod) -> Run:
    now = timezone.now()
    return Run.objects.create(
        pod=pod, scenario="s", started_at=now - dt.timedelta(seconds=30), ended_at=now
    )


def polled_server(pod: Pod, **health: object) -> Server:
    server = Server.objects.create(pod=pod, name=f"{pod.name}-1", bmc_type=BMCType.IPMI, host="h")
    Server.objects.filter(pk=server.pk).update(**health)
    return server


def test_an_inactive_pod_is_named_as_the_reason(influx) -> None:
    pod = Pod.objects.create(name="off", active=False)
    assert "pod 'off' is inactive" in " ".join(run_report(empty_run(pod))["warnings"])


def test_a_pod_without_servers_is_told_to_add_them(influx) -> None:
    pod = Pod.objects.create(name="bare")
    assert "has no active server" in " ".join(run_report(empty_run(pod))["warnings"])


def test_a_failing_bmc_is_named_with_its_error(influx) -> None:
    pod = Pod.objects.create(name="lab", poll_interval=10)
    polled_server(
        pod, consecutive_failures=2, last_error="RAKP2: unauthorized", last_error_at=timezone.now()
    )
    warnings = " ".join(run_report(empty_run(pod))["warnings"])
    assert "the BMC of 'lab-1' fails (2 time(s) in a row): RAKP2: unauthorized" in warnings
    assert "no worker" not in warnings


def test_stale_servers_name_the_queue_no_worker_reads(influx) -> None:
    pod = Pod.objects.create(name="lab", poll_interval=10, queue="lab-east")
    polled_server(pod, created=timezone.now() - dt.timedelta(minutes=5))
    warnings = " ".join(run_report(empty_run(pod))["warnings"])
    assert "no worker seems to read queue 'lab-east': servers 'lab-1'" in warnings
