"""The event logic: runs start, change step and stop here, whatever API the event came through.

The native views, the legacy ``/resources`` views and anything else that records events call these
functions; none of them writes Run or Step rows itself. Each function is one transaction that
first locks the pod's row, so concurrent events for one pod are applied one after the other and
a failure leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, FilteredRelation, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from collectors.models import Pod
from events.models import Run, RunSource, Step


class EventError(Exception):
    """An event that cannot be applied; ``status`` is the HTTP status that says why."""

    status = 400


class NoRunningRun(EventError):
    """The pod is unknown or runs nothing: there is nothing to change the step of or stop."""

    status = 404


class RunNotFound(EventError):
    status = 404


class EventOutOfOrder(EventError):
    """The event's time is before the start of what it would change or end."""

    status = 409


class RunEnded(EventError):
    """The run named by id has already ended."""

    status = 409


@dataclass(frozen=True)
class Started:
    run: Run
    ended_previous: Run | None


def start_run(
    pod_name: str,
    scenario: str,
    step: str | None = None,
    at: dt.datetime | None = None,
    source: str = RunSource.API,
) -> Started:
    """Start ``scenario`` on the pod (created if unknown), optionally in ``step``.

    A run still running on the pod ends at ``at`` (or at its own latest start, if ``at`` is
    earlier: the old API replaced a scenario without a word, so a late start must not fail).
    Both runs carry their summary (see :func:`set_step`).
    """
    at = at or timezone.now()
    with transaction.atomic():
        pod = _locked_pod(pod_name)
        if pod is None:
            # The old API accepted any environment; its pods were never declared beforehand.
            created, _ = Pod.objects.get_or_create(name=pod_name)
            pod = Pod.objects.select_for_update().get(pk=created.pk)
        previous = _running_run(pod)
        if previous is not None:
            latest_start = max(previous.started_at, previous.running_step_started_at or at)  # type: ignore[attr-defined]
            _end(previous, max(at, latest_start))
        run = Run.objects.create(pod=pod, scenario=scenario, started_at=at, source=source)
        if step is not None:
            Step.objects.create(run=run, name=step, started_at=at)
        _summarize(run, step, 0 if step is None else 1)
    return Started(run, previous)


def set_step(pod_name: str, step: str, at: dt.datetime | None = None) -> Run:
    """Enter ``step`` in the pod's running run, ending its running step.

    The run returned carries its summary as the transaction left it: ``running_step`` (the
    running step's name, or None) and ``steps_counted`` (how many steps it has), and its pod.

    :raises NoRunningRun: the pod is unknown or runs nothing.
    :raises EventOutOfOrder: ``at`` is before the run's or the current step's start.
    """
    with transaction.atomic():
        run = _locked_running_run(pod_name)
        _enter_step(run, step, at or timezone.now())
    return run


def stop_run(pod_name: str, at: dt.datetime | None = None) -> Run:
    """End the pod's running run and its running step; the run carries its summary.

    :raises NoRunningRun: the pod is unknown or runs nothing.
    :raises EventOutOfOrder: ``at`` is before the run's or the current step's start.
    """
    with transaction.atomic():
        run = _locked_running_run(pod_name)
        _stop(run, at or timezone.now())
    return run


def set_step_of(run_id: int, step: str, at: dt.datetime | None = None) -> Run:
    """Like :func:`set_step` for a run named by id.

    :raises RunNotFound, RunEnded, EventOutOfOrder:
    """
    with transaction.atomic():
        run = _locked_run(run_id)
        _enter_step(run, step, at or timezone.now())
    return run


def stop_run_by_id(run_id: int, at: dt.datetime | None = None) -> Run:
    """Like :func:`stop_run` for a run named by id.

    :raises RunNotFound, RunEnded, EventOutOfOrder:
    """
    with transaction.atomic():
        run = _locked_run(run_id)
        _stop(run, at or timezone.now())
    return run


def running_run(pod_name: str) -> Run | None:
    """The pod's running run, or None (unknown pod included)."""
    return Run.objects.filter(pod__name=pod_name, ended_at__isnull=True).first()


def run_at(pod_name: str, at: dt.datetime) -> tuple[Run, Step | None] | None:
    """The run of the pod that was running at ``at`` and its step then, or None.

    A run's interval is ``[started_at, ended_at)``: at the instant one run replaces another, the
    new one is the answer.
    """
    covering = Q(started_at__lte=at) & (Q(ended_at__isnull=True) | Q(ended_at__gt=at))
    run = Run.objects.filter(covering, pod__name=pod_name).order_by("-started_at", "-id").first()
    if run is None:
        return None
    step = run.steps.filter(covering).order_by("-started_at", "-id").first()
    return run, step


def current_step(run: Run) -> Step | None:
    """The run's running step, or None."""
    return _running_step(run)


# -- inside the transaction ----------------------------------------------------------------------


# Each event reads what it changes in one query, under the pod's lock: the running run, its
# running step (at most one: a partial unique index) and its step count, and answers from what it
# read and wrote instead of reading the run again after the commit.


