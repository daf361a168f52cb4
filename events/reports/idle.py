"""A pod's idle power before a run: measured only while no run runs on the pod.

The idle power a report subtracts (``energy_above_idle_j``) must be the pod doing nothing. The
minutes just before a run are often another run's (a CI pipeline runs job after job), so the
report looks back for time with no run of the pod running, from ``ENERGYLAB_IDLE_SETTLE``
seconds after each run's end (fans and caches take a while to settle), and measures the median
power of the latest ``ENERGYLAB_IDLE_WINDOW`` seconds of it, looking back at most
``ENERGYLAB_IDLE_LOOKBACK``. A pod's configured baseline wins over any measurement; with no idle
time or no samples in it, idle is unknown (``null``), never a number made of runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import Q

from events.models import Run
from events.reports.energy import Series

Span = tuple[dt.datetime, dt.datetime]
# Reads the samples of a pod in [start, end] by server (events.reports.report.fetch_samples).
Fetch = Callable[[dt.datetime, dt.datetime], dict[str, Series]]

MIN_IDLE_SAMPLES = 3  # per server: fewer is no median


@dataclass
class Idle:
    """The idle power of a run's pod, and how it was found."""

    watts: float | None
    source: str | None
    per_server: dict[str, float] = field(default_factory=dict)
    sample_count: int | None = None
    duration_s: float | None = None  # idle time measured over
    started_at: dt.datetime | None = None  # first and last moment of it
    ended_at: dt.datetime | None = None
    warning: str | None = None


def busy_spans(run: Run, settle: dt.timedelta, since: dt.datetime) -> list[Span]:
    """When another run of the pod ran (and settled) between ``since`` and the run's start."""
    others = (
        Run.objects.filter(pod_id=run.pod_id, started_at__lt=run.started_at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=since - settle))
        .exclude(pk=run.pk)
        .values_list("started_at", "ended_at")
    )
    return [(a, run.started_at if b is None else b + settle) for a, b in others]


def idle_stretches(
    busy: Iterable[Span], start: dt.datetime, window: dt.timedelta, since: dt.datetime
) -> list[Span]:
    """The latest stretches of [since, start] outside every busy span, latest first, adding
    up to ``window`` at most (the earliest one cut to fit)."""
    free: list[Span] = []
    cursor = start  # everything from cursor on is busy or taken
    wanted = window
    for a, b in sorted(busy, key=lambda span: span[1], reverse=True):
        if b < cursor:
            free.append((max(b, since), cursor))
        cursor = min(cursor, a)
        if cursor <= since:
            break
    if cursor > since:
        free.append((since, cursor))
    taken: list[Span] = []
    for a, b in free:
        if b <= a or wanted <= dt.timedelta(0):
            continue
        a = max(a, b - wanted)
        taken.append((a, b))
        wanted -= b - a
    return taken


def measure_idle(run: Run, servers: Sequence[str], fetch: Fetch, baseline_w: float | None) -> Idle:
    """The run's idle power: the pod's baseline, else the sum over ``servers`` of each one's
    median power in the idle stretches before the run (unknown if one server has none)."""
    settle = dt.timedelta(seconds=settings.IDLE_SETTLE)
    window = dt.timedelta(seconds=settings.IDLE_WINDOW)
    since = run.started_at - dt.timedelta(seconds=settings.IDLE_LOOKBACK)
    stretches = idle_stretches(busy_spans(run, settle, since), run.started_at, window, since)
    values: dict[str, list[np.ndarray]] = {name: [] for name in servers}
    for a, b in stretches:
        for name, series in fetch(a, b).items():
            if name in values:
                lo, hi = np.searchsorted(series.t, [a.timestamp(), b.timestamp()], "left")
                values[name].append(series.w[lo:hi])
    per_server = {
        name: float(np.median(np.concatenate(parts)))
        for name, parts in values.items()
        if parts and sum(len(p) for p in parts) >= MIN_IDLE_SAMPLES
    }
    found = Idle(watts=None, source=None, per_server=per_server)
    if stretches and per_server:
        found.sample_count = sum(len(p) for parts in values.values() for p in parts)
        found.duration_s = sum((b - a).total_seconds() for a, b in stretches)
        found.started_at = min(a for a, _b in stretches)
        found.ended_at = max(b for _a, b in stretches)
    if baseline_w is not None:
        found.watts, found.source = baseline_w, "pod baseline"
    elif servers and len(per_server) == len(servers):
        found.watts = sum(per_server.values())
        found.source = "median while no run ran on the pod"
    elif not stretches:
        found.warning = (
            "idle power unknown: another run of the pod ran throughout the "
            f"{settings.IDLE_LOOKBACK:g} s before this run (a pod baseline would do)"
        )
    else:
        missing = sorted(set(servers) - set(per_server))
        found.warning = "idle power unknown: no samples while the pod was idle before the run" + (
            f" for {', '.join(missing)}" if missing and per_server else ""
        )
    return found
