"""A run's step count is kept by the database, whoever adds, removes or moves its steps."""

from __future__ import annotations

import datetime as dt

import pytest

from collectors.models import Pod
from events.models import Run, Step

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 25, 8, 0, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


def make_run(pod: str = "pod") -> Run:
    return Run.objects.create(
        pod=Pod.objects.get_or_create(name=pod)[0], scenario="s", started_at=T0
    )


def count(run: Run) -> int:
    return Run.objects.values_list("step_count", flat=True).get(pk=run.pk)


def test_steps_created_one_by_one_or_in_bulk_are_counted() -> None:
    run = make_run()
    Step.objects.create(run=run, name="one", started_at=T0, ended_at=T0 + S)
    Step.objects.bulk_create(
        [
            Step(run=run, name=f"bulk {i}", started_at=T0 + i * S, ended_at=T0 + i * S)
            for i in (2, 3)
        ]
    )
    assert count(run) == 3 == run.steps.count()


def test_deleted_steps_are_no_longer_counted() -> None:
    run = make_run()
    for i in range(4):
        Step.objects.create(run=run, name=f"s{i}", started_at=T0 + i * S, ended_at=T0 + i * S)
    run.steps.filter(name__in=["s0", "s1"]).delete()
    Step.objects.get(name="s2").delete()
    assert count(run) == 1


def test_a_step_moved_to_another_run_counts_there() -> None:
    first, second = make_run("a"), make_run("b")
    step = Step.objects.create(run=first, name="moved", started_at=T0)
    step.run = second
    step.save()
    Step.objects.filter(pk=step.pk).update(name="renamed")  # no move: counts unchanged
    assert (count(first), count(second)) == (0, 1)


def test_saving_a_run_read_before_its_steps_keeps_their_count() -> None:
    run = make_run()
    stale = Run.objects.get(pk=run.pk)
    Step.objects.create(run=run, name="one", started_at=T0)
    stale.scenario = "renamed"
    stale.save()
    assert count(run) == 1
    assert Run.objects.get(pk=run.pk).scenario == "renamed"


def test_deleting_a_run_deletes_its_steps_and_their_count() -> None:
    run = make_run()
    Step.objects.create(run=run, name="one", started_at=T0)
    run.delete()
    assert not Run.objects.exists()
    assert not Step.objects.exists()


def test_a_run_saved_with_its_fields_named_or_forced_in_saves_as_django_does() -> None:
    run = make_run()
    Step.objects.create(run=run, name="one", started_at=T0)
    run.scenario = "named"
    run.save(update_fields=["scenario"])
    copy = Run(pod=run.pod, scenario="copy", started_at=T0 + S, ended_at=T0 + S)
    copy.save(force_insert=True)
    assert count(run) == 1
    assert Run.objects.get(pk=run.pk).scenario == "named"
    assert count(copy) == 0
