"""The event logic: runs start, change step and stop here, whatever API the event came through.

The native views, the legacy ``/resources`` views and anything else that records events call these
functions; none of them writes Run or Step rows itself. Each function is one transaction that
first locks the pod's row, so concurrent events for one pod are applied one after the other and
a failure leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from collectors.models import Pod
from energylab.errors import RefusedRequest
from energylab.timestamps import from_ns
from events.ingest.buffer import Sample, SampleBuffer
from events.models import Run, RunSource, Step
from events.timestamps import EARLIEST


class EventError(RefusedRequest):
    """An event that cannot be applied; ``status`` is the HTTP status that says why."""


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


class ServerOfAnotherPod(EventError):
    """Measurements name a known server under a pod (environment) it does not belong to."""

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

    A run still running on the pod ends at ``at``. Runs of a pod follow each other: ``at`` may
    not be before the running run's start or its running step's start (it would end them before
    they started), nor before the end of the pod's last ended run (the runs would overlap).
    Without ``at``, the run starts when it takes the pod's lock, or at the latest of those times
    if that is later (a client may stamp its events up to five minutes ahead). Both runs carry
    their summary (see :func:`set_step`).

    :raises EventOutOfOrder: ``at`` is before the pod's history ends.
    """
    with transaction.atomic():
        pod, last_end = _locked_pod_for_start(pod_name)
        if pod is None:
            # The old API accepted any environment; its pods were never declared beforehand.
            created, _ = Pod.objects.get_or_create(name=pod_name)
            pod = Pod.objects.select_for_update().get(pk=created.pk)
        previous = _running_run(pod)
        if previous is not None:
            at = _event_time(previous, at, "start")
            _end(previous, at)
        elif at is None:
            at = max(timezone.now(), last_end or EARLIEST)
        elif last_end is not None and at < last_end:
            raise EventOutOfOrder(
                f"the start at {at.isoformat()} is before the end of the pod's last run "
                f"({last_end.isoformat()}): runs of one pod may not overlap"
            )
        run = Run.objects.create(pod=pod, scenario=scenario, started_at=at, source=source)
        if step is not None:
            _insert_step(run, step, at)
        _summarize(run, step, 0 if step is None else 1)
    return Started(run, previous)


def set_step(pod_name: str, step: str, at: dt.datetime | None = None) -> Run:
    """Enter ``step`` in the pod's running run, ending its running step.

    The run returned carries its summary as the transaction left it: ``running_step`` (the
    running step's name, or None) and ``steps_counted`` (how many steps it has), and its pod.

    :raises NoRunningRun: the pod is unknown or runs nothing.
    :raises EventOutOfOrder: ``at`` is before the run's or the current step's start.
    """
    if _has_step_function():
        return _set_step_in_database(pod_name, step, at)
    with transaction.atomic():
        run = _locked_running_run(pod_name)
        _enter_step(run, step, at)
    return run


def stop_run(pod_name: str, at: dt.datetime | None = None) -> Run:
    """End the pod's running run and its running step; the run carries its summary.

    :raises NoRunningRun: the pod is unknown or runs nothing.
    :raises EventOutOfOrder: ``at`` is before the run's or the current step's start.
    """
    with transaction.atomic():
        run = _locked_running_run(pod_name)
        _stop(run, at)
    return run


def set_step_of(run_id: int, step: str, at: dt.datetime | None = None) -> Run:
    """Like :func:`set_step` for a run named by id.

    :raises RunNotFound, RunEnded, EventOutOfOrder:
    """
    with transaction.atomic():
        run = _locked_run(run_id)
        _enter_step(run, step, at)
    return run


def stop_run_by_id(run_id: int, at: dt.datetime | None = None) -> Run:
    """Like :func:`stop_run` for a run named by id.

    :raises RunNotFound, RunEnded, EventOutOfOrder:
    """
    with transaction.atomic():
        run = _locked_run(run_id)
        _stop(run, at)
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


