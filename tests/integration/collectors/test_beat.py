"""Beat keeps each poll shard on its own grid of sends (collectors.beat.PhasedEntry)."""

from __future__ import annotations

import datetime as dt

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from collectors.beat import PhasedEntry, PhasedScheduler
from energylab.celery import app

pytestmark = pytest.mark.django_db

START = dt.datetime(2000, 1, 1, 0, 0, 1, 250_000, tzinfo=dt.UTC)  # phase: 1.25 s into 5 s


def make_task(start_time: dt.datetime | None = START, **kwargs) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name="poll pod 1 shard 1/4",
        task="collectors.tasks.poll_pod_shard",
        interval=interval,
        start_time=start_time,
        **kwargs,
    )


def entry_at(task: PeriodicTask, now: dt.datetime, last_run_at: dt.datetime | None) -> PhasedEntry:
    task.last_run_at = last_run_at
    entry = PhasedEntry(task, app=app)
    entry._default_now = lambda: now  # type: ignore[method-assign]
    return entry


def at(seconds: float) -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)


def test_a_shard_is_sent_on_its_grid_not_five_seconds_after_its_last_send() -> None:
    task = make_task()
    # sent 30 ms late for the tick at 1.25 s: the next send is still due at 6.25 s, not 6.28 s
    due, next_s = entry_at(task, at(1.28), last_run_at=at(1.28)).is_due()
    assert not due
    assert next_s == pytest.approx(4.97)
    due, next_s = entry_at(task, at(6.25), last_run_at=at(1.28)).is_due()
    assert due
    assert next_s == pytest.approx(5.0)


def test_a_restarted_beat_sends_each_shard_at_its_own_phase_not_all_at_once() -> None:
    task = make_task()
    # beat was down for an hour: the shard waits for its next tick (6.25 s), then keeps its grid
    due, next_s = entry_at(task, at(3.0), last_run_at=at(-3600)).is_due()
    assert not due
    assert next_s == pytest.approx(3.25)
    due, _ = entry_at(task, at(6.26), last_run_at=at(-3600)).is_due()
    assert due
    due, next_s = entry_at(task, at(6.27), last_run_at=at(6.26)).is_due()
    assert not due
    assert next_s == pytest.approx(4.98)


def test_a_new_shard_is_sent_at_its_first_tick() -> None:
    task = make_task()
    assert not entry_at(task, at(2.5), last_run_at=None).is_due()[0]
    assert entry_at(task, at(6.3), last_run_at=None).is_due()[0]


def test_a_late_beat_still_sends_the_tick_after_its_last_send() -> None:
    task = make_task()
    # the send for 6.25 s comes 3 s late (beat was busy): it is still sent, once
    assert entry_at(task, at(9.25), last_run_at=at(1.26)).is_due()[0]
    assert not entry_at(task, at(9.26), last_run_at=at(9.25)).is_due()[0]


def test_tasks_without_a_start_time_keep_django_celery_beats_behaviour() -> None:
    task = make_task(start_time=None)
    now = dt.datetime.now(dt.UTC)
    due, next_s = entry_at(task, now, last_run_at=now - dt.timedelta(seconds=1)).is_due()
    assert not due
    assert next_s == pytest.approx(4.0, abs=0.2)  # five seconds after the last send


def test_the_project_schedules_with_the_phased_scheduler(settings) -> None:
    assert settings.CELERY_BEAT_SCHEDULER == "collectors.beat:PhasedScheduler"
    assert PhasedScheduler.Entry is PhasedEntry
