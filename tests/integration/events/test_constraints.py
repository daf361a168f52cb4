"""Model rules give clear errors, never a half-written run."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from collectors.models import Pod
from events.models import Run, Step

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture
def pod() -> Pod:
    return Pod.objects.create(name='lab, pod=7 "east"')


def test_a_pod_cannot_have_two_running_runs(pod: Pod) -> None:
    Run.objects.create(pod=pod, scenario="a", started_at=T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(pod=pod, scenario="b", started_at=T0 + dt.timedelta(seconds=1))


def test_validation_names_the_running_run_rule(pod: Pod) -> None:
    Run.objects.create(pod=pod, scenario="a", started_at=T0)
    with pytest.raises(ValidationError, match="this pod already has a running run"):
        Run(pod=pod, scenario="b", started_at=T0).full_clean()


def test_ended_runs_do_not_count_as_running(pod: Pod) -> None:
    Run.objects.create(pod=pod, scenario="a", started_at=T0, ended_at=T0 + dt.timedelta(1))
    Run.objects.create(pod=pod, scenario="b", started_at=T0 + dt.timedelta(2))
    assert pod.runs.filter(ended_at__isnull=True).count() == 1


def test_a_run_cannot_end_before_it_starts(pod: Pod) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(pod=pod, scenario="a", started_at=T0, ended_at=T0 - dt.timedelta(1))


def test_timestamps_keep_microseconds(pod: Pod) -> None:
    run = Run.objects.create(pod=pod, scenario="a", started_at=T0)
    assert Run.objects.get(pk=run.pk).started_at == T0


def test_steps_of_one_run_may_not_overlap(pod: Pod) -> None:
    run = Run.objects.create(pod=pod, scenario="a", started_at=T0)
    Step.objects.create(run=run, name="one", started_at=T0, ended_at=T0 + dt.timedelta(seconds=10))
    overlapping = Step(run=run, name="two", started_at=T0 + dt.timedelta(seconds=5))
    with pytest.raises(ValidationError, match="may not overlap"):
        overlapping.full_clean()
    following = Step(run=run, name="two", started_at=T0 + dt.timedelta(seconds=10))
    following.full_clean()


def test_a_run_has_at_most_one_running_step(pod: Pod) -> None:
    run = Run.objects.create(pod=pod, scenario="a", started_at=T0)
    Step.objects.create(run=run, name="one", started_at=T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Step.objects.create(run=run, name="two", started_at=T0 + dt.timedelta(seconds=1))


def test_a_step_cannot_start_before_its_run(pod: Pod) -> None:
    run = Run.objects.create(pod=pod, scenario="a", started_at=T0)
    with pytest.raises(ValidationError, match="before its run"):
        Step(run=run, name="early", started_at=T0 - dt.timedelta(seconds=1)).full_clean()


@pytest.mark.parametrize("name", ["line\nbreak", "tab\there", "nul\x00", "bell\x07"])
def test_names_with_control_characters_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        Pod(name=name).full_clean()


@pytest.mark.parametrize(
    "name", ["lab pod 7", "a,b=c", 'quote"d', "back\\slash", "énergie ⚡ 電力", "'single'"]
)
def test_printable_names_are_stored_exactly(name: str) -> None:
    pod = Pod(name=name)
    pod.full_clean()
    pod.save()
    assert Pod.objects.get(pk=pod.pk).name == name