# Each event locks its pod, then reads what it changes in one query (the running run with its step
# count, which triggers keep, and its running step, at most one by a partial unique index), writes,
# and answers from what it read and wrote instead of reading the run again after the commit.
#
# These statements are written out rather than built by the ORM: they run on every event, and
# building them cost more than running them (measured, one event: ~0.3 ms of Python per simple
# query, ~1.4 ms for the read with its join and count, against ~0.1-0.4 ms in PostgreSQL).
# Tables are named through the models, so a renamed one fails loudly in the tests. Steps written
# here send no model signals (nothing listens to Step's; a receiver added later would not hear them).

_RUN, _STEP, _POD = Run._meta.db_table, Step._meta.db_table, Pod._meta.db_table
# In the model's order of fields, as Model.from_db takes them.
_RUN_COLUMNS = [
    field.attname
    for field in Run._meta.concrete_fields
    if field.attname not in {"ended_received_at", "updated"}  # loaded when read
]
_READ_RUN = f"""
    SELECT {", ".join(f"r.{column}" for column in _RUN_COLUMNS)},
           s.id, s.name, s.started_at
    FROM {_RUN} r LEFT JOIN {_STEP} s ON s.run_id = r.id AND s.ended_at IS NULL
"""  # noqa: S608 - no value is formatted in, only table and column names
_RUNNING_RUN_OF_POD = _READ_RUN + " WHERE r.pod_id = %s AND r.ended_at IS NULL"
_RUN_BY_ID = _READ_RUN + " WHERE r.id = %s"
_END_STEP = f"UPDATE {_STEP} SET ended_at = %s, updated = %s WHERE id = %s"  # noqa: S608
_INSERT_STEP = f"""
    INSERT INTO {_STEP} (run_id, name, started_at, ended_at, received_at, updated)
    VALUES (%s, %s, %s, NULL, %s, %s)
"""  # noqa: S608


def _aware(value: Any) -> Any:
    """A datetime as the ORM gives it (SQLite's raw cursor returns naive UTC ones)."""
    if isinstance(value, dt.datetime) and timezone.is_naive(value):
        return timezone.make_aware(value, dt.UTC)
    return value


