"""A report says whether its figures are final: the run's last samples may still wait in the
buffer for the correlation delay, or be on their way from a poll. Real Redis."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from collectors.models import BMCType, Pod, Server
from events.ingest.buffer import SampleBuffer
from events.ingest.settling import settling
from events.models import Run, Step
from events.reports.report import run_report

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)


def push_entry_at(buffer: SampleBuffer, moment: dt.datetime) -> None:
    """An entry in the stream as if a poll had pushed it at ``moment``."""
    millis = int(moment.timestamp() * 1000)
    buffer.client.xadd(buffer.stream_key, {"s": "[]"}, id=f"{millis}-0")


def test_samples_long_written_are_final(buffer) -> None:
    now = timezone.now()
    result = settling(now - 60 * SECOND, 1.0, now, buffer)
    assert result.final is True
    assert result.final_after is None
    assert result.warning is None


def test_just_after_the_end_the_figures_are_not_final_and_say_until_when(buffer) -> None:
    now = timezone.now()
    result = settling(now, 1.0, now, buffer)
    assert result.final is False
    # pushed by a read timeout (0.8 s) and 1 s of slack later, then the delay and a pass
    expected = now + dt.timedelta(seconds=1.8 + settings.CORRELATION_DELAY + 1.0)
    assert result.final_after is not None
    assert expected <= result.final_after <= expected + SECOND
    assert result.warning is not None
    assert "may not be in InfluxDB yet" in result.warning


def test_an_entry_pushed_before_the_run_ended_and_still_waiting_is_waited_for(buffer) -> None:
    now = timezone.now()
    needed_until = now - 30 * SECOND
    push_entry_at(buffer, needed_until - SECOND)
    result = settling(needed_until, 1.0, now, buffer)
    assert result.final is False
    assert result.final_after is not None
    assert result.final_after > now


def test_only_entries_pushed_after_the_samples_were_due_do_not_hold_it_back(buffer) -> None:
    now = timezone.now()
    needed_until = now - 30 * SECOND
    push_entry_at(buffer, needed_until + 5 * SECOND)
    assert settling(needed_until, 1.0, now, buffer).final is True


def test_redis_not_answering_leaves_it_unknown_and_says_so() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = SampleBuffer(
        redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5), 1000, "dead"
    )
    now = timezone.now()
    result = settling(now - 60 * SECOND, 1.0, now, dead)
    assert result.final is None
    assert result.warning is not None
    assert "Redis does not answer" in result.warning


@pytest.fixture
def pod() -> Pod:
    pod = Pod.objects.create(name="settling pod", poll_interval=1)
    Server.objects.create(pod=pod, name="node", bmc_type=BMCType.PUSH)
    return pod


def test_a_report_just_after_the_run_ended_is_not_final(buffer, influx, pod) -> None:
    now = timezone.now()
    run = Run.objects.create(pod=pod, scenario="s", started_at=now - 20 * SECOND, ended_at=now)
    Step.objects.create(run=run, name="only", started_at=run.started_at, ended_at=now)
    report = run_report(run)
    assert report["final"] is False
    assert report["final_after"] is not None
    assert report["final_after"].endswith("Z")
    assert any("may not be in InfluxDB yet" in w for w in report["warnings"])


def test_a_report_of_an_old_run_is_final_and_a_running_one_is_not(buffer, influx, pod) -> None:
    now = timezone.now()
    old = Run.objects.create(
        pod=pod, scenario="s", started_at=now - 600 * SECOND, ended_at=now - 300 * SECOND
    )
    report = run_report(old)
    assert (report["final"], report["final_after"]) == (True, None)
    assert not any("InfluxDB yet" in w for w in report["warnings"])
    running = Run.objects.create(pod=pod, scenario="s", started_at=now - 10 * SECOND)
    report = run_report(running)
    assert (report["final"], report["final_after"]) == (False, None)
    assert "the run is still running: figures up to now" in report["warnings"]
    assert not any("InfluxDB yet" in w for w in report["warnings"])
