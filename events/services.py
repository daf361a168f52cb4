"""The event logic: runs start, change step and stop here, whatever API the event came through.

The native views, the legacy ``/resources`` views and anything else that records events call these
functions; none of them writes Run or Step rows itself. Each function is one transaction that
first locks the pod's row, so concurrent events for one pod are applied one after the other and
a failure leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import FilteredRelation, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from access import audit
from access.models import AuditAction
from collectors.models import Pod
from collectors.pod_names import similar_pod_names
from energylab.errors import RefusedRequest
from energylab.timestamps import from_ns
from events.ingest.buffer import Sample, SampleBuffer, StaleDirectory
from events.ingest.directory import DIRECTORY
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
    """Measurements name a known server under a pod (environment) it does not belong to;
    ``pod`` is the pod it belongs to."""

    status = 409

    def __init__(self, pod: str, message: str) -> None:
        super().__init__(message)
        self.pod = pod


@dataclass(frozen=True)
class RunState:
    """A run as an event left it, read and written inside the event's transaction.

    What the APIs answer about the run, without reading it again after the commit: ``step`` is
    its running step's name (None: none runs), ``step_started_at`` that step's start,
    ``step_count`` how many steps the run has, and ``ended_step`` the step this event ended (a
    stop's or a start's running step; None when it ended none).
    """

    id: int
    pod: str
    scenario: str
    source: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    received_at: dt.datetime
    step: str | None
    step_started_at: dt.datetime | None
    step_count: int
    ended_step: str | None = None


@dataclass(frozen=True)
class Started:
    """The run a start event started, and the run it ended (None: none was running).

    ``pod_created``: the start named an unknown pod, which it created; ``similar_pods`` are then
    the known pods whose names are closest to it (a typo's likely meaning), closest first.
    """

    run: RunState
    ended_previous: RunState | None
    pod_created: bool = False
    similar_pods: tuple[str, ...] = ()


def start_run(
    pod_name: str,
    scenario: str,
    step: str | None = None,
    at: dt.datetime | None = None,
    source: str = RunSource.API,
    provenance: Mapping[str, Any] | None = None,
    *,
    actor: audit.Actor | None = None,
    new_pod: dict[str, Any] | None = None,
) -> Started:
    """Start ``scenario`` on the pod (created if unknown), optionally in ``step``.

    ``provenance`` holds the run's validated ``commit``, ``branch``, ``ci_url``, ``ci_system``,
    ``build`` and ``labels`` (:mod:`events.provenance`); those not given stay blank.

    A run still running on the pod ends at ``at``. Runs of a pod follow each other: ``at`` may
    not be before the running run's start or its running step's start (it would end them before
    they started), nor before the end of the pod's last ended run (the runs would overlap).
    Without ``at``, the run starts when it takes the pod's lock, or at the latest of those times
    if that is later (a client may stamp its events up to five minutes ahead). A start that the
    running run already is (same scenario, time and step: a client's retry) changes nothing.
    ``actor`` is written to the audit log (None: the command line); a pod created here has the
    fields ``new_pod`` (its team: the caller checked that its credential may create pods there).

    :raises EventOutOfOrder: ``at`` is before the pod's history ends.
    """
    with transaction.atomic():
        locked = _locked_pod_for_start(pod_name)
        created = False
        if locked is None:
            # The old API accepted any environment; its pods were never declared beforehand.
            _pod, created = Pod.objects.get_or_create(name=pod_name, defaults=new_pod or {})
            locked = _locked_pod_for_start(pod_name)
            assert locked is not None  # created or found above, and pods are never renamed here
        pod_id, last_end = locked
        previous = _read_run(Run.objects.filter(pod_id=pod_id, ended_at__isnull=True), pod_name)
        if previous is not None and _is_repeated_start(previous, scenario, step, at):
            return Started(previous, None)
        if previous is not None:
            at = _event_time(previous, at, "start")
            previous = _end(previous, at)
        elif at is None:
            at = max(timezone.now(), last_end or EARLIEST)
        elif last_end is not None and at < last_end:
            raise EventOutOfOrder(
                f"the start at {at.isoformat()} is before the end of the pod's last run "
                f"({last_end.isoformat()}): runs of one pod may not overlap"
            )
        run = Run.objects.create(
            pod_id=pod_id, scenario=scenario, started_at=at, source=source, **(provenance or {})
        )
        if step is not None:
            Step.objects.create(run_id=run.pk, name=step, started_at=at)
        if previous is not None:
            _audit_stop(actor, previous)
        audit.record(
            actor or audit.Actor.system(),
            AuditAction.RUN_START,
            target=f"run {run.pk}: {scenario}",
            pod=pod_name,
            detail={"run": run.pk, "scenario": scenario, "at": at.isoformat(), "source": source},
        )
    started = RunState(
        id=run.pk,
        pod=pod_name,
        scenario=scenario,
        source=source,
        started_at=at,
        ended_at=None,
        received_at=run.received_at,
        step=step,
        step_started_at=None if step is None else at,
        step_count=0 if step is None else 1,  # the triggers of migration events 0003 count it
    )
    similar = tuple(similar_pod_names(pod_name)) if created else ()
    return Started(started, previous, pod_created=created, similar_pods=similar)


def _is_repeated_start(
    run: RunState, scenario: str, step: str | None, at: dt.datetime | None
) -> bool:
    """The running run is the one this start event starts: a retry (see :func:`_is_repeated_step`)."""
    return (
        at is not None
        and run.scenario == scenario
        and run.started_at == at
        and (
            run.step_count == 0
            if step is None
            else (run.step, run.step_started_at, run.step_count) == (step, at, 1)
        )
    )


def set_step(pod_name: str, step: str, at: dt.datetime | None = None) -> RunState:
    """Enter ``step`` in the pod's running run, ending its running step; the run as it is then.

    On PostgreSQL this is one call of the function ``events_set_step`` (see
    :func:`_set_step_in_database`); elsewhere the same work in ORM statements. Both pass the
    same tests (``STEP_FUNCTION`` off runs the ORM path on PostgreSQL too). A step event that
    names the running step and its start (a client's retry) changes nothing.

    :raises NoRunningRun: the pod is unknown or runs nothing.
    :raises EventOutOfOrder: ``at`` is before the run's or the current step's start.
    """
    if STEP_FUNCTION and connection.vendor == "postgresql":
        return _set_step_in_database(pod_name, step, at)
    with transaction.atomic():
        return _enter_step(_locked_running_run(pod_name), step, at)


def stop_run(
    pod_name: str, at: dt.datetime | None = None, *, actor: audit.Actor | None = None
) -> RunState:
    """End the pod's running run and its running step; the run as it ended (audit-logged as
    ``actor``'s; None: the command line).

    :raises NoRunningRun: the pod is unknown or runs nothing.
    :raises EventOutOfOrder: ``at`` is before the run's or the current step's start.
    """
    with transaction.atomic():
        run = _locked_running_run(pod_name)
        ended = _end(run, _event_time(run, at, "stop"))
        _audit_stop(actor, ended)
        return ended


def set_step_of(run_id: int, step: str, at: dt.datetime | None = None) -> RunState:
    """Like :func:`set_step` for a run named by id.

    :raises RunNotFound, RunEnded, EventOutOfOrder:
    """
    with transaction.atomic():
        return _enter_step(_locked_run(run_id), step, at)


def stop_run_by_id(
    run_id: int, at: dt.datetime | None = None, *, actor: audit.Actor | None = None
) -> RunState:
    """Like :func:`stop_run` for a run named by id.

    :raises RunNotFound, RunEnded, EventOutOfOrder:
    """
    with transaction.atomic():
        run = _locked_run(run_id)
        ended = _end(run, _event_time(run, at, "stop"))
        _audit_stop(actor, ended)
        return ended


def _audit_stop(actor: audit.Actor | None, run: RunState) -> None:
    """The audit entry of a run ended by a stop, or by the start of the next run."""
    audit.record(
        actor or audit.Actor.system(),
        AuditAction.RUN_STOP,
        target=f"run {run.id}: {run.scenario}",
        pod=run.pod,
        detail={"run": run.id, "at": run.ended_at.isoformat() if run.ended_at else None},
    )


def pod_of_run(run_id: int) -> str | None:
    """The name of the run's pod (None: no such run), for the caller's access check."""
    name: str | None = Run.objects.filter(pk=run_id).values_list("pod__name", flat=True).first()
    return name


def abandoned_run_ids(max_idle: dt.timedelta, now: dt.datetime | None = None) -> list[int]:
    """Running runs that received no event (their start, a step) for more than ``max_idle``
    before ``now``: their client died before its stop (see :func:`close_abandoned_run`).

    Judged by when EnergyLab received the events, not by their own times: a client may send
    events stamped long ago (a replay, a backfill) into a run that is very much alive.
    """
    cutoff = (now or timezone.now()) - max_idle
    return list(
        Run.objects.filter(ended_at__isnull=True, received_at__lt=cutoff)
        .annotate(last_step=Max("steps__received_at"))
        .filter(Q(last_step__isnull=True) | Q(last_step__lt=cutoff))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def close_abandoned_run(
    run_id: int, max_idle: dt.timedelta, now: dt.datetime | None = None
) -> RunState | None:
    """End the run at its last event and mark it abandoned, if it is still running and still
    has received no event for ``max_idle``; None when it is not (ended, or an event came
    meanwhile).

    The run's time after its last event is unknown (the client died somewhere in it), so it is
    left out rather than counted in its last step. Checked again under the pod's lock, so an
    event that arrives while the check runs wins, and two checkers close a run once.
    """
    cutoff = (now or timezone.now()) - max_idle
    with transaction.atomic():
        try:
            run = _locked_run(run_id)
        except (RunNotFound, RunEnded):
            return None
        last_step = Step.objects.filter(run_id=run.id).aggregate(last=Max("received_at"))["last"]
        if max(run.received_at, last_step or run.received_at) >= cutoff:
            return None
        ended = _end(run, run.step_started_at or run.started_at)
        Run.objects.filter(pk=run.id).update(abandoned=True)
    return ended


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
    # order_by(): Step's default order joins the run table, for one row at most.
    return Step.objects.filter(run=run, ended_at__isnull=True).order_by().first()


# -- inside the transaction ----------------------------------------------------------------------


# Each event locks its pod's row first, so concurrent events for one pod are applied one after
# the other. The run is read after the lock, in a query of its own: read in the locking query, a
# waiting event would see the run's rows as they were before the event it waited for (PostgreSQL
# re-reads only the locked row after a wait).

# What a RunState is made of, in the order of the first columns of events_set_step's answer, so
# that one function reads both paths' rows (:func:`_run_state`).
_RUN_STATE_FIELDS = (
    "pk",
    "scenario",
    "started_at",
    "ended_at",
    "source",
    "received_at",
    "running__name",
    "running__started_at",
    "step_count",
)
_RUN_STATE_WIDTH = len(_RUN_STATE_FIELDS)


def _run_state(pod_name: str, row: Sequence[Any]) -> RunState:
    """A RunState of a row of :data:`_RUN_STATE_FIELDS` (more columns may follow)."""
    fields = row[:_RUN_STATE_WIDTH]
    run_id, scenario, started_at, ended_at, source, received_at, step, step_start, count = fields
    return RunState(
        id=run_id,
        pod=pod_name,
        scenario=scenario,
        source=source,
        started_at=started_at,
        ended_at=ended_at,
        received_at=received_at,
        step=step,
        step_started_at=step_start,
        step_count=int(count),
    )


def _locked_pod_for_start(pod_name: str) -> tuple[int, dt.datetime | None] | None:
    """The pod's id, locked until the transaction ends, and the end of its last ended run (None:
    it has none); None for an unknown pod.

    Runs of a pod do not overlap, so the last started of the ended ones is the last to end: the
    index on (pod, started_at) finds it reading one or two rows, where max(ended_at) would read
    every run.
    """
    last_end = (
        Run.objects.filter(pod=OuterRef("pk"), ended_at__isnull=False)
        .order_by("-started_at")
        .values("ended_at")[:1]
    )
    row = (
        Pod.objects.select_for_update()
        .filter(name=pod_name)
        .annotate(last_end=Subquery(last_end))
        .values_list("pk", "last_end")
        .first()
    )
    return None if row is None else (row[0], row[1])


def _read_run(runs: QuerySet[Run], pod_name: str) -> RunState | None:
    """The run of ``runs`` (at most one) with its running step, at most one by a partial unique
    index; None when there is none."""
    running = FilteredRelation("steps", condition=Q(steps__ended_at__isnull=True))
    row = runs.annotate(running=running).order_by().values_list(*_RUN_STATE_FIELDS).first()
    return None if row is None else _run_state(pod_name, row)


def _locked_running_run(pod_name: str) -> RunState:
    pod_id = Pod.objects.select_for_update().filter(name=pod_name).values_list("pk", flat=True)
    locked = pod_id.first()
    run = None
    if locked is not None:
        run = _read_run(Run.objects.filter(pod_id=locked, ended_at__isnull=True), pod_name)
    if run is None:
        raise NoRunningRun(f"no run is running on pod {pod_name!r}")
    return run


def _locked_run(run_id: int) -> RunState:
    pod_id = Run.objects.filter(pk=run_id).values_list("pod_id", flat=True).first()
    if pod_id is None:
        raise RunNotFound(f"no run has id {run_id}")
    # Lock the pod first, as every other event does, then read the run as it is now.
    pod_name = Pod.objects.select_for_update().values_list("name", flat=True).get(pk=pod_id)
    run = _read_run(Run.objects.filter(pk=run_id), pod_name)
    if run is None:
        raise RunNotFound(f"no run has id {run_id}")
    if run.ended_at is not None:
        raise RunEnded(f"run {run_id} ended at {run.ended_at.isoformat()}")
    return run


def _event_time(run: RunState, at: dt.datetime | None, what: str) -> dt.datetime:
    """The time of an event that changes the running ``run``, checked (:func:`_check_not_before`).

    Without a time given, the event happens now, under the pod's lock; or at the start of the
    run or of its running step if that is later: another client may have stamped them up to five
    minutes ahead, or this process's clock be behind the one that stamped them.
    """
    if at is None:
        return max(timezone.now(), run.started_at, run.step_started_at or run.started_at)
    _check_not_before(run, at, what)
    return at


def _check_not_before(run: RunState, at: dt.datetime, what: str) -> None:
    # A start ends the running run: the run it means is that one, not the run it starts.
    whose, why = (
        ("the running run's", "; a start ends it") if what == "start" else ("the run's", "")
    )
    if at < run.started_at:
        raise EventOutOfOrder(
            f"the {what} at {at.isoformat()} is before {whose} start "
            f"({run.started_at.isoformat()}){why}"
        )
    if run.step_started_at is not None and at < run.step_started_at:
        raise EventOutOfOrder(
            f"the {what} at {at.isoformat()} is before the start of the current step "
            f"{run.step!r} ({run.step_started_at.isoformat()}){why}"
        )


def _end_running_step(run: RunState, at: dt.datetime) -> None:
    if run.step_started_at is not None:
        # "updated" too (update() leaves auto_now fields alone): the writer exports steps changed
        # since its last pass (annotations).
        Step.objects.filter(run_id=run.id, ended_at__isnull=True).update(
            ended_at=at, updated=timezone.now()
        )


# The step event, the one most sent (CI sends a step per test), as one call of the PostgreSQL
# function of migrations events 0004 and 0006: the same statements as below, in one round trip
# and its own transaction, where the ORM's path is six round trips (BEGIN, lock, read, update,
# insert, COMMIT) and builds four statements in Python. Measured side by side
# (docs/benchmarks.md): the ORM path gives 0.40-0.48x the function's step events per second, so
# the function stays as the one measured second path; the API tests run on SQLite too (the ORM
# path), and the service tests run both on PostgreSQL.
STEP_FUNCTION = True
_SET_STEP = "SELECT * FROM events_set_step(%s, %s, %s::timestamptz, %s)"


def _set_step_in_database(pod_name: str, step: str, at: dt.datetime | None) -> RunState:
    with connection.cursor() as cursor:
        cursor.execute(_SET_STEP, [pod_name, step, at, timezone.now()])
        row = cursor.fetchone()
    if row is None:
        raise NoRunningRun(f"no run is running on pod {pod_name!r}")
    run = _run_state(pod_name, row)
    applied, entered_at, repeated = row[_RUN_STATE_WIDTH:]
    if repeated:
        return run
    if not applied:
        _check_not_before(run, entered_at, "step")  # raises, with the ORM path's message
        raise AssertionError("events_set_step refused an event in order")
    return replace(
        run,
        step=step,
        step_started_at=entered_at,
        step_count=run.step_count + 1,
        ended_step=run.step,
    )


def _is_repeated_step(run: RunState, name: str, at: dt.datetime | None) -> bool:
    """The event names the running step and its start: a retry of the event that entered it.

    A client that did not see an answer (a timeout, the server restarting mid-answer) sends the
    event again; entering the step once more would record it twice, the second of length zero
    and ending the first.
    """
    return at is not None and run.step == name and run.step_started_at == at


def _enter_step(run: RunState, name: str, at: dt.datetime | None) -> RunState:
    if _is_repeated_step(run, name, at):
        return run
    at = _event_time(run, at, "step")
    _end_running_step(run, at)
    Step.objects.create(run_id=run.id, name=name, started_at=at)
    return replace(
        run, step=name, step_started_at=at, step_count=run.step_count + 1, ended_step=run.step
    )


def _end(run: RunState, at: dt.datetime) -> RunState:
    """End the running ``run`` and its running step at ``at``."""
    _end_running_step(run, at)
    now = timezone.now()
    Run.objects.filter(pk=run.id).update(ended_at=at, ended_received_at=now, updated=now)
    return replace(run, ended_at=at, step=None, step_started_at=None, ended_step=run.step)


# -- measurements pushed by legacy collectors -----------------------------------------------------


def record_measurements(
    pod_name: str,
    server_name: str,
    samples: Sequence[Sample],
    topology: Mapping[str, str] | None = None,
    *,
    new_pod: dict[str, Any] | None = None,
) -> int:
    """Push ``samples`` of one server: :func:`record_samples` for one server; how many were new.

    A pod created here has the fields ``new_pod`` (its team: the caller checked that its
    credential may create it).

    :raises ValueError: a sample is not of ``pod_name`` and ``server_name``.
    :raises: as :func:`record_samples`.
    """
    if any(s.pod != pod_name or s.server != server_name for s in samples):
        raise ValueError(f"samples of another server than {server_name!r} of {pod_name!r}")
    return record_samples(
        samples,
        {(pod_name, server_name): topology or {}},
        new_pods=None if new_pod is None else {pod_name: new_pod},
    )


def record_samples(
    samples: Sequence[Sample],
    servers: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
    *,
    new_pods: Mapping[str, dict[str, Any]] | None = None,
) -> int:
    """Push samples of any servers to the sample buffer; returns how many were new.

    THE entry point of pushed samples (the legacy measurements API, the native bulk API,
    ``/write``). Every sample is kept, inside a run or not: the writer correlates them with
    runs later. A sample already pushed (same server, sensor and time to the nanosecond, within
    ``ENERGYLAB_PUSH_SEEN_SECONDS``) is not pushed again: a client's retry adds nothing.

    ``servers`` maps (pod, server) to topology fields (some of dc, room, row, rack) to set on
    the server; a server named there is created even without a sample. An unknown server
    becomes a ``push`` server of its pod (created too if unknown, with the fields
    ``new_pods[pod]``: its team; the caller checked, with
    ``energylab.api.permissions.authorize_pod``, that its credential may create it). All or
    nothing: when the buffer refuses, the pods and servers created here are rolled back too.

    What it costs once every server is known to this process (:mod:`events.ingest.directory`):
    no SQL and one round trip to Redis; the last reading of a server is written to its row at
    most every ``ENERGYLAB_POLL_HEALTH_INTERVAL``, as polls write theirs.

    :raises ServerOfAnotherPod: a server exists in another pod: its samples would be tagged
        with a pod it is not in (missing from its own pod's reports, counted in another's) and
        its topology overwritten by whoever names it. Checked in the transaction that creates
        it, so two first pushes of a new server under two pods cannot both pass.
    :raises events.ingest.buffer.BufferUnavailable: Redis does not answer, or the buffer is full.
    """
    named: dict[str, tuple[str, Mapping[str, str]]] = {}
    for s in samples:
        if s.server not in named:
            named[s.server] = (s.pod, {})
    for (pod_name, server_name), topology in (servers or {}).items():
        named[server_name] = (pod_name, topology)
    buffer = SampleBuffer.from_settings()
    seen_seconds = settings.PUSH_SEEN_SECONDS
    for _attempt in range(3):
        if DIRECTORY.version is None:
            DIRECTORY.reset(buffer.directory_version())
        version = DIRECTORY.version
        assert version is not None
        try:
            if _all_known(named, samples):
                added = buffer.push_new(samples, seen_seconds, version)
            else:
                added = _record_with_changes(
                    buffer, named, samples, seen_seconds, version, new_pods
                )
        except StaleDirectory as stale:
            DIRECTORY.reset(str(stale))
            continue
        _write_health(samples)
        return added
    # The directory changed under three pushes in a row: push once against whatever it is.
    DIRECTORY.reset(buffer.directory_version())
    added = _record_with_changes(buffer, named, samples, seen_seconds, "", new_pods)
    _write_health(samples)
    return added


def _all_known(
    named: Mapping[str, tuple[str, Mapping[str, str]]], samples: Sequence[Sample]
) -> bool:
    """Every server named is in this process's directory, in the pod named and with the
    topology given: the push needs nothing of the database."""
    for server_name, (pod_name, topology) in named.items():
        known = DIRECTORY.get(server_name)
        if known is None or known.pod != pod_name or (topology and known.differs(topology)):
            return False
    # Samples name their server's pod; a body naming one server under two pods must not pass.
    return all(named[s.server][0] == s.pod for s in samples)


def _record_with_changes(
    buffer: SampleBuffer,
    named: Mapping[str, tuple[str, Mapping[str, str]]],
    samples: Sequence[Sample],
    seen_seconds: int,
    version: str,
    new_pods: Mapping[str, dict[str, Any]] | None = None,
) -> int:
    """The push when some server is not known as named: create what is missing, set the
    topology given, then push, in one transaction."""
    from collectors.models import BMCType, Server

    for s in samples:
        if named[s.server][0] != s.pod:
            raise ServerOfAnotherPod(
                s.pod,
                f"server {s.server!r} is named under two environments ({named[s.server][0]!r} "
                f"and {s.pod!r}) in one push",
            )
    DIRECTORY.load(named)
    changed_topology = False
    with transaction.atomic():
        pods: dict[str, int] = {}
        for server_name, (pod_name, topology) in named.items():
            known = DIRECTORY.get(server_name)
            if known is not None and known.pod == pod_name and not known.differs(topology):
                continue
            if pod_name not in pods:
                defaults = (new_pods or {}).get(pod_name, {})
                pods[pod_name] = Pod.objects.get_or_create(name=pod_name, defaults=defaults)[0].pk
            server, _ = Server.objects.select_related("pod").get_or_create(
                name=server_name, defaults={"pod_id": pods[pod_name], "bmc_type": BMCType.PUSH}
            )
            if server.pod_id != pods[pod_name]:
                raise ServerOfAnotherPod(
                    server.pod.name,
                    f"server {server_name!r} belongs to pod {server.pod.name!r}, not to "
                    f"environment {pod_name!r}; push it under its own pod's environment, or move "
                    "it to the other pod first (PATCH /api/v1/servers/{id}/ with its new pod, or "
                    "the admin)",
                )
            changed = {
                field: value for field, value in topology.items() if getattr(server, field) != value
            }
            if changed:
                # update() sends no signal: the directory's version is bumped below.
                Server.objects.filter(pk=server.pk).update(**changed)
                changed_topology = True
        # Last, so that a refusal rolls back what this request created.
        added = buffer.push_new(samples, seen_seconds, version) if samples else 0
        if changed_topology:
            transaction.on_commit(buffer.bump_directory_version)
    DIRECTORY.load(named)  # the servers created, for their health (the next push reloads them)
    return added


def _write_health(samples: Sequence[Sample]) -> None:
    """The last power reading of each pushing server on its row, at most every
    ``ENERGYLAB_POLL_HEALTH_INTERVAL`` per server and process (as polls write theirs): the
    readings are in the buffer anyway, and an UPDATE per push was a third of its cost."""
    from collectors.models import Server

    last: dict[str, Sample] = {}
    for s in samples:
        if s.sensor == "power":
            held = last.get(s.server)
            if held is None or s.measured_at_ns > held.measured_at_ns:
                last[s.server] = s
    interval = settings.POLL_HEALTH_INTERVAL
    for name, sample in last.items():
        known = DIRECTORY.get(name)
        if known is None or not DIRECTORY.health_due(known.id, interval):
            continue
        Server.objects.filter(pk=known.id).update(
            last_reading_w=sample.watts,
            last_reading_at=from_ns(sample.measured_at_ns),
            last_source=sample.source,
            last_success_at=timezone.now(),
        )