def _execute(sql: str, params: list[Any]) -> None:
    adapt = connection.ops.adapt_datetimefield_value  # as the ORM stores them (SQLite: text)
    values = [adapt(value) if isinstance(value, dt.datetime) else value for value in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def _fetch(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return tuple(_aware(value) for value in row) if row is not None else None


def _lock() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _locked_pod(pod_name: str) -> Pod | None:
    """The pod, locked until the transaction ends (its other fields load when read)."""
    row = _fetch(f"SELECT id FROM {_POD} WHERE name = %s{_lock()}", [pod_name])  # noqa: S608
    return Pod.from_db(connection.alias, ["id", "name"], [row[0], pod_name]) if row else None


# The end of the pod's last ended run, read with the lock in the same round trip. Runs of a pod
# do not overlap, so the last started of the ended ones is the last to end: the index on (pod,
# started_at) finds it reading one or two rows, where max(ended_at) would read every run.
_LAST_END = f"""
    (SELECT r.ended_at FROM {_RUN} r WHERE r.pod_id = p.id AND r.ended_at IS NOT NULL
     ORDER BY r.started_at DESC LIMIT 1)
"""  # noqa: S608


def _locked_pod_for_start(pod_name: str) -> tuple[Pod | None, dt.datetime | None]:
    """:func:`_locked_pod`, and the end of its last ended run (None: it has none)."""
    sql = f"SELECT p.id, {_LAST_END} FROM {_POD} p WHERE p.name = %s{_lock()}"  # noqa: S608
    row = _fetch(sql, [pod_name])
    if row is None:
        return None, None
    pod = Pod.from_db(connection.alias, ["id", "name"], [row[0], pod_name])
    return pod, _datetime(row[1])


def _datetime(value: Any) -> dt.datetime | None:
    """A datetime read by a subquery: SQLite gives its text (its column type is not known)."""
    if isinstance(value, str):
        value = _aware(parse_datetime(value))
    return cast("dt.datetime | None", value)


def _read_run(sql: str, param: Any, pod: Pod) -> Run | None:
    """The run of ``sql``, with its running step's id, name and start and its step count."""
    row = _fetch(sql, [param])
    if row is None:
        return None
    width = len(_RUN_COLUMNS)
    run = Run.from_db(connection.alias, _RUN_COLUMNS, row[:width])
    step_id, step_name, step_start = row[width:]
    _carry_running_step(run, pod, step_id, step_name, step_start, run.step_count)
    return run


def _carry_running_step(
    run: Run,
    pod: Pod,
    step_id: int | None,
    step_name: str | None,
    step_start: dt.datetime | None,
    steps_counted: int,
) -> None:
    """Give a run read by an event its pod, its running step as read, and its summary."""
    run.pod = pod
    run.running_step_id = step_id  # type: ignore[attr-defined]
    run.running_step_started_at = step_start  # type: ignore[attr-defined]
    _summarize(run, step_name, steps_counted)


def _running_run(pod: Pod) -> Run | None:
    return _read_run(_RUNNING_RUN_OF_POD, pod.pk, pod)


def _insert_step(run: Run, name: str, at: dt.datetime) -> None:
    now = timezone.now()
    _execute(_INSERT_STEP, [run.pk, name, at, now, now])


# The step event as one call of the function of migration events 0004: on PostgreSQL the same
# work in one round trip and its own transaction (BEGIN and COMMIT were two more round trips).
_SET_STEP_FUNCTION = "SELECT * FROM events_set_step(%s, %s, %s::timestamptz, %s)"
_SET_STEP_RUN_COLUMNS = [
    "id",
    "pod_id",
    "scenario",
    "started_at",
    "ended_at",
    "source",
    "received_at",
]
# The function's columns after the run's: the running step, the run's step count, and whether
# the step was entered (false: the event is before the run's or the running step's start).


def _has_step_function() -> bool:
    return connection.vendor == "postgresql"


def _set_step_in_database(pod_name: str, step: str, at: dt.datetime | None) -> Run:
    row = _fetch(_SET_STEP_FUNCTION, [pod_name, step, at, timezone.now()])
    if row is None:
        raise NoRunningRun(f"no run is running on pod {pod_name!r}")
    width = len(_SET_STEP_RUN_COLUMNS)
    run = Run.from_db(connection.alias, _SET_STEP_RUN_COLUMNS, row[:width])
    pod = Pod.from_db(connection.alias, ["id", "name"], [run.pod_id, pod_name])
    step_id, running_step, step_start, count, applied = row[width:]
    _carry_running_step(run, pod, step_id, running_step, step_start, int(count))
    if not applied:
        assert at is not None  # the function stamps an event without a time in order
        _check_not_before(run, at, "step")  # raises: the function found the event out of order
        raise AssertionError("events_set_step refused an event in order")
    _summarize(run, step, int(count) + 1)
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
    run = _read_run(_RUN_BY_ID, run_id, pod)
    if run is None:
        raise RunNotFound(f"no run has id {run_id}")
    if run.ended_at is not None:
        raise RunEnded(f"run {run_id} ended at {run.ended_at.isoformat()}")
    return run


def _event_time(run: Run, at: dt.datetime | None, what: str) -> dt.datetime:
    """The time of an event that changes the running ``run``, checked (:func:`_check_not_before`).

    Without a time given, the event happens now, under the pod's lock; or at the start of the
    run or of its running step if that is later: another client may have stamped them up to five
    minutes ahead, or this process's clock be behind the one that stamped them. As the database
    function does for steps (migration events 0004).
    """
    if at is None:
        step_start = run.running_step_started_at  # type: ignore[attr-defined]
        return max(timezone.now(), run.started_at, step_start or run.started_at)
    _check_not_before(run, at, what)
    return at


def _check_not_before(run: Run, at: dt.datetime, what: str) -> None:
    # A start ends the running run: the run it means is that one, not the run it starts.
    whose, why = (
        ("the running run's", "; a start ends it") if what == "start" else ("the run's", "")
    )
    if at < run.started_at:
        raise EventOutOfOrder(
            f"the {what} at {at.isoformat()} is before {whose} start "
            f"({run.started_at.isoformat()}){why}"
        )
    current_start = run.running_step_started_at  # type: ignore[attr-defined]
    if current_start is not None and at < current_start:
        raise EventOutOfOrder(
            f"the {what} at {at.isoformat()} is before the start of the current step "
            f"{run.running_step!r} ({current_start.isoformat()}){why}"  # type: ignore[attr-defined]
        )


def _end_running_step(run: Run, at: dt.datetime) -> None:
    step_id = run.running_step_id  # type: ignore[attr-defined]
    if step_id is not None:
        # "updated" too: the writer exports steps changed since its last pass (annotations).
        _execute(_END_STEP, [at, timezone.now(), step_id])


def _enter_step(run: Run, name: str, at: dt.datetime | None) -> None:
    at = _event_time(run, at, "step")
    _end_running_step(run, at)
    _insert_step(run, name, at)
    _summarize(run, name, run.steps_counted + 1)  # type: ignore[attr-defined]


def _stop(run: Run, at: dt.datetime | None) -> None:
    _end(run, _event_time(run, at, "stop"))


def _end(run: Run, at: dt.datetime) -> None:
    """End the run (read by :func:`_running_run`) and its running step at ``at``."""
    _end_running_step(run, at)
    run.ended_at = at
    run.ended_received_at = timezone.now()
    run.save(update_fields=["ended_at", "ended_received_at", "updated"])
    _summarize(run, None, run.steps_counted)  # type: ignore[attr-defined]


# -- measurements pushed by legacy collectors -----------------------------------------------------


def record_measurements(
    pod_name: str,
    server_name: str,
    samples: Sequence[Sample],
    topology: dict[str, str] | None = None,
) -> int:
    """Push ``samples`` of a server to the sample buffer; returns how many.

    An unknown server becomes a ``push`` server of the pod (created too if unknown), and the
    topology fields given update the server's (with no sample too). Every sample is kept, inside
    a run or not: the writer correlates them with runs later. All or nothing: when the buffer
    refuses, the pod and server created here are rolled back too.

    :raises ServerOfAnotherPod: the server exists in another pod: its samples would be tagged
        with a pod it is not in (missing from its own pod's reports, counted in another's) and
        its topology overwritten by whoever names it. Checked here, in the transaction that
        creates it, so two first pushes of a new server under two pods cannot both pass.
    :raises events.ingest.buffer.BufferUnavailable: Redis does not answer, or the buffer is full.
    :raises ValueError: a sample is not of ``pod_name`` and ``server_name``.
    """
    from collectors.models import BMCType, Server

    if any(s.pod != pod_name or s.server != server_name for s in samples):
        raise ValueError(f"samples of another server than {server_name!r} of {pod_name!r}")
    with transaction.atomic():
        pod, _ = Pod.objects.get_or_create(name=pod_name)
        server, _ = Server.objects.select_related("pod").get_or_create(
            name=server_name, defaults={"pod": pod, "bmc_type": BMCType.PUSH}
        )
        if server.pod_id != pod.pk:
            raise ServerOfAnotherPod(
                f"server {server_name!r} belongs to pod {server.pod.name!r}, not to environment "
                f"{pod_name!r}; push it under its own pod's environment, or move it to the other "
                "pod first (PATCH /api/v1/servers/{id}/ with its new pod, or the admin)"
            )
        changed: dict[str, object] = {
            field: value
            for field, value in (topology or {}).items()
            if getattr(server, field) != value
        }
        power = [s for s in samples if s.sensor == "power"]
        if power:
            last = max(power, key=lambda s: s.measured_at_ns)
            changed.update(
                last_reading_w=last.watts,
                last_reading_at=from_ns(last.measured_at_ns),
                last_source=last.source,
                last_success_at=timezone.now(),
            )
        if changed:
            Server.objects.filter(pk=server.pk).update(**changed)
        # Last, so that a refusal rolls back what this request created.
        return SampleBuffer.from_settings().push(samples)