def _with_running_step(runs: QuerySet[Run]) -> QuerySet[Run]:
    """``runs`` with their running step's id, name and start, and their step count."""
    count = (
        Step.objects.filter(run=OuterRef("pk"))
        .order_by()
        .values("run")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return runs.annotate(
        running=FilteredRelation("steps", condition=Q(steps__ended_at__isnull=True)),
        running_step_id=F("running__id"),
        running_step=F("running__name"),
        running_step_started_at=F("running__started_at"),
        steps_counted=Coalesce(Subquery(count), 0),
    ).order_by()


def _locked_pod(pod_name: str) -> Pod | None:
    return Pod.objects.select_for_update().filter(name=pod_name).order_by().first()


def _running_run(pod: Pod) -> Run | None:
    run = _with_running_step(Run.objects.filter(pod=pod, ended_at__isnull=True)).first()
    if run is not None:
        run.pod = pod
    return run


def _running_step(run: Run) -> Step | None:
    # order_by(): Step's default order joins the run table, for one row at most.
    return Step.objects.filter(run=run, ended_at__isnull=True).order_by().first()


def _summarize(run: Run, running_step: str | None, steps_counted: int) -> None:
    run.running_step = running_step  # type: ignore[attr-defined]
    run.steps_counted = steps_counted  # type: ignore[attr-defined]


def _locked_running_run(pod_name: str) -> Run:
    pod = _locked_pod(pod_name)
    run = _running_run(pod) if pod is not None else None
    if run is None:
        raise NoRunningRun(f"no run is running on pod {pod_name!r}")
    return run


def _locked_run(run_id: int) -> Run:
    pod_id = Run.objects.filter(pk=run_id).values_list("pod_id", flat=True).first()
    if pod_id is None:
        raise RunNotFound(f"no run has id {run_id}")
    # Lock the pod first, as every other event does, then read the run as it is now.
    pod = Pod.objects.select_for_update().get(pk=pod_id)
    run = _with_running_step(Run.objects.all()).get(pk=run_id)
    run.pod = pod
    if run.ended_at is not None:
        raise RunEnded(f"run {run_id} ended at {run.ended_at.isoformat()}")
    return run


def _check_not_before(run: Run, at: dt.datetime, what: str) -> None:
    if at < run.started_at:
        raise EventOutOfOrder(
            f"the {what} at {at.isoformat()} is before the run's start "
            f"({run.started_at.isoformat()})"
        )
    current_start = run.running_step_started_at  # type: ignore[attr-defined]
    if current_start is not None and at < current_start:
        raise EventOutOfOrder(
            f"the {what} at {at.isoformat()} is before the start of the current step "
            f"{run.running_step!r} ({current_start.isoformat()})"  # type: ignore[attr-defined]
        )


def _end_running_step(run: Run, at: dt.datetime) -> None:
    step_id = run.running_step_id  # type: ignore[attr-defined]
    if step_id is not None:
        # "updated" too: the writer exports steps changed since its last pass (annotations).
        Step.objects.filter(pk=step_id).update(ended_at=at, updated=timezone.now())


def _enter_step(run: Run, name: str, at: dt.datetime) -> None:
    _check_not_before(run, at, "step")
    _end_running_step(run, at)
    Step.objects.create(run=run, name=name, started_at=at)
    _summarize(run, name, run.steps_counted + 1)  # type: ignore[attr-defined]


def _stop(run: Run, at: dt.datetime) -> None:
    _check_not_before(run, at, "stop")
    _end(run, at)


def _end(run: Run, at: dt.datetime) -> None:
    """End the run (read by :func:`_running_run`) and its running step at ``at``."""
    _end_running_step(run, at)
    run.ended_at = at
    run.ended_received_at = timezone.now()
    run.save(update_fields=["ended_at", "ended_received_at", "updated"])
    _summarize(run, None, run.steps_counted)  # type: ignore[attr-defined]


# -- measurements pushed by legacy collectors -----------------------------------------------------


@dataclass(frozen=True)
class Reading:
    sensor: str
    unit: str
    value: float
    at: dt.datetime | None = None


def record_measurements(
    pod_name: str,
    server_name: str,
    readings: list[Reading],
    topology: dict[str, str] | None = None,
    source: str = RunSource.LEGACY,
) -> int:
    """Push ``readings`` of a server to the sample buffer; returns how many.

    An unknown server becomes a ``push`` server of the pod (created too if unknown), and the
    topology fields given update the server's. Every reading is kept, inside a run or not: the
    writer correlates them with runs later. All or nothing: when the buffer refuses, the pod and
    server created here are rolled back too.

    :raises collectors.buffer.BufferUnavailable: Redis does not answer, or the buffer is full.
    """
    from collectors.buffer import Sample, SampleBuffer
    from collectors.models import BMCType, Server
    from events.timestamps import to_ns

    received = timezone.now()
    with transaction.atomic():
        pod, _ = Pod.objects.get_or_create(name=pod_name)
        server, _ = Server.objects.get_or_create(
            name=server_name, defaults={"pod": pod, "bmc_type": BMCType.PUSH}
        )
        changed: dict[str, object] = {
            field: value
            for field, value in (topology or {}).items()
            if getattr(server, field) != value
        }
        power = [r for r in readings if r.sensor == "power"]
        if power:
            last = max(power, key=lambda r: r.at or received)
            changed.update(
                last_reading_w=last.value,
                last_reading_at=last.at or received,
                last_source=source,
                last_success_at=received,
            )
        if changed:
            Server.objects.filter(pk=server.pk).update(**changed)
        samples = [
            Sample(
                pod=pod_name,
                server=server_name,
                watts=r.value,
                measured_at_ns=to_ns(r.at or received),
                source=source,
                sensor=r.sensor,
                unit=r.unit,
            )
            for r in readings
        ]
        # Last, so that a refusal rolls back what this request created.
        return SampleBuffer.from_settings().push(samples)
