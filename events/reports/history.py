"""A scenario's history, from stored reports only (events.reports.stored): energy per run and
per step over time, its spread, and the same scenario on every pod by energy above idle.

Never an InfluxDB read: two queries on the stored figures for a pod's history, however many
runs, and two per pod for the comparison across pods. Runs whose
report is not stored yet (running, settling) are not part of a history.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import QuerySet

from events.models import ReportFigure, Run

TOTAL = ""  # the key of the whole run among step names


@dataclass
class RunEnergy:
    """One stored run of the scenario: its figures in total and per step (J; None: unknown)."""

    run_id: int
    pod: str
    started_at: dt.datetime
    commit: str
    branch: str
    abandoned: bool
    duration_s: float
    energy_j: float | None
    energy_above_idle_j: float | None
    steps: dict[str, float | None] = field(default_factory=dict)
    steps_above_idle: dict[str, float | None] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How a chart names the run: its commit when known, else its id."""
        return self.commit[:8] if self.commit else f"#{self.run_id}"


@dataclass(frozen=True)
class Spread:
    """How a figure varies over runs: count of known values, mean, sample standard deviation
    (n - 1), min, max and coefficient of variation (stdev / mean)."""

    runs: int
    mean: float | None
    stdev: float | None
    low: float | None
    high: float | None
    cv: float | None

    @property
    def cv_pct(self) -> float | None:
        return None if self.cv is None else round(self.cv * 100, 1)

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Spread:
        known = [v for v in values if v is not None and math.isfinite(v)]
        if not known:
            return cls(0, None, None, None, None, None)
        mean = statistics.fmean(known)
        stdev = statistics.stdev(known) if len(known) > 1 else None
        cv = stdev / mean if stdev is not None and mean else None
        return cls(len(known), mean, stdev, min(known), max(known), cv)


def runs_of(runs: QuerySet[Run], limit: int, *, above_idle_only: bool = False) -> list[RunEnergy]:
    """The latest ``limit`` runs of ``runs`` that have a stored report, oldest first, with
    their per-step figures (all servers together)."""
    rows = list(
        runs.filter(stored_report__isnull=False)
        .order_by("-started_at", "-pk")
        .values_list(
            "pk",
            "pod__name",
            "started_at",
            "commit",
            "branch",
            "abandoned",
            "stored_report__duration_s",
            "stored_report__energy_j",
            "stored_report__energy_above_idle_j",
        )[:limit]
    )
    found = {row[0]: RunEnergy(*row) for row in reversed(rows)}
    figures = (
        ReportFigure.objects.filter(report_id__in=list(found), server="", step_index__isnull=False)
        .order_by("report_id", "step_index")
        .values_list("report_id", "step", "energy_j", "energy_above_idle_j")
    )
    for run_id, step, energy_j, above in figures:
        run = found[run_id]
        # A step entered twice in one run counts once, with both parts (unknown if one is).
        if step in run.steps:
            energy_j = _sum(run.steps[step], energy_j)
            above = _sum(run.steps_above_idle[step], above)
        run.steps[step] = energy_j
        run.steps_above_idle[step] = above
    return list(found.values())


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def step_names(runs: Sequence[RunEnergy]) -> list[str]:
    """Every step name of the runs, in the order they first come (run after run)."""
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(run.steps))
    return list(names)


def spreads(runs: Sequence[RunEnergy], steps: Sequence[str]) -> dict[str, Spread]:
    """Spread of the total (key ``TOTAL``) and of each step over the runs."""
    out = {TOTAL: Spread.of(run.energy_j for run in runs)}
    for name in steps:
        out[name] = Spread.of(run.steps.get(name) for run in runs)
    return out


@dataclass(frozen=True)
class PodComparison:
    """The scenario on one pod, by energy above idle: total and per step."""

    pod: str
    runs: int
    total: Spread
    steps: dict[str, Spread]
    energy: Spread


def across_pods(runs: QuerySet[Run], per_pod: int, steps: Sequence[str]) -> list[PodComparison]:
    """The scenario on every pod it ran on: the latest ``per_pod`` stored runs of each, by
    energy above idle (the pods' idle power differs; what the scenario adds is comparable)."""
    pods = runs.filter(stored_report__isnull=False).values_list("pod_id", flat=True).distinct()
    by_pod: dict[str, list[RunEnergy]] = {}
    for pod_id in pods.order_by("pod_id"):
        found = runs_of(runs.filter(pod_id=pod_id), per_pod)
        if found:
            by_pod[found[0].pod] = found
    return [
        PodComparison(
            pod=pod,
            runs=len(found),
            total=Spread.of(r.energy_above_idle_j for r in found),
            steps={name: Spread.of(r.steps_above_idle.get(name) for r in found) for name in steps},
            energy=Spread.of(r.energy_j for r in found),
        )
        for pod, found in sorted(by_pod.items())
    ]
