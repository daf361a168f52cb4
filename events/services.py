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
from django.db.models import Q
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
    """
    at = at or timezone.now()
    with transaction.atomic():
        # The old API accepted any environment; its pods were never declared beforehand.
        pod, _ = Pod.objects.get_or_create(name=pod_name)
        pod = Pod.objects.select_for_update().get(pk=pod.pk)
        previous = _running_run(pod)
        if previous is not None:
            current = _running_step(previous)
            latest_start = max(previous.started_at, current.started_at if current else at)
            _end(previous, current, max(at, latest_start))
        run = Run.objects.create(pod=pod, scenario=scenario, started_at=at, source=source)
        if step is not None:
            Step.objects.create(run=run, name=step, started_at=at)
    return Started(run, previous)


def set_step(pod_name: str, step: str, at: dt.datetime | None = None) -> Run:
    """Enter ``step`` in the pod's running run, ending its running step.

    :raises NoRunningRun: the pod is unknown or runs nothing.
    :raises EventOutOfOrder: ``at`` is before the run's or the current step's start.
    """
    with transaction.atomic():
        run = _locked_running_run(pod_name)
        _enter_step(run, step, at or timezone.now())
    return run


def stop_run(pod_name: str, at: dt.datetime | None = None) -> Run:
    """End the pod's running run and its running step.

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


def _running_run(pod: Pod) -> Run | None:
    return Run.objects.filter(pod=pod, ended_at__isnull=True).first()


def _running_step(run: Run) -> Step | None:
    return Step.objects.filter(run=run, ended_at__isnull=True).first()


def _locked_running_run(pod_name: str) -> Run:
    pod = Pod.objects.select_for_update().filter(name=pod_name).first()
    run = _running_run(pod) if pod is not None else None
    if run is None:
        raise NoRunningRun(f"no run is running on pod {pod_name!r}")
    return run


def _locked_run(run_id: int) -> Run:
    pod_id = Run.objects.filter(pk=run_id).values_list("pod_id", flat=True).first()
    if pod_id is None:
        raise RunNotFound(f"no run has id {run_id}")
    # Lock the pod first, as every other event does, then read the run as it is now.
    Pod.objects.select_for_update().filter(pk=pod_id).first()
    run = Run.objects.select_related("pod").get(pk=run_id)
    if run.ended_at is not None:
        raise RunEnded(f"run {run_id} ended at {run.ended_at.isoformat()}")
    return run


def _check_not_before(run: Run, current: Step | None, at: dt.datetime, what: str) -> None:
    if at < run.started_at:
        raise EventOutOfOrder(
            f"the {what} at {at.isoformat()} is before the run's start "
            f"({run.started_at.isoformat()})"
        )
    if current is not None and at < current.started_at:
        raise EventOutOfOrder(
            f"the {what} at {at.isoformat()} is before the start of the current step "
            f"{current.name!r} ({current.started_at.isoformat()})"
        )


def _enter_step(run: Run, name: str, at: dt.datetime) -> None:
    current = _running_step(run)
    _check_not_before(run, current, at, "step")
    if current is not None:
        current.ended_at = at
        # "updated" too: the writer exports steps changed since its last pass (annotations).
        current.save(update_fields=["ended_at", "updated"])
    Step.objects.create(run=run, name=name, started_at=at)


def _stop(run: Run, at: dt.datetime) -> None:
    current = _running_step(run)
    _check_not_before(run, current, at, "stop")
    _end(run, current, at)


def _end(run: Run, current: Step | None, at: dt.datetime) -> None:
    if current is not None:
        current.ended_at = at
        current.save(update_fields=["ended_at", "updated"])
    run.ended_at = at
    run.ended_received_at = timezone.now()
    run.save(update_fields=["ended_at", "ended_received_at", "updated"])


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
